"""Meetings <-> Outlook events, the values each side keeps (SPEC A10-A15 from Odoo, B6-B10 from Outlook, E5).

Push: ``meeting_event`` (the whole event), ``meeting_attendees_change`` (attendees
alone, A14), ``outlook_meeting_changes`` and ``logged_meeting_changes`` (what Odoo may
change on a meeting logged from Outlook, B10). Pull: ``meeting_values`` for a meeting
logged from Outlook (B8), ``pushed_meeting_changes`` for an Outlook edit of a meeting Odoo
pushed (A12), and ``attendee_responses`` for the answers attendees gave (A15). Which
Outlook events become logged meetings at all (B2-B7, S3) is ``meeting_policy.py``.

Plain Python over Graph event JSON (as returned by calendarView delta): no ORM.

Times come from Graph in UTC (the pull asks for ``Prefer: outlook.timezone="UTC"``);
all-day events are read as dates in the mailbox's time zone (GRAPH_FACTS §1.3).
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html import escape

from ..graph_event import GraphEvent, zone
from ..translation import _lt, in_lang
from .common import clean_html, graph_day, graph_time

# ``participants`` serves meeting_values; the other names are the pull's rules, which
# engine/pull_pages.py and models/calendar_event.py still import from here.
from .meeting_policy import (  # noqa: F401
    STICKY_REASONS,
    decide,
    is_cancelled,
    is_removed,
    page_addresses,
    participants,
)

MEETING_PREFIX = _lt("Meeting")


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
    lang: str = ""  # the organiser's language, for the words the body adds


# -- to Graph --------------------------------------------------------------------------------


def meeting_subject(subject, company_name, lang=None):
    """`Meeting: <subject> - <company name>` (SPEC A10); no dangling dash without a company.
    In the organiser's language ``lang`` (French: `Réunion : <subject> - <company name>`)."""
    text = in_lang(_lt("%(kind)s: %(summary)s", kind=MEETING_PREFIX, summary=subject), lang)
    return f"{text} - {company_name}" if company_name else text


def meeting_body(description_html, open_url, lang=None):
    """The meeting's description, then a link back to it in Odoo (A14)."""
    parts = []
    description = clean_html(description_html)
    if description:
        parts.append(f"<div>{description}</div>")
    if open_url:
        label = escape(in_lang(_lt("Open in Odoo"), lang), quote=False)
        parts.append(f'<p><a href="{escape(open_url, quote=True)}">{label}</a></p>')
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
        "body": {
            "contentType": "html",
            "content": meeting_body(meeting.description_html, meeting.open_url, meeting.lang),
        },
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
    """A PATCH of the attendees alone: Graph then mails only those added or removed (GRAPH_FACTS §1.4)."""
    return {"attendees": meeting_attendees(meeting.attendees)}


def outlook_meeting_changes(subject, location):
    """What Odoo may change on a meeting logged from Outlook (A10, B10): never its time,
    time zone, attendees or body."""
    return {"subject": subject, "location": {"displayName": location or ""}}


def logged_meeting_changes(groups, *, subject, location, description_html, start, end, all_day, time_zone, attendees):
    """B10: what Odoo's edits change on a meeting logged from its organiser's own Outlook.

    Only the groups edited since Outlook's version ("subject", "location", "body", "times",
    "attendees"), so that Outlook mails attendees about what changed and nothing else
    (GRAPH_FACTS §1.4, as A11 and A14). Times are sent in the mailbox's own zone, so the event
    keeps its time zone (E5; a time sent in UTC would re-zone it). ``attendees``: Graph JSON,
    Outlook's list with Odoo's additions and removals."""
    changes = {}
    if "subject" in groups:
        changes["subject"] = subject
    if "location" in groups:
        changes["location"] = {"displayName": location or ""}
    if "body" in groups:
        changes["body"] = {"contentType": "html", "content": clean_html(description_html)}
    if "times" in groups:
        zone_name = time_zone if time_zone and zone(time_zone) else "UTC"
        if all_day:
            changes["start"] = graph_day(start, zone_name)
            changes["end"] = graph_day(end.date() + timedelta(days=1), zone_name)
        else:
            local = zone(zone_name)
            for key, moment in (("start", start), ("end", end)):
                wall = moment.replace(tzinfo=UTC).astimezone(local).replace(tzinfo=None, microsecond=0)
                changes[key] = {"dateTime": wall.isoformat(), "timeZone": zone_name}
        changes["isAllDay"] = bool(all_day)
    if "attendees" in groups:
        changes["attendees"] = list(attendees)
    return changes


# -- from Graph: a meeting logged from Outlook (B6, B8) --------------------------------------


@dataclass(frozen=True)
class Times:
    start: datetime
    stop: datetime
    allday: bool
    start_date: date = None
    stop_date: date = None  # inclusive last day, as Odoo keeps it


