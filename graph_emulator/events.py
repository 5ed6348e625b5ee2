"""The event resource: input validation, storage form, recurrence expansion and rendering.

Stored events are dicts holding Graph property values plus private keys starting
with '_' (UTC instants, mailbox, links). Rendering turns them into the JSON Graph
returns, honouring the Prefer headers (GRAPH_FACTS §1.2, §1.3)."""

import base64
import copy
import hashlib
import html
import re
import secrets
from datetime import UTC, date, datetime, time, timedelta

from . import extended_properties as xprops
from . import recurrence, timezones
from .errors import GraphError, bad_request, unknown_property

WRITABLE = {
    "subject",
    "body",
    "start",
    "end",
    "location",
    "locations",
    "attendees",
    "categories",
    "sensitivity",
    "showAs",
    "importance",
    "isAllDay",
    "recurrence",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "responseRequested",
    "transactionId",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "allowNewTimeProposals",
    "hideAttendees",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "organizer",
    "singleValueExtendedProperties",
    "multiValueExtendedProperties",
    "extensions",
    "attachments",
    "isDraft",
}
# Read-only properties clients often echo back; Graph ignores them rather than failing.
IGNORED = {
    "id",
    "@odata.etag",
    "@odata.type",
    "@odata.context",
    "changeKey",
    "createdDateTime",
    "lastModifiedDateTime",
    "iCalUId",
    "isOrganizer",
    "responseStatus",
    "type",
    "seriesMasterId",
    "webLink",
    "hasAttachments",
    "isCancelled",
    "onlineMeetingUrl",
    "onlineMeeting",
    "bodyPreview",
    "originalStart",
    "cancelledOccurrences",
    "exceptionOccurrences",
    "instances",
    "calendar",
}
ENUMS = {
    "sensitivity": ("microsoft.graph.sensitivity", {"normal", "personal", "private", "confidential"}),
    "showAs": ("microsoft.graph.freeBusyStatus", {"free", "tentative", "busy", "oof", "workingElsewhere", "unknown"}),
    "importance": ("microsoft.graph.importance", {"low", "normal", "high"}),
}
ATTENDEE_TYPES = {"required", "optional", "resource"}
RESPONSES = {"none", "organizer", "tentativelyAccepted", "accepted", "declined", "notResponded"}
NEVER = "0001-01-01T00:00:00Z"
# Properties whose change makes Exchange send a meeting update to every attendee.
MEETING_FIELDS = {
    "subject",
    "body",
    "start",
    "end",
    "location",
    "locations",
    "isAllDay",
    "recurrence",
    "isOnlineMeeting",
}


# Event ids look like Graph's REST ids: about 150 characters of base64 with the URL-safe alphabet
# ('-' and '_' instead of '/' and '+') and '=' padding. Evidence: the REST id
# "AQMkADAw…Nk_ViIgAt9GKZVcABj54pG8AAAA=" next to its changeKey "tXF3Exu6Nk+ViIi30YplVw" (the '+'
# became '_'), https://github.com/microsoftgraph/microsoft-graph-docs/issues/21314, and the id
# "AAMkADhlNjU5…CDUn-uvuceTb3Zb9F345Q1AABjc6nmAAA=" in https://github.com/alcionai/corso/issues/772.
# (EWS ids use '+' and '/'; Graph REST ids do not.) Default ids start "AAMkA", immutable ids
# "AAkALg", as in the samples of https://learn.microsoft.com/en-us/graph/outlook-immutable-id.
#
# Layout of the 113 decoded bytes [A]: header (6) + kind (1: item, 2: occurrence) + item key (32)
# + occurrence date ordinal (4) + filler derived from the rest (70). The default and the immutable
# id of an item share everything but the header, so either form converts to the other without a
# table, and both are accepted wherever an id is.
DEFAULT_HDR = b"\x00\x03\x24\x00b6"
IMMUTABLE_HDR = b"\x00\x09\x00\x2e\x00\x00"
_RAW_LEN = 113
_ID_CHARS = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
_KIND_ITEM, _KIND_OCCURRENCE = 1, 2


