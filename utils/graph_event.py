"""The one reader of Graph event JSON (like ``microsoft_calendar``'s ``MicrosoftEvent``).

Everything Odoo learns from an Outlook event goes through here: the time-zone table,
the timestamp parser, the location, the attendees and their answers. The mappers
(``utils/mappers``, with the rules of which Outlook events are logged in ``meeting_policy.py``)
ask a ``GraphEvent`` instead of digging in the dict, so each Graph quirk is handled in
one place.

Plain Python: no ORM. The only Odoo imports are the address normaliser (B2 matches
addresses whatever their case) and the HTML sanitiser (B8).
"""

import re
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from markupsafe import escape

from odoo.tools import email_normalize, html_sanitize

# Elements that embed other content (plugins, frames): removed as tags before sanitising,
# so that the text around and inside them is kept (issue 27).
_EMBEDDING_TAGS = re.compile(r"</?(?:object|embed|param|applet|iframe)\b[^>]*>", re.IGNORECASE)

# Windows zone names Graph may report for a mailbox or an event (CLDR windowsZones,
# territory 001), and the spellings of UTC it uses; IANA names are used as they are.
WINDOWS_ZONES = {
    "UTC": "UTC",
    "Z": "UTC",
    "Coordinated Universal Time": "UTC",
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
# Windows names are matched whatever their case ("gmt standard time" is still London).
_WINDOWS_BY_CASEFOLD = {name.casefold(): iana for name, iana in WINDOWS_ZONES.items()}


def zone(name):
    """ZoneInfo for a Windows or IANA zone name; UTC when empty, None when unknown."""
    name = (name or "").strip()
    if not name:
        return UTC
    try:
        return ZoneInfo(_WINDOWS_BY_CASEFOLD.get(name.casefold(), name))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def mailbox_zone(name):
    """The zone of a mailbox's settings: an unknown name reads as UTC, never stops the sync."""
    return zone(name) or UTC


def parse_date_time(text):
    """Graph's dateTime text ("2024-03-31T09:00:00.0000000", or a UTC stamp ending in "Z") as
    the naive wall time it spells; ValueError when it is not a date and time."""
    main, _dot, fraction = text.strip().rstrip("Z").partition(".")
    moment = datetime.strptime(main[:19], "%Y-%m-%dT%H:%M:%S")
    if fraction[:6].isdigit():
        moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    return moment


def parse_stamp(text):
    """A Graph UTC stamp ("2024-01-31T09:00:00.1234567Z") as a naive UTC datetime, or None."""
    if not text:
        return None
    try:
        return parse_date_time(text)
    except ValueError:
        return None


def to_utc(bound):
    """A Graph dateTimeTimeZone as a naive UTC datetime to the second (what Odoo stores).

    None when the bound has no dateTime; ValueError when its text is not a date and time
    or its zone is unknown (a wrong hour is worse than no change).
    """
    if not bound or not bound.get("dateTime"):
        return None
    local = parse_date_time(bound["dateTime"])
    where = zone(bound.get("timeZone"))
    if where is None:
        raise ValueError(f"unknown time zone {bound.get('timeZone')!r} in a Graph answer")
    return local.replace(tzinfo=where).astimezone(UTC).replace(tzinfo=None, microsecond=0)


def bound_date(bound):
    """The date an all-day bound spells (Graph renders them midnight-to-midnight, GRAPH_FACTS §1.3)."""
    return parse_date_time(bound["dateTime"]).date()


def all_day_date(bound, in_zone):
    """The calendar date of an all-day bound, in the mailbox's zone ``in_zone`` (B6, E5).

    Graph sends all-day bounds as midnights and they are dates whatever the zone
    label says; a bound that is not a midnight (a client that converted it) is
    brought back to the mailbox's zone and rounded to the nearest midnight.
    """
    local = parse_date_time(bound["dateTime"])
    if local.time() == datetime.min.time():
        return local.date()
    aware = local.replace(tzinfo=mailbox_zone(bound.get("timeZone"))).astimezone(mailbox_zone(in_zone))
    return (aware + timedelta(hours=12)).date()


def normalize(address):
    """Lower-case canonical form of an address, or "" when it is not an address.

    Odoo's email_normalize lower-cases ASCII local parts only; B2 matches whatever
    the case, so non-ASCII ones are lower-cased here too (and in the contact query).
    """
    return (email_normalize(address or "") or "").lower()


def _address(entry):
    return normalize(((entry or {}).get("emailAddress") or {}).get("address"))


def _graph_property(key, read=None):
    """A read-only attribute: Graph's property ``key`` as Graph sent it (None when absent),
    or as ``read`` makes it."""
    if read is None:
        return property(lambda event: event._data.get(key), doc=f"Graph's ``{key}``.")
    return property(lambda event: read(event._data.get(key)), doc=f"Graph's ``{key}``, read.")


class GraphEvent:
    """One Outlook event as Graph returned it, read-only.

    ``GraphEvent(event_dict)``; the dict is copied at the top level and never changed.
    Each property answers one question Odoo asks about the event.
    """

    __slots__ = ("_data",)

    def __init__(self, data):
        object.__setattr__(self, "_data", MappingProxyType(dict(data or {})))

    def __setattr__(self, name, value):
        raise AttributeError("a GraphEvent is read-only")

    def __repr__(self):
        return f"GraphEvent({self.id!r})"

    def get(self, key, default=None):
        """A raw property, for what no reader below covers."""
        return self._data.get(key, default)

    # -- identity ---------------------------------------------------------------------

    id = _graph_property("id")
    change_key = _graph_property("changeKey")
    ical_uid = _graph_property("iCalUId")
    transaction_id = _graph_property("transactionId")

    @property
    def created_at(self):
        """When it was created (naive UTC), or None (S3)."""
        return parse_stamp(self._data.get("createdDateTime"))

    # -- its kind ---------------------------------------------------------------------

    @property
    def is_removed(self):
        """A delta tombstone: the event was deleted or left the window."""
        return "@removed" in self._data

    @property
    def is_cancelled(self):
        return bool(self._data.get("isCancelled"))

    @property
    def is_recurring(self):
        """Series masters, occurrences and exceptions (B5)."""
        kind = self._data.get("type") or "singleInstance"
        return kind != "singleInstance" or bool(self._data.get("seriesMasterId"))

    @property
    def sensitivity(self):
        return (self._data.get("sensitivity") or "normal").lower()

    categories = _graph_property("categories", lambda value: value or ())
    is_all_day = _graph_property("isAllDay", bool)
    is_organizer = _graph_property("isOrganizer", bool)

    # -- what it says -----------------------------------------------------------------

    @property
    def subject(self):
        return (self._data.get("subject") or "").strip()

    @property
    def has_location(self):
        return "location" in self._data

    @property
    def location(self):
        """The place: its display name, else the names of its several locations."""
        location = self._data.get("location") or {}
        name = (location.get("displayName") or "").strip()
        if name:
            return name
        names = [(loc.get("displayName") or "").strip() for loc in self._data.get("locations") or ()]
        return ", ".join(n for n in names if n)

    @property
    def description_html(self):
        """The invitation body, sanitised (B8): no scripts, styles or Outlook's <html> wrapper."""
        body = self._data.get("body") or {}
        content = body.get("content") or ""
        if not content.strip():
            return ""
        if (body.get("contentType") or "html").lower() == "text":
            content = str(escape(content)).replace("\n", "<br/>")
        # The sanitiser drops embedded content with everything inside it, and an <embed> or
        # <object> left open swallows the rest of the body: their tags go first, their text stays.
        content = _EMBEDDING_TAGS.sub("", content)
        return html_sanitize(content, strip_style=True, strip_classes=True) or ""

    @property
    def online_meeting_url(self):
        """The join link of a Teams meeting, or "" (A14)."""
        online = self._data.get("onlineMeeting") or {}
        url = online.get("joinUrl") if isinstance(online, dict) else None
        return url or self._data.get("onlineMeetingUrl") or ""

    # -- who --------------------------------------------------------------------------

    @property
    def organizer(self):
        """The organiser's normalised address, or ""."""
        return _address(self._data.get("organizer"))

    @property
    def attendees(self):
        """Normalised addresses of the attendees, in order, once each."""
        return tuple(dict.fromkeys(a for a in map(_address, self._data.get("attendees") or ()) if a))

    @property
    def attendee_answers(self):
        """{normalised address: Graph response} of the answers attendees gave (A15).

        The organiser's copy carries every attendee's ``status``; an attendee's own copy
        carries their answer in ``responseStatus`` (``own_answer``), for the mailbox owner.
        """
        answers = {}
        for attendee in self._data.get("attendees") or []:
            address = _address(attendee)
            response = (attendee.get("status") or {}).get("response")
            if address and response:
                answers[address] = response
        return answers

    @property
    def own_answer(self):
        """The mailbox owner's answer, in an attendee's copy (A15)."""
        return (self._data.get("responseStatus") or {}).get("response")

    # -- when -------------------------------------------------------------------------

    def unreadable(self):
        """Why its start or end cannot be read (for the log line), or None when both can (E6)."""
        for bound in ("start", "end"):
            value = self._data.get(bound)
            text = value.get("dateTime") if isinstance(value, dict) else None
            if not isinstance(text, str):
                return f"it has no {bound}"
            try:
                parse_date_time(text)
            except ValueError:
                return f"its {bound} {text[:40]!r} is not a date and time"
            if not self.is_all_day and zone(value.get("timeZone")) is None:
                # All-day bounds are dates whatever their zone label; a timed one needs its zone.
                return f"its {bound} time zone {str(value.get('timeZone'))[:40]!r} is unknown"
        return None

    # Naive UTC, None without one; ValueError when unreadable (see ``to_utc``).
    start = _graph_property("start", to_utc)
    end = _graph_property("end", to_utc)

    def all_day_dates(self, in_zone=None):
        """(first day, last day inclusive) of an all-day event (Graph's end is exclusive).

        With ``in_zone`` (the mailbox's zone) a converted bound is brought back to that
        zone's day (B6); without it the dates are read as written (A12).
        """
        start, end = self._data["start"], self._data["end"]
        if in_zone is None:
            first, after = bound_date(start), bound_date(end)
        else:
            first, after = all_day_date(start, in_zone), all_day_date(end, in_zone)
        return first, max(first, after - timedelta(days=1))


def unreadable(event):
    """Why a Graph event's start or end cannot be read, or None (E6): ``GraphEvent.unreadable``."""
    return GraphEvent(event).unreadable()
