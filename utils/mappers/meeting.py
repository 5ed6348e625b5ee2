"""Meetings <-> Outlook events (SPEC A10-A15 pushed from Odoo, B2-B10 logged from Outlook, E5, S3).

Push: ``meeting_event`` (the whole event), ``meeting_attendees_change`` (attendees
alone, A14) and ``outlook_meeting_changes`` (what Odoo may change on a meeting logged
from Outlook, B10). Pull: the rules of which Outlook events become logged meetings
(``decide``, with ``is_removed``, ``is_cancelled``, ``participants``, ``page_addresses``
and the skip reasons, ``STICKY_REASONS`` among them: B2-B7, S3), ``meeting_values`` for
a meeting logged from Outlook (B8), ``pushed_meeting_changes`` for an Outlook edit of a
meeting Odoo pushed (A12), and ``attendee_responses`` for the answers attendees gave
(A15).

Plain Python over Graph event JSON (as returned by calendarView delta): no ORM. The pull
job gathers what the rules need (organisation domains, the sync start, the category
filter, the contacts matching a page's addresses) and asks ``decide`` for each event
that has no Odoo record yet.

Times come from Graph in UTC (the pull asks for ``Prefer: outlook.timezone="UTC"``);
all-day events are read as dates in the mailbox's time zone (GRAPH_FACTS §1.3).
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html import escape

from ..email_domains import is_internal
from ..graph_event import GraphEvent, zone
from ..translation import _lt, in_lang
from .common import clean_html, graph_day, graph_time

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


# -- from Graph: which Outlook events become logged meetings (B2-B7, S3) ---------------------


# Skip reasons, also used as the stored reason of a sticky exclusion (B4).
SKIP_REMOVED = "removed"
SKIP_CANCELLED = "cancelled"
SKIP_RECURRING = "recurring"
SKIP_BEFORE_START = "before_sync_start"
SKIP_PRIVATE = "private"
SKIP_INTERNAL = "internal_only"
SKIP_NO_CONTACT = "no_matching_contact"
SKIP_CATEGORY = "category"

# Only a skip for one of these reasons survives later edits of the event (B4:
# "private made non-private later: still not logged"). A category or a missing
# contact may change later and the event then gets logged (B7).
STICKY_REASONS = frozenset({SKIP_PRIVATE})

PRIVATE_SENSITIVITIES = frozenset({"private"})


@dataclass(frozen=True)
class Participants:
    """Normalised addresses of an event's organiser and attendees."""

    organizer: str
    attendees: tuple
    internal: tuple
    external: tuple

    @property
    def all(self):
        return tuple(dict.fromkeys(a for a in (self.organizer, *self.attendees) if a))


def participants(event, org_domains):
    """Organiser and attendees of an event, split into internal and external (B3)."""
    outlook = GraphEvent(event)
    organizer, attendees = outlook.organizer, outlook.attendees
    everyone = tuple(dict.fromkeys(a for a in (organizer, *attendees) if a))
    internal = tuple(a for a in everyone if is_internal(a, org_domains))
    external = tuple(a for a in everyone if not is_internal(a, org_domains))
    return Participants(organizer, attendees, internal, external)


def is_removed(event):
    """A delta tombstone: the event was deleted or left the window."""
    return GraphEvent(event).is_removed


def is_cancelled(event):
    return GraphEvent(event).is_cancelled


def is_recurring(event):
    """Series masters, occurrences and exceptions are not synced (B5)."""
    return GraphEvent(event).is_recurring


def is_private(event):
    return GraphEvent(event).sensitivity in PRIVATE_SENSITIVITIES


def created_before(event, moment):
    """True when the event was created before ``moment`` (naive UTC): S3 keeps it out."""
    if not moment:
        return False
    created = GraphEvent(event).created_at
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    # Odoo stores datetimes to the second; an event made in the same second counts as after.
    return created is not None and created < moment.replace(microsecond=0)


def category_allowed(categories, mode, names):
    """B7: 'include' lets only the listed categories in, 'exclude' keeps them out (case-insensitive)."""
    if mode == "all" or not names:
        return True
    wanted = {n.strip().casefold() for n in names if n and n.strip()}
    present = {c.strip().casefold() for c in categories or () if c}
    if mode == "include":
        return bool(wanted & present)
    return not (wanted & present)


def decide(event, *, sync_started_at, org_domains, category_filter, known_contacts):
    """Whether an event without an Odoo record is logged: (True, None) or (False, reason).

    ``category_filter`` is ``(mode, names)`` from the account; ``known_contacts``
    is the set of normalised addresses that match an Odoo contact (looked up once
    per delta page by the caller).
    """
    if is_removed(event):
        return False, SKIP_REMOVED
    if is_cancelled(event):
        return False, SKIP_CANCELLED
    if is_recurring(event):
        return False, SKIP_RECURRING
    if created_before(event, sync_started_at):
        return False, SKIP_BEFORE_START
    if is_private(event):
        return False, SKIP_PRIVATE
    people = participants(event, org_domains)
    if not people.external:
        return False, SKIP_INTERNAL
    if not any(address in known_contacts for address in people.external):
        return False, SKIP_NO_CONTACT
    mode, names = category_filter
    if not category_allowed(event.get("categories"), mode, names):
        return False, SKIP_CATEGORY
    return True, None


def page_addresses(events, org_domains):
    """Every participant address of a page's live events, for one contact query per page (B2)."""
    found = {}
    for event in events:
        if not is_removed(event):
            for address in participants(event, org_domains).all:
                found[address] = True
    return list(found)


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


def description_html(event):
    """The invitation body, sanitised (B8): no scripts, styles or Outlook's <html> wrapper."""
    return GraphEvent(event).description_html


def location_text(event):
    """The event's place (B8, A12)."""
    return GraphEvent(event).location


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


def attendee_addresses(event):
    """The attendees' normalised addresses, as a set (A12: who was added in Outlook)."""
    return set(GraphEvent(event).attendees)


def attendee_answers(event):
    """{normalised address: Graph response} from the organiser's copy (A15)."""
    return GraphEvent(event).attendee_answers


def online_meeting_url(event):
    """The join link of a Teams meeting in a Graph event, or "" (A14)."""
    return GraphEvent(event).online_meeting_url