def _build_id(kind, key, ordinal=0, header=DEFAULT_HDR):
    body = bytes([kind]) + key + ordinal.to_bytes(4, "big")
    raw = header + body + hashlib.shake_256(body).digest(_RAW_LEN - len(header) - len(body))
    return base64.urlsafe_b64encode(raw).decode()


def _decode_id(event_id):
    """(header, kind, key, ordinal) of an id this emulator could have issued, else None."""
    if not isinstance(event_id, str) or len(event_id) != 152 or not _ID_CHARS.match(event_id):
        return None
    try:
        raw = base64.urlsafe_b64decode(event_id.encode())
    except (ValueError, TypeError):
        return None
    if len(raw) != _RAW_LEN or raw[:6] not in (DEFAULT_HDR, IMMUTABLE_HDR) or raw[6] not in (1, 2):
        return None
    return raw[:6], raw[6], raw[7:39], int.from_bytes(raw[39:43], "big")


def is_well_formed(event_id):
    return _decode_id(event_id) is not None


def to_default(event_id):
    """The default form of a well-formed id (either form); other strings unchanged."""
    parts = _decode_id(event_id)
    if parts is None or parts[0] == DEFAULT_HDR:
        return event_id
    return _build_id(parts[1], parts[2], parts[3])


def to_immutable(event_id):
    parts = _decode_id(event_id)
    if parts is None or parts[0] == IMMUTABLE_HDR:
        return event_id
    return _build_id(parts[1], parts[2], parts[3], IMMUTABLE_HDR)


def public_id(event_id, immutable):
    """The id as a response shows it: immutable only for a request that asked for it."""
    return to_immutable(event_id) if immutable and event_id else event_id


def new_id():
    return _build_id(_KIND_ITEM, secrets.token_bytes(32))


def new_change_key():
    return base64.b64encode(secrets.token_bytes(12)).decode()


def new_ical_uid():
    return "040000008200E00074C5B7101A82E008" + secrets.token_hex(28).upper()


def occurrence_id(master_id, day):
    parts = _decode_id(master_id)
    return _build_id(_KIND_OCCURRENCE, parts[2], day.toordinal())


def parse_occurrence_id(event_id):
    """(master default id, date) for an occurrence id in either form, else None."""
    parts = _decode_id(event_id)
    if parts is None or parts[1] != _KIND_OCCURRENCE:
        return None
    try:
        return _build_id(_KIND_ITEM, parts[2]), date.fromordinal(parts[3])
    except ValueError:
        return None


# ----------------------------------------------------------------- input


def _enum(name, value):
    type_name, allowed = ENUMS[name]
    if value not in allowed:
        raise GraphError(
            400, "RequestBodyRead", f"Cannot convert the literal '{value}' to the expected type '{type_name}'."
        )
    return value


def _email(obj, where):
    if not isinstance(obj, dict) or not isinstance(obj.get("emailAddress"), dict):
        raise bad_request(f"{where} must contain an emailAddress.")
    ea = obj["emailAddress"]
    unknown = set(ea) - {"address", "name", "@odata.type"}
    if unknown:
        raise unknown_property(sorted(unknown)[0], "microsoft.graph.emailAddress")
    address = (ea.get("address") or "").strip()
    return {"name": ea.get("name") or address, "address": address}


def _attendees(value):
    if not isinstance(value, list):
        raise bad_request("attendees must be a collection.", code="RequestBodyRead")
    if len(value) > 500:
        raise bad_request("An event can have at most 500 attendees.")
    out = []
    for att in value:
        email = _email(att, "attendee")
        unknown = set(att) - {"emailAddress", "type", "status", "proposedNewTime", "@odata.type"}
        if unknown:
            raise unknown_property(sorted(unknown)[0], "microsoft.graph.attendee")
        kind = att.get("type") or "required"
        if kind not in ATTENDEE_TYPES:
            raise GraphError(
                400,
                "RequestBodyRead",
                f"Cannot convert the literal '{kind}' to the expected type 'microsoft.graph.attendeeType'.",
            )
        status = att.get("status") or {}
        resp = status.get("response") or "none"
        if resp not in RESPONSES:
            resp = "none"
        out.append(
            {"type": kind, "status": {"response": resp, "time": status.get("time") or NEVER}, "emailAddress": email}
        )
    return out


