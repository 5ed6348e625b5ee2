"""Who a meeting's addresses are in Odoo (SPEC B2): one query for a whole page of Outlook
events. Used by the pull (engine/pull_pages.py) and by a logged meeting that applies one
Outlook change on its own (models/calendar_event_outlook.py)."""

from odoo.tools import SQL

from .email_domains import is_internal
from .mappers.meeting import Directory


def contact_directory(env, addresses):
    """Contacts and internal users for a page's addresses, in ONE query (B2).

    A contact is a partner with that normalised email and no internal user; an
    internal user is matched through their partner. Lowest id wins on duplicates,
    individuals before companies.
    """
    directory = Directory()
    if not addresses:
        return directory
    # Odoo stores ASCII addresses lower-cased (an indexed equality is enough); a
    # non-ASCII local part keeps its case there, so those compare lower-cased.
    ascii_only = [a for a in addresses if a.isascii()]
    non_ascii = [a for a in addresses if not a.isascii()]
    match = SQL("p.email_normalized = ANY(%s)", ascii_only)
    if non_ascii:
        match = SQL("(%s OR lower(p.email_normalized) = ANY(%s))", match, non_ascii)
    env.cr.execute(
        SQL(
            """SELECT p.id, lower(p.email_normalized), p.is_company, c.id, c.is_company, u.id
                 FROM res_partner p
                 JOIN res_partner c ON c.id = COALESCE(p.commercial_partner_id, p.id)
            LEFT JOIN res_users u ON u.partner_id = p.id AND u.active AND NOT u.share
                WHERE p.active AND %s
             ORDER BY p.is_company, p.id""",
            match,
        )
    )
    org_domains = env["o365.config"].org_domains()
    for partner_id, email, _is_company, company_id, company_is_company, user_id in env.cr.fetchall():
        if user_id:
            directory.users.setdefault(email, (user_id, partner_id))
        elif not is_internal(email, org_domains):
            directory.contacts.setdefault(email, partner_id)
            directory.companies[partner_id] = company_id if company_is_company else None
    return directory
