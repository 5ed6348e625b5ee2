"""Odoo's recurrence rule -> Graph's patternedRecurrence (SPEC A16, GRAPH_FACTS §11).

Plain Python, no ORM: the model gathers the rule's fields in ``RuleData`` and asks
``series_recurrence`` for Graph's ``recurrence`` of the series master, or
``inexpressible`` for the parts of the rule Outlook cannot hold as Odoo does (Confirm
refuses those with a plain message, never approximates them: A16, issue 25 item 5).

Odoo (calendar.recurrence, dateutil's rrule) and Outlook agree on:

- daily, every N days;
- weekly on the chosen days, every N weeks, weeks starting on the language's first
  day (Odoo's ``wkst``; Graph's ``firstDayOfWeek``);
- monthly on a date (1..28) or on the first/second/third/fourth/last weekday;
- yearly on the first occurrence's month and day;
- a count, an end date (inclusive in both), no end.

They differ on:

- monthly on the 29th, 30th or 31st: rrule skips the months without that day, Outlook
  puts the occurrence on the month's last day instead -> refused;
- yearly on 29 February: rrule skips the years without it, Outlook does not -> refused;
- Odoo's "forever" makes 720 occurrences in Odoo (MAX_RECURRENT_EVENT); Outlook's
  ``noEnd`` has no end: mapped to ``noEnd`` (the issue's choice), Odoo's last occurrence
  is the only difference, years ahead.

Outlook can express what Odoo cannot (relativeYearly, several weekdays in a monthly
pattern, "weekday"/"weekend day" sets): such series are born in Outlook and stay out of
Odoo (B5), so nothing maps them back.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ODOO_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ODOO_WEEKDAYS = {"MON": 0, "TUE": 1, "WED": 2, "THU": 3, "FRI": 4, "SAT": 5, "SUN": 6}
INDEXES = {"1": "first", "2": "second", "3": "third", "4": "fourth", "-1": "last"}
LAST_SAFE_DAY = 28  # every month has it

# Why a rule is refused (the model says it in the user's language).
DAY_OF_MONTH_TOO_LATE = "day_of_month_too_late"
LEAP_DAY_YEARLY = "leap_day_yearly"
NO_WEEKDAY = "no_weekday"
BAD_INDEX = "bad_index"
UNKNOWN_PATTERN = "unknown_pattern"
UNKNOWN_END = "unknown_end"


@dataclass
class RuleData:
    rrule_type: str  # daily / weekly / monthly / yearly
    first_date: date  # the first occurrence's date in the series' zone
    interval: int = 1
    end_type: str = "count"  # count / end_date / forever
    count: int = 1
    until: date | None = None
    weekdays: list = field(default_factory=list)  # Odoo's day fields set: "mon", "tue", ...
    month_by: str = "date"  # date / day
    day: int = 1  # monthly by date
    byday: str = ""  # monthly by day: "1".."4", "-1"
    weekday: str = ""  # monthly by day: "MON".."SUN"
    week_start: int = 0  # 0 = Monday (Odoo's res.lang.week_start - 1)
    zone: str = "UTC"  # the series' time zone (IANA)


class Inexpressible(ValueError):
    """The rule has parts Outlook cannot hold: ``reasons`` lists them (codes above)."""

    def __init__(self, reasons):
        super().__init__(", ".join(reasons))
        self.reasons = reasons


def inexpressible(rule):
    """The parts of ``rule`` Outlook cannot hold as Odoo does (empty when it maps exactly)."""
    reasons = []
    if rule.rrule_type not in ("daily", "weekly", "monthly", "yearly"):
        reasons.append(UNKNOWN_PATTERN)
    if rule.end_type not in ("count", "end_date", "forever"):
        reasons.append(UNKNOWN_END)
    if rule.rrule_type == "weekly" and not [d for d in rule.weekdays if d in ODOO_DAYS]:
        reasons.append(NO_WEEKDAY)
    if rule.rrule_type == "monthly":
        if rule.month_by == "day":
            if str(rule.byday) not in INDEXES:
                reasons.append(BAD_INDEX)
            if rule.weekday not in ODOO_WEEKDAYS:
                reasons.append(NO_WEEKDAY)
        elif (rule.day or rule.first_date.day) > LAST_SAFE_DAY:
            reasons.append(DAY_OF_MONTH_TOO_LATE)
    if rule.rrule_type == "yearly" and (rule.first_date.month, rule.first_date.day) == (2, 29):
        reasons.append(LEAP_DAY_YEARLY)
    return reasons


def series_recurrence(rule):
    """Graph's ``recurrence`` (pattern and range, GRAPH_FACTS §11) for Odoo's rule; raises
    ``Inexpressible`` for a rule Outlook cannot hold."""
    reasons = inexpressible(rule)
    if reasons:
        raise Inexpressible(reasons)
    interval = max(int(rule.interval or 1), 1)
    pattern = {"interval": interval}
    if rule.rrule_type == "daily":
        pattern["type"] = "daily"
    elif rule.rrule_type == "weekly":
        pattern.update(
            type="weekly",
            daysOfWeek=[DAYS[i] for i, d in enumerate(ODOO_DAYS) if d in rule.weekdays],
            firstDayOfWeek=DAYS[rule.week_start % 7],
        )
    elif rule.rrule_type == "monthly" and rule.month_by == "day":
        pattern.update(
            type="relativeMonthly",
            daysOfWeek=[DAYS[ODOO_WEEKDAYS[rule.weekday]]],
            index=INDEXES[str(rule.byday)],
        )
    elif rule.rrule_type == "monthly":
        pattern.update(type="absoluteMonthly", dayOfMonth=rule.day or rule.first_date.day)
    else:
        pattern.update(type="absoluteYearly", month=rule.first_date.month, dayOfMonth=rule.first_date.day)
    rng = {"startDate": rule.first_date.isoformat(), "recurrenceTimeZone": rule.zone}
    if rule.end_type == "count":
        rng.update(type="numbered", numberOfOccurrences=max(int(rule.count or 1), 1))
    elif rule.end_type == "end_date" and rule.until:
        rng.update(type="endDate", endDate=rule.until.isoformat())
    else:
        rng["type"] = "noEnd"
    return {"pattern": pattern, "range": rng}


def ended_before(recurrence, day):
    """The series' recurrence ending the day before ``day`` (Odoo's "this and following
    events" split, GRAPH_FACTS §11: the old series' range gets an end date)."""
    rng = dict(recurrence["range"], type="endDate", endDate=(day - timedelta(days=1)).isoformat())
    rng.pop("numberOfOccurrences", None)
    return {"pattern": dict(recurrence["pattern"]), "range": rng}