def _location(value):
    if value is None:
        return {
            "displayName": "",
            "locationType": "default",
            "uniqueIdType": "unknown",
            "address": {},
            "coordinates": {},
        }
    if not isinstance(value, dict):
        raise bad_request("location must be an object.", code="RequestBodyRead")
    allowed = {
        "displayName",
        "locationType",
        "uniqueId",
        "uniqueIdType",
        "address",
        "coordinates",
        "locationEmailAddress",
        "locationUri",
        "@odata.type",
    }
    unknown = set(value) - allowed
    if unknown:
        raise unknown_property(sorted(unknown)[0], "microsoft.graph.location")
    loc = {"displayName": value.get("displayName") or "", "locationType": value.get("locationType") or "default"}
    if loc["displayName"]:
        loc["uniqueId"] = value.get("uniqueId") or loc["displayName"]
        loc["uniqueIdType"] = value.get("uniqueIdType") or "private"
    else:
        loc["uniqueIdType"] = "unknown"
    for k in ("address", "coordinates", "locationEmailAddress", "locationUri"):
        if value.get(k) is not None:
            loc[k] = value[k]
    loc.setdefault("address", {})
    loc.setdefault("coordinates", {})
    return loc


def _make_online_meeting(ev):
    """An event made online gets its join link, and stays online.

    [D] event resource, isOnlineMeeting: "After you set isOnlineMeeting to true, Microsoft Graph
    initializes onlineMeeting. Subsequently Outlook ignores any further changes to isOnlineMeeting,
    and the meeting remains available online." The provider defaults to the mailbox's default
    (teamsForBusiness in the emulator's mailbox settings); the join link's shape is Teams' [A].
    """
    if ev.get("onlineMeeting"):
        ev["isOnlineMeeting"] = True
        return
    if not ev.get("isOnlineMeeting"):
        return
    if ev.get("onlineMeetingProvider") in (None, "unknown"):
        ev["onlineMeetingProvider"] = "teamsForBusiness"
    thread = hashlib.sha1(ev["id"].encode()).hexdigest()
    ev["onlineMeeting"] = {
        "joinUrl": f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{thread}%40thread.v2/0",
        "conferenceId": str(int(thread[:8], 16)),
        "tollNumber": None,
    }


def _body(value):
    if not isinstance(value, dict):
        raise bad_request("body must be an object.", code="RequestBodyRead")
    unknown = set(value) - {"contentType", "content", "@odata.type"}
    if unknown:
        raise unknown_property(sorted(unknown)[0], "microsoft.graph.itemBody")
    ctype = (value.get("contentType") or "text").lower()
    if ctype not in ("text", "html"):
        raise GraphError(
            400,
            "RequestBodyRead",
            f"Cannot convert the literal '{value.get('contentType')}' to the expected type 'microsoft.graph.bodyType'.",
        )
    return {"contentType": ctype, "content": value.get("content") or ""}


def _datetime_tz(value, field):
    if not isinstance(value, dict) or "dateTime" not in value:
        raise bad_request(f"'{field}' must be a dateTimeTimeZone with dateTime and timeZone.", code="RequestBodyRead")
    unknown = set(value) - {"dateTime", "timeZone", "@odata.type"}
    if unknown:
        raise unknown_property(sorted(unknown)[0], "microsoft.graph.dateTimeTimeZone")
    tz_name = value.get("timeZone") or "UTC"
    timezones.require_zone(tz_name)
    return timezones.parse_local(value["dateTime"], tz_name, field), tz_name, value["dateTime"]


