"""Leave requests -> Outlook events (SPEC C1); nothing flows back from Outlook for leaves."""

from datetime import timedelta
from html import escape

from ..translation import _lt, in_lang
from .common import graph_day, graph_time


def leave_subject(leave_type, description, lang=None):
    """``<leave type>: <description>``, or the type alone when there is no description
    (in language ``lang``: French puts a space before the colon)."""
    description = (description or "").strip()
    if not description:
        return leave_type
    return in_lang(_lt("%(kind)s: %(summary)s", kind=leave_type, summary=description), lang)


def leave_event_payload(*, subject, url, whole_days, first_day, last_day, start_utc, end_utc, time_zone, lang=None):
    """The event for a leave.

    Whole-day leaves are all-day events from the first day to the day after the
    last (Graph's end is exclusive) at midnight in the employee's time zone;
    half days and hours keep their exact UTC times. Shown as Out of Office.
    """
    if whole_days:
        start, end = graph_day(first_day, time_zone), graph_day(last_day + timedelta(days=1), time_zone)
    else:
        start, end = graph_time(start_utc), graph_time(end_utc)
    label = escape(in_lang(_lt("Open time off"), lang), quote=False)
    return {
        "subject": subject,
        "body": {"contentType": "html", "content": f'<p><a href="{escape(url, quote=True)}">{label}</a></p>'},
        "start": start,
        "end": end,
        "isAllDay": whole_days,
        "showAs": "oof",
        "isReminderOn": False,
    }
