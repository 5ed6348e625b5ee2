"""What every mapper writes the same way: Graph times and safe HTML (SPEC A3, GRAPH_FACTS §1.3)."""

import re
from datetime import datetime

from odoo.tools import html_sanitize, is_html_empty

# Odoo's editor markup (data-oe-id, data-oe-model, ...): meaningless, and internal, in a mailbox.
_ODOO_ATTRIBUTES = re.compile(r"""\sdata-oe-[\w-]*=("[^"]*"|'[^']*')""")


def clean_html(value):
    """Notes as safe HTML: no scripts, no Odoo data-oe-* attributes, no styles."""
    if not value or is_html_empty(value):
        return ""
    clean = html_sanitize(value, strip_style=True, strip_classes=True, sanitize_attributes=True)
    return _ODOO_ATTRIBUTES.sub("", clean)


def graph_time(moment):
    """A naive-UTC datetime as Graph's dateTimeTimeZone in UTC."""
    return {"dateTime": moment.replace(microsecond=0).isoformat(), "timeZone": "UTC"}


def graph_day(day, time_zone="UTC"):
    """An all-day bound: midnight, in one zone, as Graph requires (GRAPH_FACTS §1.3)."""
    if isinstance(day, datetime):
        day = day.date()
    return {"dateTime": f"{day.isoformat()}T00:00:00", "timeZone": time_zone}