def check_properties(payload):
    if not isinstance(payload, dict):
        raise bad_request("The request body must be a JSON object.", code="RequestBodyRead")
    for key in payload:
        if key in WRITABLE or key in IGNORED or key.startswith("@odata.") or "@odata." in key:
            continue
        raise unknown_property(key)


def apply_input(ev, payload, settings, creating):
    """Validate `payload` and write it into stored event `ev`. Returns the set of keys changed."""
    check_properties(payload)
    changed = set()
    for key in ("subject",):
        if key in payload:
            ev[key] = payload[key] or ""
            changed.add(key)
    if "body" in payload:
        ev["body"] = _body(payload["body"] or {})
        changed.add("body")
    for key in ENUMS:
        if key in payload and payload[key] is not None:
            ev[key] = _enum(key, payload[key])
            changed.add(key)
    for key in (
        "isReminderOn",
        "responseRequested",
        "isOnlineMeeting",
        "allowNewTimeProposals",
        "hideAttendees",
        "isDraft",
    ):
        if key in payload and payload[key] is not None:
            if not isinstance(payload[key], bool):
                raise GraphError(
                    400,
                    "RequestBodyRead",
                    f"Cannot convert the literal '{payload[key]}' to the expected type 'Edm.Boolean'.",
                )
            ev[key] = payload[key]
            changed.add(key)
    if "reminderMinutesBeforeStart" in payload:
        val = payload["reminderMinutesBeforeStart"]
        if not isinstance(val, int) or isinstance(val, bool):
            raise GraphError(
                400, "RequestBodyRead", f"Cannot convert the literal '{val}' to the expected type 'Edm.Int32'."
            )
        ev["reminderMinutesBeforeStart"] = val
        changed.add("reminderMinutesBeforeStart")
    if "onlineMeetingProvider" in payload:
        ev["onlineMeetingProvider"] = payload["onlineMeetingProvider"] or "unknown"
    _make_online_meeting(ev)
    if "categories" in payload:
        cats = payload["categories"] or []
        if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
            raise bad_request("categories must be a collection of strings.", code="RequestBodyRead")
        ev["categories"] = list(cats)
        changed.add("categories")
    if "attendees" in payload:
        ev["attendees"] = _attendees(payload["attendees"] or [])
        changed.add("attendees")
    if "locations" in payload:
        locs = payload["locations"] or []
        if not isinstance(locs, list):
            raise bad_request("locations must be a collection.", code="RequestBodyRead")
        ev["locations"] = [_location(loc) for loc in locs]
        ev["location"] = copy.deepcopy(ev["locations"][0]) if ev["locations"] else _location(None)
        changed.add("locations")
    if "location" in payload:
        # Updating location replaces locations (GRAPH_FACTS §1.3).
        ev["location"] = _location(payload["location"])
        has_place = bool(ev["location"]["displayName"])
        ev["locations"] = [copy.deepcopy(ev["location"])] if has_place else []
        changed.add("location")
    if "singleValueExtendedProperties" in payload:
        ev["_singleValueExtendedProperties"] = xprops.merge(
            ev.get("_singleValueExtendedProperties", []), payload["singleValueExtendedProperties"]
        )
    for key in ("multiValueExtendedProperties", "extensions"):
        if key in payload:
            merged = {p.get("id"): p for p in ev.get("_" + key, []) if isinstance(p, dict)}
            for p in payload[key] or []:
                if isinstance(p, dict):
                    merged[p.get("id") or p.get("extensionName")] = p
            ev["_" + key] = list(merged.values())
    if creating and payload.get("transactionId"):
        ev["transactionId"] = payload["transactionId"]

    if "isAllDay" in payload and payload["isAllDay"] is not None:
        if not isinstance(payload["isAllDay"], bool):
            raise GraphError(
                400,
                "RequestBodyRead",
                f"Cannot convert the literal '{payload['isAllDay']}' to the expected type 'Edm.Boolean'.",
            )
        ev["isAllDay"] = payload["isAllDay"]
        changed.add("isAllDay")
    if "start" in payload:
        ev["_start"], ev["originalStartTimeZone"], ev["_start_text"] = _datetime_tz(payload["start"], "start")
        changed.add("start")
    if "end" in payload:
        ev["_end"], ev["originalEndTimeZone"], ev["_end_text"] = _datetime_tz(payload["end"], "end")
        changed.add("end")
    if creating and ("_start" not in ev or "_end" not in ev):
        raise bad_request(
            "Your request can't be completed. The start and end dates and times must be specified.",
            code="ErrorInvalidRequest",
        )
    if ev["_end"] < ev["_start"]:
        raise bad_request("The end of the event must be at or after its start.", code="ErrorInvalidRequest")
    _check_all_day(ev, settings)
    if "recurrence" in payload:
        ev["recurrence"] = recurrence.validate(payload["recurrence"])
        changed.add("recurrence")
        if ev["recurrence"] and not ev["recurrence"]["range"]["recurrenceTimeZone"]:
            ev["recurrence"]["range"]["recurrenceTimeZone"] = ev.get("originalStartTimeZone") or "UTC"
    return changed


