"""calendarView delta (facts §2.1).

Each round compares the window's current items with the snapshot the client's
token stands for, so changes, deletions and items that left the window all come
out, the latter two as @removed tombstones. Tokens are opaque keys into
state.delta_tokens; the window is fixed per token."""

import copy
import secrets

from . import events as E
from . import timezones
from .errors import GraphError

DEFAULT_PAGE = 10


def _new_token():
    return secrets.token_urlsafe(24)


def handle(state, mb, req, link_base, prefs, base_url):
    """Returns (body, extra_headers). Caller holds state.lock."""
    q = req.query
    if mb.delta_reset and ("$deltatoken" in q or "$skiptoken" in q):
        mb.delta_reset = False
        raise GraphError(
            410,
            "resyncRequired",
            "A resync is required; the delta state was reset. Start again from the Location URL.",
            headers={"Location": f"{link_base}?$deltatoken="},
        )
    if "$skiptoken" in q or "$deltatoken" in q:
        token = q.get("$skiptoken") or q.get("$deltatoken")
        rec = state.delta_tokens.get(token)
        if rec is None or rec["mailbox"] != mb.id or rec["generation"] != mb.delta_generation:
            gen = rec["generation"] if rec else 0
            raise GraphError(
                410,
                "SyncStateNotFound",
                f"The sync state generation is not found; generation={gen};[highest={mb.delta_generation}]",
            )
        if "$skiptoken" in q:
            if rec["kind"] != "skip":
                raise GraphError(400, "ErrorInvalidUrlQuery", "The $skiptoken is not valid.")
            return _page(state, mb, rec, link_base, prefs, base_url)
        if rec["kind"] != "delta":
            raise GraphError(400, "ErrorInvalidUrlQuery", "The $deltatoken is not valid.")
        return _start_round(state, mb, rec["start"], rec["end"], rec["snapshot"], link_base, prefs, base_url)
    for banned in ("$select", "$expand", "$filter", "$orderby", "$search"):
        if banned in q:
            raise GraphError(
                400,
                "ErrorInvalidUrlQuery",
                (
                    "The following parameters are not supported with change tracking over the 'CalendarView' resource: "
                    f"'{banned}'."
                ),
            )
    if not q.get("startDateTime") or not q.get("endDateTime"):
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            (
                "This request requires a time window specified by the query string parameters StartDateTime and "
                "EndDateTime."
            ),
        )
    start = timezones.parse_query_datetime(q["startDateTime"], "startDateTime")
    end = timezones.parse_query_datetime(q["endDateTime"], "endDateTime")
    return _start_round(state, mb, start, end, {}, link_base, prefs, base_url)


def _start_round(state, mb, start, end, snapshot, link_base, prefs, base_url):
    current = E.calendar_view(mb.events, start, end)
    now = {ev["id"]: ev["changeKey"] for ev in current}
    pending = [("event", copy.deepcopy(ev)) for ev in current if snapshot.get(ev["id"]) != ev["changeKey"]]
    pending += [("removed", eid) for eid in snapshot if eid not in now]
    rec = {
        "kind": "skip",
        "mailbox": mb.id,
        "generation": mb.delta_generation,
        "start": start,
        "end": end,
        "pending": pending,
        "new_snapshot": now,
    }
    return _page(state, mb, rec, link_base, prefs, base_url)


def _page(state, mb, rec, link_base, prefs, base_url):
    size = prefs.get("maxpagesize") or DEFAULT_PAGE
    items, rest = rec["pending"][:size], rec["pending"][size:]
    value = []
    for kind, item in items:
        if kind == "removed":
            value.append({"@odata.type": "#microsoft.graph.event", "id": item, "@removed": {"reason": "deleted"}})
        else:
            value.append(dict({"@odata.type": "#microsoft.graph.event"}, **E.render(item, prefs, base_url)))
    body = {"@odata.context": f"{base_url}/v1.0/$metadata#Collection(event)"}
    token = _new_token()
    if rest:
        state.delta_tokens[token] = dict(rec, pending=rest)
        body["@odata.nextLink"] = f"{link_base}?$skiptoken={token}"
    else:
        state.delta_tokens[token] = {
            "kind": "delta",
            "mailbox": mb.id,
            "generation": rec["generation"],
            "start": rec["start"],
            "end": rec["end"],
            "snapshot": rec["new_snapshot"],
        }
        body["@odata.deltaLink"] = f"{link_base}?$deltatoken={token}"
    body["value"] = value
    return body
