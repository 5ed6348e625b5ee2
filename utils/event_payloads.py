"""Odoo records as Graph event JSON, and Graph times back as Odoo datetimes.

Plain Python: callers pass plain values (strings, naive-UTC datetimes), so the
mapping is testable without a database. The only Odoo import is the HTML
sanitiser, because notes and descriptions are user HTML that must never reach
a mailbox with scripts or Odoo-internal markup (SPEC A3).
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from odoo.tools import html_sanitize, is_html_empty

# Odoo's editor markup (data-oe-id, data-oe-model, ...): meaningless, and internal, in a mailbox.
_ODOO_ATTRIBUTES = re.compile(r"""\sdata-oe-[\w-]*=("[^"]*"|'[^']*')""")
# Subject prefixes of activity events (SPEC A2): the kind, not the type's own name,
# so "To-Do" or a custom type still reads as a task in the calendar.
KIND_LABELS = {"phonecall": "Phone Call", "task": "Task"}
MEETING_PREFIX = "Meeting"


@dataclass
class Contact:
    """What the body shows about the activity's contact (SPEC A3)."""

    name: str = ""
    company: str = ""
    phone: str = ""
    email: str = ""


@dataclass
class Attendee:
    name: str
    email: str
    optional: bool = False


@dataclass
class MeetingData:
    subject: str
    start: datetime  # naive UTC, or the first day (00:00) when all_day
    end: datetime  # naive UTC, or the last day (00:00, inclusive) when all_day
    all_day: bool = False
    location: str = ""
    description_html: str = ""
    attendees: list = field(default_factory=list)
    open_url: str = ""  # the meeting in Odoo, linked from the event body (A14)
    online: bool = False  # a Teams meeting (A14)


def clean_html(value):
    """Notes as safe HTML: no scripts, no Odoo data-oe-* attributes, no styles."""
    if not value or is_html_empty(value):
        return ""
    clean = html_sanitize(value, strip_style=True, strip_classes=True, sanitize_attributes=True)
    return _ODOO_ATTRIBUTES.sub("", clean)


def graph_time(moment):
    """A naive-UTC datetime as Graph's dateTimeTimeZone in UTC."""
    return {"dateTime": moment.replace(microsecond=0).isoformat(), "timeZone": "UTC"}


def graph_day(day):
    """An all-day bound: midnight, in one zone, as Graph requires (facts §1.3)."""
    if isinstance(day, datetime):
        day = day.date()
    return {"dateTime": f"{day.isoformat()}T00:00:00", "timeZone": "UTC"}


def activity_subject(kind, summary):
    """`Task: Create a quote`, `Phone Call: Follow up on offer` (SPEC A2)."""
    return f"{KIND_LABELS[kind]}: {summary}".strip()


def activity_body(open_url, contact, notes_html):
    """The event body (SPEC A3): link back, contact details, sanitised notes."""
    lines = [f'<p><a href="{escape(open_url, quote=True)}">Open activity</a></p>']
    rows = [
        ("Contact", contact.name),
        ("Company", contact.company),
        ("Phone", contact.phone),
        ("Email", contact.email),
    ]
    details = "".join(f"{label}: {escape(value)}<br/>" for label, value in rows if value)
    if details:
        lines.append(f"<p>{details}</p>")
    notes = clean_html(notes_html)
    if notes:
        lines.append(f"<div>{notes}</div>")
    return "".join(lines)


def activity_event(kind, summary, start, end, open_url, contact, notes_html):
    """Graph JSON for a phone call or task activity (SPEC A1-A3)."""
    return {
        "subject": activity_subject(kind, summary),
        "body": {"contentType": "html", "content": activity_body(open_url, contact, notes_html)},
        "start": graph_time(start),
        "end": graph_time(end),
        "isAllDay": False,
        "showAs": "busy",
    }


def meeting_body(description_html, open_url):
    """The meeting's description, then a link back to it in Odoo (A14)."""
    parts = []
    description = clean_html(description_html)
    if description:
        parts.append(f"<div>{description}</div>")
    if open_url:
        parts.append(f'<p><a href="{escape(open_url, quote=True)}">Open in Odoo</a></p>')
    return "".join(parts)