def _check_all_day(ev, settings):
    if not ev.get("isAllDay"):
        ev.pop("_all_day_dates", None)
        return
    zone = timezones.resolve(ev.get("originalStartTimeZone")) or UTC
    s_local = ev["_start"].astimezone(zone)
    e_local = ev["_end"].astimezone(zone)
    midnight = all(x.time() == time(0) for x in (s_local, e_local))
    if (
        not midnight
        or e_local.date() <= s_local.date()
        or ev.get("originalStartTimeZone") != ev.get("originalEndTimeZone")
    ):
        if settings.get("strict_all_day", True):
            # [A] code unverified; the service does reject non-midnight all-day bounds.
            raise bad_request(
                "The start and end of an all-day event must be at midnight, in the same time zone, "
                "and the end must be after the start.",
                code="ErrorInvalidRequest",
            )
        # Lenient mode: move outward to the surrounding midnights like legacy EWS did.
        s_day = s_local.date()
        e_day = e_local.date() if e_local.time() == time(0) else e_local.date() + timedelta(days=1)
        if e_day <= s_day:
            e_day = s_day + timedelta(days=1)
        ev["_start"] = datetime.combine(s_day, time(0), zone).astimezone(UTC)
        ev["_end"] = datetime.combine(e_day, time(0), zone).astimezone(UTC)
        s_local, e_local = ev["_start"].astimezone(zone), ev["_end"].astimezone(zone)
    ev["_all_day_dates"] = (s_local.date(), e_local.date())


def blank_event(mailbox, organizer_email):
    now = timezones.now_utc()
    return {
        "id": new_id(),
        "_mailbox": mailbox,
        "createdDateTime": now,
        "lastModifiedDateTime": now,
        "changeKey": new_change_key(),
        "categories": [],
        "originalStartTimeZone": "UTC",
        "originalEndTimeZone": "UTC",
        "iCalUId": new_ical_uid(),
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": True,
        "hasAttachments": False,
        "subject": "",
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": False,
        "isCancelled": False,
        "isOrganizer": True,
        "responseRequested": True,
        "seriesMasterId": None,
        "showAs": "busy",
        "type": "singleInstance",
        "isOnlineMeeting": False,
        "onlineMeetingProvider": "unknown",
        "allowNewTimeProposals": True,
        "hideAttendees": False,
        "isDraft": False,
        "onlineMeetingUrl": None,
        "onlineMeeting": None,
        "responseStatus": {"response": "organizer", "time": NEVER},
        "body": {"contentType": "html", "content": ""},
        "location": _location(None),
        "locations": [],
        "recurrence": None,
        "attendees": [],
        "organizer": {"emailAddress": dict(organizer_email)},
        "transactionId": None,
    }


def touch(ev):
    ev["changeKey"] = new_change_key()
    ev["lastModifiedDateTime"] = timezones.now_utc()