def local_time(moment, zone):
    """A naive-UTC datetime as Graph's dateTimeTimeZone in ``zone`` (IANA), so a series keeps
    its local wall-clock time across daylight-saving changes (A16, E5; GRAPH_FACTS §1.3: Graph
    takes IANA names)."""
    local = moment.replace(tzinfo=UTC, microsecond=0).astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    return {"dateTime": local.isoformat(), "timeZone": zone}


def local_date(moment, zone):
    """The local date of a naive-UTC datetime in ``zone``."""
    if not isinstance(moment, datetime):
        return moment
    return moment.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).date()


def moved_series_times(occurrence_starts, master_start, master_end, zone):
    """An Outlook change of the whole series' time (A12 for a series, A16): the new start and
    end of each Odoo occurrence given (naive UTC), on its own date at the master's new local
    time in ``zone``. ``master_start``/``master_end``: the master's times read back (naive UTC)."""
    tz = ZoneInfo(zone)
    local = master_start.replace(tzinfo=UTC).astimezone(tz)
    duration = master_end - master_start
    moved = []
    for start in occurrence_starts:
        day = start.replace(tzinfo=UTC).astimezone(tz).date()
        new_start = datetime.combine(day, local.time(), tz).astimezone(UTC).replace(tzinfo=None)
        moved.append((new_start, new_start + duration))
    return moved
