"""Which email addresses belong to the organisation (SPEC "Internal", B3).

One rule, used everywhere an address is sorted into colleague or customer: an
address is internal when its domain is an organisation domain or a subdomain of
one (pat@uk.contoso.example is a colleague when contoso.example is configured).
"""

from odoo.tools import email_normalize


def domain_of(email):
    """Lower-case domain of an address, or "" when it is not a valid address."""
    normalized = email_normalize(email or "")
    return normalized.rpartition("@")[2].lower() if normalized else ""


def parse_domains(text):
    """Split a comma/space separated list into unique lower-case domains, in order."""
    seen = []
    for raw in (text or "").replace(";", ",").replace(" ", ",").split(","):
        domain = raw.strip().lower().lstrip("@").rstrip(".")
        if domain and domain not in seen:
            seen.append(domain)
    return seen


def is_internal_domain(domain, org_domains):
    """True when ``domain`` is one of ``org_domains`` or a subdomain of one (B3)."""
    domain = (domain or "").strip().lower().rstrip(".")
    if not domain:
        return False
    return any(domain == org or domain.endswith("." + org) for org in org_domains or () if org)


def is_internal(email, org_domains):
    """True when the address belongs to the organisation (B3): the one place that decides it."""
    return is_internal_domain(domain_of(email), org_domains)