# ----------------------------------------------------------------- recurrence view


def series_zone(master):
    rec = master.get("recurrence") or {}
    name = (rec.get("range") or {}).get("recurrenceTimeZone") or master.get("originalStartTimeZone")
    return timezones.resolve(name) or UTC


def occurrence_for(master, day):
    """A virtual occurrence of `master` on local date `day` (not stored)."""
    zone = series_zone(master)
    s_local = master["_start"].astimezone(zone)
    duration = master["_end"] - master["_start"]
    start = datetime.combine(day, s_local.timetz().replace(tzinfo=None), zone).astimezone(UTC)
    occ = copy.deepcopy({k: v for k, v in master.items() if k not in ("_exceptions",)})
    occ.update(
        {
            "id": occurrence_id(master["id"], day),
            "type": "occurrence",
            "seriesMasterId": master["id"],
            "recurrence": None,
            "_start": start,
            "_end": start + duration,
            "_occ_date": day,
            "iCalUId": master["iCalUId"][:-16]
            + hashlib.sha1(f"{master['iCalUId']}{day}".encode()).hexdigest()[:16].upper(),
            "transactionId": None,
        }
    )
    if master.get("_all_day_dates"):
        span = master["_all_day_dates"][1] - master["_all_day_dates"][0]
        occ["_all_day_dates"] = (day, day + span)
    return occ


def series_instances(mailbox_events, master, window_start, window_end):
    """Occurrences and exceptions of a series that overlap [window_start, window_end)."""
    zone = series_zone(master)
    first = master["_start"].astimezone(zone).date()
    until = window_end.astimezone(zone).date() + timedelta(days=1)
    out = []
    deleted = master.get("_deleted_occurrences", set())
    for day in recurrence.occurrence_dates(master["recurrence"], first, until):
        if day in deleted:
            continue
        oid = occurrence_id(master["id"], day)
        item = mailbox_events.get(oid) or occurrence_for(master, day)
        if overlaps(item, window_start, window_end):
            out.append(item)
    return out


def overlaps(ev, window_start, window_end):
    # Zero-length events at the window start still count, as in Outlook.
    return ev["_start"] < window_end and (ev["_end"] > window_start or ev["_start"] >= window_start)


def calendar_view(mailbox_events, window_start, window_end):
    """What GET /calendarView returns: singles, occurrences and exceptions; no masters."""
    out = []
    for ev in list(mailbox_events.values()):
        if ev["type"] == "seriesMaster":
            out.extend(series_instances(mailbox_events, ev, window_start, window_end))
        elif ev["type"] == "singleInstance" and overlaps(ev, window_start, window_end):
            out.append(ev)
    out.sort(key=lambda e: (e["_start"], e["id"]))
    return out


def lookup(mailbox_events, event_id):
    """Stored event or a virtual occurrence for `event_id` (default or immutable form); None if absent."""
    event_id = to_default(event_id)
    ev = mailbox_events.get(event_id)
    if ev is not None:
        return ev
    parsed = parse_occurrence_id(event_id)
    if not parsed:
        return None
    master = mailbox_events.get(parsed[0])
    if not master or master["type"] != "seriesMaster" or parsed[1] in master.get("_deleted_occurrences", set()):
        return None
    zone = series_zone(master)
    first = master["_start"].astimezone(zone).date()
    if parsed[1] not in recurrence.occurrence_dates(master["recurrence"], first, parsed[1]):
        return None
    return occurrence_for(master, parsed[1])


# ----------------------------------------------------------------- output

_TAG_RE = re.compile(r"<[^>]+>")


def html_to_text(content):
    text = re.sub(r"(?is)<(script|style|head)[^>]*>.*?</\1>", "", content)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)
    text = html.unescape(_TAG_RE.sub("", text))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def body_as(body, wanted):
    ctype, content = body["contentType"], body["content"]
    if wanted == "text":
        return {"contentType": "text", "content": html_to_text(content) if ctype == "html" else content}
    if ctype == "text":
        content = html.escape(content).replace("\n", "<br>\r\n")
    if not content.lstrip().lower().startswith("<html"):
        content = f"<html><head></head><body>{content}</body></html>"
    return {"contentType": "html", "content": content}


