"""Which email addresses belong to the organisation (SPEC "Internal")."""

from odoo.tools import email_normalize


def domain_of(email):
    """Lower-case domain of an address, or "" when it is not a valid address."""
    normalized = email_normalize(email or "")
    return normalized.rpartition("@")[2] if normalized else ""


def parse_domains(text):
    """Split a comma/space separated list into unique lower-case domains, in order."""
    seen = []
    for raw in (text or "").replace(";", ",").replace(" ", ",").split(","):
        domain = raw.strip().lower().lstrip("@")
        if domain and domain not in seen:
            seen.append(domain)
    return seen


def is_internal(email, org_domains):
    return domain_of(email) in org_domains
