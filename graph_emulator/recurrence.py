"""Expansion of a patternedRecurrence into occurrence start dates.

Dates are computed in the series' own time zone so daylight-saving shifts keep the
local wall-clock time, as Exchange does."""

import calendar
from datetime import date, timedelta

from .errors import bad_request

DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
PATTERNS = {"daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly"}
RANGES = {"endDate", "noEnd", "numbered"}
INDEXES = {"first": 0, "second": 1, "third": 2, "fourth": 3, "last": -1}
MAX_OCCURRENCES = 5000


def validate(rec):
    if rec is None:
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("pattern"), dict) or not isinstance(rec.get("range"), dict):
        raise bad_request(
            "Recurrence must have a pattern and a range.",
            code="ErrorInvalidRequest",
        )
    pat, rng = dict(rec["pattern"]), dict(rec["range"])
    if pat.get("type") not in PATTERNS:
        raise bad_request(
            (
                f"Cannot convert the literal '{pat.get('type')}' to the expected type "
                "'microsoft.graph.recurrencePatternType'."
            ),
            code="RequestBodyRead",
        )
    if rng.get("type") not in RANGES:
        raise bad_request(
            (
                f"Cannot convert the literal '{rng.get('type')}' to the expected type "
                "'microsoft.graph.recurrenceRangeType'."
            ),
            code="RequestBodyRead",
        )
    pat.setdefault("interval", 1)
    if not isinstance(pat["interval"], int) or pat["interval"] < 1:
        raise bad_request("The recurrence pattern interval must be a positive integer.")
    for d in pat.get("daysOfWeek") or []:
        if d not in DAYS:
            raise bad_request(
                f"Cannot convert the literal '{d}' to the expected type 'microsoft.graph.dayOfWeek'.",
                code="RequestBodyRead",
            )
    if pat["type"] == "weekly" and not pat.get("daysOfWeek"):
        raise bad_request("DaysOfWeek must be specified for a weekly recurrence pattern.")
    try:
        date.fromisoformat(rng.get("startDate") or "")
        if rng["type"] == "endDate":
            date.fromisoformat(rng.get("endDate") or "")
    except ValueError:
        raise bad_request("The recurrence range must have a valid startDate (and endDate for type endDate).") from None
    if rng["type"] == "numbered" and not (
        isinstance(rng.get("numberOfOccurrences"), int) and rng["numberOfOccurrences"] > 0
    ):
        raise bad_request("numberOfOccurrences must be a positive integer for a numbered range.")
    full_pat = {
        "type": pat["type"],
        "interval": pat["interval"],
        "month": pat.get("month", 0),
        "dayOfMonth": pat.get("dayOfMonth", 0),
        "daysOfWeek": pat.get("daysOfWeek") or [],
        "firstDayOfWeek": pat.get("firstDayOfWeek", "sunday"),
        "index": pat.get("index", "first"),
    }
    full_rng = {
        "type": rng["type"],
        "startDate": rng["startDate"],
        "endDate": rng.get("endDate") or "0001-01-01",
        "recurrenceTimeZone": rng.get("recurrenceTimeZone") or "",
        "numberOfOccurrences": rng.get("numberOfOccurrences", 0),
    }
    return {"pattern": full_pat, "range": full_rng}


def _nth_weekday(year, month, weekdays, index):
    days = [
        d for d in range(1, calendar.monthrange(year, month)[1] + 1) if DAYS[date(year, month, d).weekday()] in weekdays
    ]
    if not days:
        return None
    pos = INDEXES.get(index, 0)
    if pos >= len(days):
        return None
    return date(year, month, days[pos])


def _candidates(rec, start):
    """Yield candidate dates in order, ignoring the range end."""
    pat = rec["pattern"]
    interval = pat["interval"]
    kind = pat["type"]
    if kind == "daily":
        d = start
        while True:
            yield d
            d += timedelta(days=interval)
    elif kind == "weekly":
        wanted = {DAYS.index(x) for x in pat["daysOfWeek"]}
        first_dow = DAYS.index(pat.get("firstDayOfWeek") or "sunday")
        week_start = start - timedelta(days=(start.weekday() - first_dow) % 7)
        while True:
            for i in range(7):
                d = week_start + timedelta(days=i)
                if d.weekday() in wanted and d >= start:
                    yield d
            week_start += timedelta(weeks=interval)
    else:
        y, m = start.year, start.month
        step = interval if "Monthly" in kind else 12 * interval
        if "Yearly" in kind and pat.get("month"):
            m = pat["month"]
            if date(y, m, 1) < date(start.year, start.month, 1):
                y += 1
        for _ in range(MAX_OCCURRENCES * 2):
            if kind.startswith("absolute"):
                dom = pat.get("dayOfMonth") or start.day
                d = date(y, m, dom) if dom <= calendar.monthrange(y, m)[1] else None
            else:
                d = _nth_weekday(y, m, pat["daysOfWeek"] or [DAYS[start.weekday()]], pat.get("index"))
            if d and d >= start:
                yield d
            m += step
            y += (m - 1) // 12
            m = (m - 1) % 12 + 1


def occurrence_dates(rec, first_date, until=None):
    """All occurrence dates of the series up to `until` (a date), inclusive."""
    rng = rec["range"]
    start = date.fromisoformat(rng["startDate"]) if rng.get("startDate") else first_date
    end = date.fromisoformat(rng["endDate"]) if rng["type"] == "endDate" else None
    limit = rng.get("numberOfOccurrences") if rng["type"] == "numbered" else None
    out = []
    for d in _candidates(rec, start):
        if end and d > end:
            break
        if until and d > until:
            break
        if limit is not None and len(out) >= limit:
            break
        out.append(d)
        if len(out) >= MAX_OCCURRENCES:
            break
    return out