def preview(body):
    text = html_to_text(body["content"]) if body["contentType"] == "html" else body["content"]
    return re.sub(r"\s+", " ", text).strip()[:255]


def render(ev, prefs, base_url):
    """JSON for one stored or virtual event."""
    out = {"@odata.etag": f'W/"{ev["changeKey"]}"'}
    for key, value in ev.items():
        if key.startswith("_") or key == "transactionId":
            continue
        out[key] = copy.deepcopy(value)
    if ev.get("transactionId"):
        out["transactionId"] = ev["transactionId"]
    out["createdDateTime"] = timezones.fmt_utc_stamp(ev["createdDateTime"])
    out["lastModifiedDateTime"] = timezones.fmt_utc_stamp(ev["lastModifiedDateTime"])
    zone_name = prefs.get("timezone")
    if ev.get("_all_day_dates"):
        # All-day events stay midnight-to-midnight whatever the Prefer header says (GRAPH_FACTS §1.3).
        for key, day in zip(("start", "end"), ev["_all_day_dates"], strict=False):
            out[key] = {"dateTime": day.isoformat() + "T00:00:00.0000000", "timeZone": zone_name or "UTC"}
    else:
        out["start"] = timezones.fmt_local(ev["_start"], zone_name)
        out["end"] = timezones.fmt_local(ev["_end"], zone_name)
    out["body"] = body_as(ev["body"], prefs.get("body") or "html")
    out["bodyPreview"] = preview(ev["body"])
    if ev["type"] in ("occurrence", "exception"):
        out["originalStart"] = timezones.fmt_utc_stamp(ev.get("_original_start", ev["_start"]))[:-9] + "Z"
    out["webLink"] = f"{base_url}/_emulator/ui/event?id={ev['id']}"
    if prefs.get("immutable"):
        out["id"] = to_immutable(ev["id"])
        if out.get("seriesMasterId"):
            out["seriesMasterId"] = to_immutable(out["seriesMasterId"])
    if ev["type"] == "seriesMaster":
        # "occurrenceId property values of cancelled instances in a recurring series, if the event is the
        # series master" (https://learn.microsoft.com/en-us/graph/api/resources/event, cancelledOccurrences;
        # GRAPH_FACTS §11: OID.<masterId>.<date>).
        out["cancelledOccurrences"] = [
            f"OID.{out['id']}.{day.isoformat()}" for day in sorted(ev.get("_deleted_occurrences") or ())
        ]
    wanted = prefs.get("expand_svep")
    if wanted:
        # Only the properties named in $expand=singleValueExtendedProperties($filter=id eq '…') come back;
        # "You can't use the REST API to get all the extended properties of a specific instance in one call"
        # (https://learn.microsoft.com/en-us/graph/api/resources/extended-properties-overview).
        props = [
            {"id": p["id"], "value": p["value"]}
            for p in ev.get("_singleValueExtendedProperties", ())
            if any(xprops.same_id(p["id"], w) for w in wanted)
        ]
        if props:
            out["singleValueExtendedProperties"] = props
    return out


def delta_occurrence(rendered):
    """An occurrence as calendarView delta sends it: only these properties (GRAPH_FACTS §10, [T]
    https://github.com/microsoftgraph/microsoft-graph-docs/issues/7632)."""
    keep = ("@odata.type", "@odata.etag", "id", "seriesMasterId", "type", "start", "end")
    return {k: rendered[k] for k in keep if k in rendered}


def select_fields(rendered, select):
    if not select:
        return rendered
    keep = {s.strip() for s in select.split(",") if s.strip()} | {"id", "@odata.etag", "@odata.type", "@removed"}
    keep.add("singleValueExtendedProperties")  # present only when $expand asked for it
    return {k: v for k, v in rendered.items() if k in keep}
