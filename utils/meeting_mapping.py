"""Graph event JSON -> the values of a logged Odoo meeting (SPEC B6, B8, B10, E5).

Plain Python: the caller passes what it looked up in Odoo (contacts and internal
users by normalised address) and gets plain values back; the model turns them into
ORM commands. Times come from Graph in UTC (the pull asks for
``Prefer: outlook.timezone="UTC"``); all-day events are read as dates in the
mailbox's time zone (facts §1.3: Graph renders them midnight to midnight).
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from odoo.tools import html_sanitize

from .event_filters import participants

# Windows zone names Graph may report for a mailbox or an event (CLDR windowsZones,
# territory 001); IANA names are used as they are.
WINDOWS_ZONES = {
    "UTC": "UTC",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris",
    "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw",
    "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev",
    "GTB Standard Time": "Europe/Bucharest",
    "Russian Standard Time": "Europe/Moscow",
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "Pacific Standard Time": "America/Los_Angeles",
    "US Mountain Standard Time": "America/Phoenix",
    "Alaskan Standard Time": "America/Anchorage",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "E. South America Standard Time": "America/Sao_Paulo",
    "India Standard Time": "Asia/Kolkata",
    "China Standard Time": "Asia/Shanghai",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Singapore Standard Time": "Asia/Singapore",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "New Zealand Standard Time": "Pacific/Auckland",
    "Arabian Standard Time": "Asia/Dubai",
    "South Africa Standard Time": "Africa/Johannesburg",
}


def zone(name):
    """ZoneInfo for a Windows or IANA zone name; UTC when empty or unknown."""
    name = (name or "UTC").strip()
    try:
        return ZoneInfo(WINDOWS_ZONES.get(name, name))
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _parse_local(value):
    """Graph's dateTime text ("2024-03-31T09:00:00.0000000") as a naive datetime."""
    text = (value or "").strip().rstrip("Z")
    main, _, fraction = text.partition(".")
    moment = datetime.strptime(main[:19], "%Y-%m-%dT%H:%M:%S")
    if fraction[:6].isdigit():
        moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    return moment


def to_utc(date_time_zone):
    """A Graph dateTimeTimeZone as a naive UTC datetime (what Odoo stores)."""
    local = _parse_local(date_time_zone["dateTime"])
    aware = local.replace(tzinfo=zone(date_time_zone.get("timeZone")))
    return aware.astimezone(UTC).replace(tzinfo=None)


def _all_day_date(date_time_zone, mailbox_zone):
    """The calendar date of an all-day bound, in the mailbox's zone.

    Graph sends all-day bounds as midnights and they are dates whatever the zone
    label says; a bound that is not a midnight (a client that converted it) is
    brought back to the mailbox's zone and rounded to the nearest midnight.
    """
    local = _parse_local(date_time_zone["dateTime"])
    if local.time() == datetime.min.time():
        return local.date()
    aware = local.replace(tzinfo=zone(date_time_zone.get("timeZone"))).astimezone(zone(mailbox_zone))
    return (aware + timedelta(hours=12)).date()


def unreadable(event):
    """Why an event's start or end cannot be read (for the log line), or None when both can."""
    for bound in ("start", "end"):
        value = event.get(bound)
        text = value.get("dateTime") if isinstance(value, dict) else None
        if not isinstance(text, str):
            return f"it has no {bound}"
        try:
            _parse_local(text)
        except ValueError:
            return f"its {bound} {text[:40]!r} is not a date and time"
    return None


@dataclass(frozen=True)
class Times:
    start: datetime
    stop: datetime
    allday: bool
    start_date: date = None
    stop_date: date = None  # inclusive last day, as Odoo keeps it


def event_times(event, mailbox_zone):
    """Start and stop for Odoo (B6, E5): UTC datetimes, or inclusive dates for all-day events."""
    if event.get("isAllDay"):
        first = _all_day_date(event["start"], mailbox_zone)
        end = _all_day_date(event["end"], mailbox_zone)  # exclusive in Graph
        last = max(first, end - timedelta(days=1))
        return Times(
            start=datetime.combine(first, datetime.min.time()),
            stop=datetime.combine(last, datetime.min.time()),
            allday=True,
            start_date=first,
            stop_date=last,
        )
    start, stop = to_utc(event["start"]), to_utc(event["end"])
    return Times(start=start, stop=max(stop, start), allday=False)


def location_text(event):
    location = event.get("location") or {}
    name = (location.get("displayName") or "").strip()
    if name:
        return name
    names = [(loc.get("displayName") or "").strip() for loc in event.get("locations") or ()]
    return ", ".join(n for n in names if n)


def description_html(event):
    """The invitation body, sanitised (B8): no scripts, styles or Outlook's <html> wrapper."""
    body = event.get("body") or {}
    content = body.get("content") or ""
    if not content.strip():
        return ""
    if (body.get("contentType") or "html").lower() == "text":
        from markupsafe import escape

        content = str(escape(content)).replace("\n", "<br/>")
    return html_sanitize(content, strip_style=True, strip_classes=True) or ""


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


def meeting_values(event, *, mailbox_zone, owner_user_id, org_domains, directory):
    """Everything the logged meeting shows (B8).

    user: the organiser when they are an Odoo user, else the connected user whose
    mailbox holds the event (invited, B9). Company: set only when every matching
    contact belongs to the same company.
    """
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
        name=(event.get("subject") or "").strip() or "(no subject)",
        times=event_times(event, mailbox_zone),
        location=location_text(event),
        description=description_html(event),
        organizer_user_id=organizer_user_id,
        user_ids=user_ids,
        partner_ids=partner_ids,
        contact_ids=contact_ids,
        company_id=company_id,
    )
