"""Injected faults and Graph's own Outlook limits (GRAPH_FACTS §4).

A fault rule targets one mailbox (by UPN or id) or all of them, optionally one
method or path fragment, and fires `count` times (None = until cleared).

`after_commit=True` makes a "drop" or "status" rule fire after the request was carried out: the
change is stored (and notified) but the client never sees the answer — the connection is closed,
or the answer is replaced by the status error (504 GatewayTimeout, …). This is the lost-answer
path of a create that did happen, which Graph clients must recover from (GRAPH_FACTS §10: a retried
create then meets ErrorDuplicateTransactionId). Inside a $batch, a status rule replaces that
item's answer; a drop rule lets the whole batch run and then closes the connection, so every
item's answer is lost together.

Latency and dropped connections belong to an HTTP round trip: a $batch is one
round trip, delayed or dropped as a whole. Status faults belong to a Graph
operation: each request inside a $batch can fail on its own (per-item 429)."""

import itertools
import time

from .errors import DropConnection, GraphError, throttled

KINDS = {"latency", "status", "drop"}
TRANSPORT_KINDS = ("latency", "drop")
_ids = itertools.count(1)

STATUS_ERRORS = {
    429: ("TooManyRequests", "Please retry again later."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable. Please retry later."),
    504: ("GatewayTimeout", "The gateway did not receive a timely response from the upstream server."),
    500: ("InternalServerError", "An internal server error occurred."),
    502: ("BadGateway", "Bad gateway."),
    412: (
        "ErrorIrresolvableConflict",
        "The send or update operation could not be performed because the change key "
        "passed in the request does not match the current change key for the item.",
    ),
}


def add(state, rule):
    rule = dict(rule)
    kind = rule.get("kind") or ("latency" if rule.get("latency_ms") else "status")
    if kind not in KINDS:
        raise ValueError(f"fault kind must be one of {sorted(KINDS)}")
    if rule.get("after_commit") and kind not in ("drop", "status"):
        raise ValueError("after_commit applies to 'drop' and 'status' rules")
    if kind == "status" and int(rule.get("status") or 0) not in STATUS_ERRORS:
        raise ValueError(f"status fault needs status in {sorted(STATUS_ERRORS)}")
    mailbox = rule.get("mailbox")
    if mailbox and state.find_mailbox(mailbox) is None:
        raise ValueError(f"unknown mailbox {mailbox}")
    stored = {
        "id": next(_ids),
        "kind": kind,
        "mailbox": state.find_mailbox(mailbox).id if mailbox else None,
        "mailboxUpn": state.find_mailbox(mailbox).upn if mailbox else None,
        "status": int(rule.get("status") or 0) or None,
        "count": rule.get("count"),
        "retry_after": rule.get("retry_after", 1),
        "latency_ms": int(rule.get("latency_ms") or 0),
        "method": (rule.get("method") or "").upper() or None,
        "path_contains": rule.get("path_contains"),
        "after_commit": bool(rule.get("after_commit")),
        "fired": 0,
    }
    state.faults.append(stored)
    return dict(stored)


def take(state, mailbox_id, req, kinds=KINDS, after_commit=False):
    """Rules of these kinds (and phase) that fire for this request; consumes their counts.

    mailbox_id may be a collection (an app-only $batch addressing several mailboxes): a mailbox rule fires
    when any of them is its mailbox."""
    ids = {mailbox_id} if isinstance(mailbox_id, str) or mailbox_id is None else set(mailbox_id)
    fired = []
    with state.lock:
        for rule in list(state.faults):
            if rule["kind"] not in kinds or bool(rule.get("after_commit")) != after_commit:
                continue
            if rule["mailbox"] and rule["mailbox"] not in ids:
                continue
            if rule["method"] and rule["method"] != req.method:
                continue
            if rule["path_contains"] and rule["path_contains"] not in req.path:
                continue
            if rule["count"] is not None and rule["fired"] >= int(rule["count"]):
                continue
            rule["fired"] += 1
            fired.append(dict(rule))
            if rule["count"] is not None and rule["fired"] >= int(rule["count"]):
                state.faults.remove(rule)
    return fired


def apply(state, mailbox_id, req):
    """Sleep / drop / raise as the matching rules say. Call without holding state.lock.

    Inside a $batch only status faults apply: the batch's own round trip took
    the latency and drop rules (see apply_transport).
    """
    rules = take(state, mailbox_id, req, ("status",) if req.in_batch else KINDS)
    _transport(rules)
    for rule in rules:
        if rule["kind"] == "status":
            raise status_error(rule)


def apply_after(state, mailbox_id, req):
    """After a request succeeded: lose its answer if an after_commit rule says so.

    Returns a GraphError to answer instead, or None. A drop raises DropConnection, except inside a
    $batch, where it marks the request (req.lost_answer) so the batch drops its whole answer once
    every item has run."""
    rules = take(state, mailbox_id, req, ("drop", "status"), after_commit=True)
    if any(rule["kind"] == "drop" for rule in rules):
        if req.in_batch:
            req.lost_answer = True
        else:
            raise DropConnection()
    for rule in rules:
        if rule["kind"] == "status":
            return status_error(rule)
    return None


def status_error(rule):
    """The GraphError a status rule answers with (429 and 503 carry their Retry-After)."""
    status = rule["status"]
    code, message = STATUS_ERRORS[status]
    if status == 429:
        return throttled(rule["retry_after"], code, message)
    headers = {"Retry-After": str(rule["retry_after"])} if status == 503 and rule["retry_after"] else {}
    return GraphError(status, code, message, headers=headers)


def apply_transport(state, mailbox_id, req):
    """Latency and drop rules for a request whose operations are handled elsewhere ($batch)."""
    _transport(take(state, mailbox_id, req, TRANSPORT_KINDS))


def _transport(rules):
    for rule in rules:
        if rule["kind"] == "latency":
            time.sleep(rule["latency_ms"] / 1000.0)
    if any(rule["kind"] == "drop" for rule in rules):
        raise DropConnection()


class Limits:
    """Graph's per-mailbox concurrency (4) and request budget (10,000 / 10 min)."""

    def __init__(self, state):
        self.state = state

    def enter(self, mailbox_id, client_id):
        s = self.state
        with s.lock:
            key = (client_id, mailbox_id)
            s.inflight[key] += 1
            if s.inflight[key] > int(s.settings["max_concurrent_per_mailbox"]):
                s.inflight[key] -= 1
                raise throttled(1, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
            now = time.monotonic()
            window = float(s.settings["mailbox_budget_window"])
            hits = s.budget[key]
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= int(s.settings["mailbox_budget"]):
                s.inflight[key] -= 1
                retry = max(1, int(hits[0] + window - now) + 1)
                raise throttled(retry, "ApplicationThrottled", "Application is over its MailboxRequests limit.")
            hits.append(now)
        return key

    def leave(self, key):
        with self.state.lock:
            self.state.inflight[key] -= 1
