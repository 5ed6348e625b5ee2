"""calendarView delta (GRAPH_FACTS §2.1).

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
            if rec.get("round") not in state.delta_rounds:
                raise GraphError(
                    410,
                    "SyncStateNotFound",
                    f"The sync state generation is not found; generation={rec['generation']};"
                    f"[highest={mb.delta_generation}]",
                )
            return _page(state, mb, rec["round"], rec["offset"], link_base, prefs, base_url)
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


# Old tokens are evicted, as Exchange's delta token cache does ("the token lifetime isn't fixed;
# it's dependent on the size of the internal delta token cache", delta-query-overview) [A: size].
MAX_TOKENS_PER_MAILBOX = 200


def window_items(mb, start, end):
    """What a calendarView delta round reports: calendarView's items plus the masters of the series
    that have instances in the window (GRAPH_FACTS §10: "the series master can appear")."""
    current = E.calendar_view(mb.events, start, end)
    masters = {ev["seriesMasterId"] for ev in current if ev.get("seriesMasterId")}
    current += [mb.events[m] for m in masters if m in mb.events]
    return current


def _start_round(state, mb, start, end, snapshot, link_base, prefs, base_url):
    current = window_items(mb, start, end)
    now = {ev["id"]: ev["changeKey"] for ev in current}
    pending = [("event", copy.deepcopy(ev)) for ev in current if snapshot.get(ev["id"]) != ev["changeKey"]]
    pending += [("removed", eid) for eid in snapshot if eid not in now]
    # One record per round; its skip tokens only point into it (small to keep and to persist).
    round_id = _new_token()
    state.delta_rounds[round_id] = {
        "mailbox": mb.id,
        "generation": mb.delta_generation,
        "start": start,
        "end": end,
        "pending": pending,
        "new_snapshot": now,
    }
    return _page(state, mb, round_id, 0, link_base, prefs, base_url)


def _item_json(item, prefs, base_url):
    rendered = dict({"@odata.type": "#microsoft.graph.event"}, **E.render(item, prefs, base_url))
    if item["type"] == "occurrence":
        return E.delta_occurrence(rendered)
    # A series master is sent in full; its start/end are its first occurrence's (the series start).
    return rendered


def _remember(state, mb, token, rec):
    state.delta_tokens[token] = rec
    mine = state.delta_tokens.keys_of(mb.id)
    for old in mine[: max(0, len(mine) - MAX_TOKENS_PER_MAILBOX)]:
        state.delta_tokens.pop(old, None)
    live = {r.get("round") for r in state.delta_tokens.values_of(mb.id)}  # a mailbox's tokens, its rounds
    for rid in [r for r in state.delta_rounds.keys_of(mb.id) if r not in live]:
        state.delta_rounds.pop(rid, None)


def _page(state, mb, round_id, offset, link_base, prefs, base_url):
    rnd = state.delta_rounds[round_id]
    size = prefs.get("maxpagesize") or DEFAULT_PAGE
    items = rnd["pending"][offset : offset + size]
    value = []
    for kind, item in items:
        if kind == "removed":
            eid = E.public_id(item, prefs.get("immutable"))
            value.append({"@odata.type": "#microsoft.graph.event", "id": eid, "@removed": {"reason": "deleted"}})
        else:
            value.append(_item_json(item, prefs, base_url))
    body = {"@odata.context": f"{base_url}/v1.0/$metadata#Collection(event)"}
    token = _new_token()
    if offset + size < len(rnd["pending"]):
        rec = {"kind": "skip", "mailbox": mb.id, "generation": rnd["generation"], "round": round_id}
        rec["offset"] = offset + size
        _remember(state, mb, token, rec)
        body["@odata.nextLink"] = f"{link_base}?$skiptoken={token}"
    else:
        rec = {
            "kind": "delta",
            "mailbox": mb.id,
            "generation": rnd["generation"],
            "start": rnd["start"],
            "end": rnd["end"],
            "snapshot": rnd["new_snapshot"],
        }
        _remember(state, mb, token, rec)
        body["@odata.deltaLink"] = f"{link_base}?$deltatoken={token}"
    body["value"] = value
    return body
