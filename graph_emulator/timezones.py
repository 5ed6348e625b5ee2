"""Time zone names and Graph's date-time text format.

Graph accepts Windows zone names and IANA names (GRAPH_FACTS §1.3); state is stored in
UTC and rendered as 'YYYY-MM-DDTHH:MM:SS.fffffff' without an offset."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import GraphError, bad_request

# Windows → IANA for the zones a calendar sync realistically meets (CLDR windowsZones, territory 001).
WINDOWS_TO_IANA = {
    "UTC": "UTC",
    "Coordinated Universal Time": "UTC",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw",
    "Romance Standard Time": "Europe/Paris",
    "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev",
    "GTB Standard Time": "Europe/Bucharest",
    "Russian Standard Time": "Europe/Moscow",
    "Turkey Standard Time": "Europe/Istanbul",
    "Israel Standard Time": "Asia/Jerusalem",
    "South Africa Standard Time": "Africa/Johannesburg",
    "Arabian Standard Time": "Asia/Dubai",
    "India Standard Time": "Asia/Calcutta",
    "China Standard Time": "Asia/Shanghai",
    "Singapore Standard Time": "Asia/Singapore",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Korea Standard Time": "Asia/Seoul",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "New Zealand Standard Time": "Pacific/Auckland",
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "US Mountain Standard Time": "America/Phoenix",
    "Pacific Standard Time": "America/Los_Angeles",
    "Alaskan Standard Time": "America/Anchorage",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "Atlantic Standard Time": "America/Halifax",
    "E. South America Standard Time": "America/Sao_Paulo",
    "Argentina Standard Time": "America/Buenos_Aires",
    "Mexico Standard Time": "America/Mexico_City",
    "Central Standard Time (Mexico)": "America/Mexico_City",
    "Canada Central Standard Time": "America/Regina",
}
_ALIASES = {"Etc/UTC": "UTC", "Etc/GMT": "UTC", "GMT": "UTC", "tzone://Microsoft/Utc": "UTC"}


def resolve(name):
    """ZoneInfo for a Windows or IANA name, or None if unknown."""
    if not name:
        return None
    iana = WINDOWS_TO_IANA.get(name) or _ALIASES.get(name) or name
    if "/" not in iana and iana != "UTC":
        return None
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def require_zone(name):
    zone = resolve(name)
    if zone is None:
        # Graph's wording for an unknown zone.
        raise GraphError(
            400,
            "TimeZoneNotSupportedException",
            f"A valid TimeZone value must be specified. The following TimeZone value is not supported: '{name or ''}'.",
        )
    return zone


_DT_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?(Z|[+-]\d{2}:?\d{2})?$")


def parse_local(text, zone_name=None, field="dateTime"):
    """Parse a dateTimeTimeZone.dateTime; returns an aware UTC datetime."""
    if not isinstance(text, str):
        raise bad_request(f"Invalid value for '{field}'.")
    m = _DT_RE.match(text.strip())
    if not m:
        raise bad_request(
            f"Cannot convert the literal '{text}' to the expected type 'Edm.DateTimeOffset'.",
            code="ErrorInvalidRequest",
        )
    date, hh, mm, ss, frac, off = m.groups()
    try:
        naive = datetime.strptime(date, "%Y-%m-%d").replace(
            hour=int(hh or 0),
            minute=int(mm or 0),
            second=int(ss or 0),
            microsecond=int((frac or "0").ljust(7, "0")[:6]),
        )
    except ValueError:
        raise bad_request(f"Cannot convert the literal '{text}' to the expected type 'Edm.DateTimeOffset'.") from None
    if off:
        if off == "Z":
            return naive.replace(tzinfo=UTC)
        sign = 1 if off[0] == "+" else -1
        digits = off[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return naive.replace(tzinfo=UTC) - sign * delta
    zone = require_zone(zone_name or "UTC")
    return naive.replace(tzinfo=zone).astimezone(UTC)


def parse_query_datetime(text, field):
    """calendarView bounds: offset inside the value, UTC without one (GRAPH_FACTS §1.1)."""
    if not text:
        raise bad_request(
            (
                "This request requires a time window specified by the query string parameters StartDateTime and "
                "EndDateTime."
            ),
            code="ErrorInvalidParameter",
        )
    return parse_local(text, "UTC", field)


def fmt_local(dt_utc, zone_name=None):
    """{'dateTime','timeZone'} in the named zone (UTC when None)."""
    name = zone_name or "UTC"
    zone = resolve(name) or UTC
    local = dt_utc.astimezone(zone)
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}0", "timeZone": name}


def fmt_utc_stamp(dt_utc):
    """createdDateTime style: 7 fractional digits and a Z."""
    dt = dt_utc.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0Z"


def now_utc():
    return datetime.now(UTC)
