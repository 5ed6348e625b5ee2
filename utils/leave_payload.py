"""Graph event JSON for a leave request (SPEC C1): plain values in, payload out."""

from datetime import timedelta
from html import escape


def leave_subject(leave_type, description):
    """``<leave type>: <description>``, or the type alone when there is no description."""
    description = (description or "").strip()
    return f"{leave_type}: {description}" if description else leave_type


def leave_event_payload(*, subject, url, whole_days, first_day, last_day, start_utc, end_utc, time_zone):
    """The event for a leave.

    Whole-day leaves are all-day events from the first day to the day after the
    last (Graph's end is exclusive) at midnight in the employee's time zone;
    half days and hours keep their exact UTC times. Shown as Out of Office.
    """
    if whole_days:
        start = {"dateTime": f"{first_day.isoformat()}T00:00:00", "timeZone": time_zone}
        end = {"dateTime": f"{(last_day + timedelta(days=1)).isoformat()}T00:00:00", "timeZone": time_zone}
    else:
        start = {"dateTime": start_utc.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}
        end = {"dateTime": end_utc.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}
    return {
        "subject": subject,
        "body": {"contentType": "html", "content": f'<p><a href="{escape(url, quote=True)}">Open time off</a></p>'},
        "start": start,
        "end": end,
        "isAllDay": whole_days,
        "showAs": "oof",
        "isReminderOn": False,
    }