def meeting_attendees(attendees):
    return [
        {
            "emailAddress": {"address": a.email, "name": a.name or a.email},
            "type": "optional" if a.optional else "required",
        }
        for a in attendees
        if a.email
    ]


def meeting_event(meeting):
    """Graph JSON for a meeting with its attendees; Graph sends the invitations (SPEC A10, A11, A14)."""
    if meeting.all_day:
        start, end = graph_day(meeting.start), graph_day(meeting.end.date() + timedelta(days=1))
    else:
        start, end = graph_time(meeting.start), graph_time(meeting.end)
    event = {
        "subject": meeting.subject,
        "body": {"contentType": "html", "content": meeting_body(meeting.description_html, meeting.open_url)},
        "start": start,
        "end": end,
        "isAllDay": bool(meeting.all_day),
        "location": {"displayName": meeting.location or ""},
        "attendees": meeting_attendees(meeting.attendees),
    }
    if meeting.online:
        event.update({"isOnlineMeeting": True, "onlineMeetingProvider": "teamsForBusiness"})
    return event


def meeting_attendees_change(meeting):
    """A PATCH of the attendees alone: Graph then mails only those added or removed (facts 1.4)."""
    return {"attendees": meeting_attendees(meeting.attendees)}


def outlook_meeting_changes(subject, location):
    """What Odoo may change on a meeting logged from Outlook (A10, B10): never its time,
    time zone, attendees or body."""
    return {"subject": subject, "location": {"displayName": location or ""}}


def online_meeting_url(event):
    """The join link of a Teams meeting in a Graph event, or "" (A14)."""
    online = event.get("onlineMeeting") or {}
    return (online.get("joinUrl") if isinstance(online, dict) else None) or event.get("onlineMeetingUrl") or ""


def attendee_answers(event):
    """{normalised address: Graph response} of the answers attendees gave (A15).

    The organiser's copy carries every attendee's ``status``; an attendee's own copy
    carries their answer in ``responseStatus``, for the mailbox owner (``owner``).
    """
    answers = {}
    for attendee in event.get("attendees") or []:
        address = ((attendee.get("emailAddress") or {}).get("address") or "").strip().lower()
        response = (attendee.get("status") or {}).get("response")
        if address and response:
            answers[address] = response
    return answers


def meeting_subject(subject, company_name):
    """`Meeting: <subject> - <company name>` (SPEC A10); no dangling dash without a company."""
    text = f"{MEETING_PREFIX}: {subject}"
    return f"{text} - {company_name}" if company_name else text


# -- reading Graph's answers --------------------------------------------------------------


def _zone(name):
    if not name or name.upper() in ("UTC", "Z", "COORDINATED UNIVERSAL TIME", "GMT STANDARD TIME"):
        # Windows "GMT Standard Time" is London; Graph answers in UTC unless asked otherwise.
        return ZoneInfo("Europe/London") if name and name.upper() == "GMT STANDARD TIME" else UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def parse_graph_time(value):
    """Graph's dateTimeTimeZone as a naive-UTC datetime (what Odoo stores); None if unusable."""
    if not value or not value.get("dateTime"):
        return None
    text = value["dateTime"].rstrip("Z")
    main, _dot, fraction = text.partition(".")
    moment = datetime.fromisoformat(main)
    if fraction:
        moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    zone = _zone(value.get("timeZone"))
    if zone is None:
        raise ValueError(f"unknown time zone {value.get('timeZone')!r} in a Graph answer")
    return moment.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None, microsecond=0)


def parse_graph_day(value):
    """The date of an all-day bound (Graph renders them midnight-to-midnight)."""
    return date.fromisoformat(value["dateTime"][:10])


def event_attendee_emails(event):
    """Lower-cased attendee addresses of a Graph event."""
    return {
        (a.get("emailAddress") or {}).get("address", "").strip().lower()
        for a in event.get("attendees") or []
        if (a.get("emailAddress") or {}).get("address")
    }


def event_location(event):
    return ((event.get("location") or {}).get("displayName") or "").strip()