def event_times(event, mailbox_zone):
    """Start and stop for Odoo (B6, E5): UTC datetimes, or inclusive dates for all-day events."""
    outlook = GraphEvent(event)
    if outlook.is_all_day:
        first, last = outlook.all_day_dates(mailbox_zone)
        return Times(
            start=datetime.combine(first, datetime.min.time()),
            stop=datetime.combine(last, datetime.min.time()),
            allday=True,
            start_date=first,
            stop_date=last,
        )
    start, stop = outlook.start, outlook.end
    return Times(start=start, stop=max(stop, start), allday=False)


@dataclass
class Directory:
    """What Odoo knows about a page's addresses, looked up in one query by the caller.

    ``contacts``: address -> contact partner id (external people).
    ``users``: address -> (user id, partner id) for internal Odoo users.
    ``companies``: contact partner id -> its company partner id (or None).
    """

    contacts: dict = field(default_factory=dict)
    users: dict = field(default_factory=dict)
    companies: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MeetingValues:
    name: str
    times: Times
    location: str
    description: str
    organizer_user_id: int
    user_ids: tuple  # internal Odoo users taking part (organiser first)
    partner_ids: tuple  # internal users' partners, then matching contacts
    contact_ids: tuple  # matching contacts only (their timelines get the meeting)
    company_id: int  # the contacts' common company, or None
    videocall_url: str = ""  # the Teams join link, "" when none (issue 23: colleagues join from Odoo)


def meeting_values(event, *, mailbox_zone, owner_user_id, org_domains, directory, lang=None):
    """Everything the logged meeting shows (B8).

    user: the organiser when they are an Odoo user, else the connected user whose
    mailbox holds the event (invited, B9). Company: set only when every matching
    contact belongs to the same company.
    """
    outlook = GraphEvent(event)
    people = participants(event, org_domains)
    organizer = directory.users.get(people.organizer)
    organizer_user_id = organizer[0] if organizer else owner_user_id
    internal = [directory.users[a] for a in people.all if a in directory.users]
    user_ids = tuple(dict.fromkeys([organizer_user_id, *(u for u, _p in internal)]))
    contact_ids = tuple(dict.fromkeys(directory.contacts[a] for a in people.external if a in directory.contacts))
    partner_ids = tuple(dict.fromkeys([*(p for _u, p in internal), *contact_ids]))
    companies = {directory.companies.get(c) for c in contact_ids}
    company_id = companies.pop() if len(companies) == 1 else None
    return MeetingValues(
        name=outlook.subject or in_lang(_lt("(no subject)"), lang),
        times=event_times(event, mailbox_zone),
        location=outlook.location,
        description=outlook.description_html,
        organizer_user_id=organizer_user_id,
        user_ids=user_ids,
        partner_ids=partner_ids,
        contact_ids=contact_ids,
        company_id=company_id,
        videocall_url=outlook.online_meeting_url,
    )


# -- from Graph: a meeting Odoo pushed, edited in Outlook (A12, A14, A15) --------------------


def pushed_meeting_changes(event, meeting, known_addresses):
    """(values, added addresses): what an Outlook edit changes on a meeting Odoo pushed (A12).

    Start, end, location, the Teams link and added attendees flow back; subject and notes
    do not. ``meeting`` is read as plain attributes (allday, start, stop, start_date,
    stop_date, location, videocall_location); ``known_addresses`` are its attendees'
    normalised addresses. The caller turns added addresses into contacts (never new ones).
    """
    outlook = GraphEvent(event)
    values = {}
    if outlook.is_all_day:
        first, last = outlook.all_day_dates()
        if not meeting.allday or meeting.start_date != first or meeting.stop_date != last:
            values.update({"allday": True, "start_date": first, "stop_date": last})
    else:
        start, stop = outlook.start, outlook.end
        if start and stop and (meeting.allday or start != meeting.start or stop != meeting.stop):
            values.update({"allday": False, "start": start, "stop": stop})
    if outlook.has_location and outlook.location != (meeting.location or ""):
        values["location"] = outlook.location
    url = outlook.online_meeting_url
    if url and url != meeting.videocall_location:
        values["videocall_location"] = url
    added = set(outlook.attendees) - set(known_addresses) - {False, ""}
    return values, added


def attendee_responses(event, mailbox_address):
    """{normalised address: Graph response} for a meeting's attendees (A15).

    The organiser's copy carries everyone's answer; an attendee's own copy carries
    the mailbox owner's (``mailbox_address``) answer only.
    """
    outlook = GraphEvent(event)
    answers = outlook.attendee_answers
    if outlook.own_answer and not outlook.is_organizer and mailbox_address:
        answers[mailbox_address.lower()] = outlook.own_answer
    if outlook.organizer:
        # The organiser attends their own meeting: never "Needs Action" (issue 23).
        answers.setdefault(outlook.organizer, "accepted")
    return answers


def online_meeting_url(event):
    """The join link of a Teams meeting in a Graph event, or "" (A14)."""
    return GraphEvent(event).online_meeting_url
