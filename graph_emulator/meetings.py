"""Mailbox operations with Exchange's cross-mailbox effects.

The organizer's event is the source of truth: tenant attendees get a copy in their
own mailbox (same iCalUId, own id), updates flow to the copies, deletes/cancels mark
them cancelled, and responses flow back. Every message Exchange would send is
recorded in state.invitations (GRAPH_FACTS §1.4). Callers hold state.lock."""

import copy

from . import events as E
from .errors import GraphError, bad_request, not_found

SHARED_FIELDS = (
    "subject",
    "body",
    "_start",
    "_end",
    "_start_text",
    "_end_text",
    "_all_day_dates",
    "isAllDay",
    "location",
    "locations",
    "attendees",
    "organizer",
    "recurrence",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "importance",
    "sensitivity",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "onlineMeeting",
    "hideAttendees",
    "allowNewTimeProposals",
    "type",
    "_deleted_occurrences",
    "seriesMasterId",
    "_original_start",
    "_occ_date",
)
CANCELED_PREFIX = "Canceled: "


def _addr(att):
    return (att["emailAddress"].get("address") or "").lower()


def _is_meeting_organizer(ev):
    return ev.get("isOrganizer") and not ev.get("_external_organizer")


# ------------------------------------------------------------------ create


def create_event(state, mb, payload):
    """POST /events. Returns (event, created: bool)."""
    E.check_properties(payload)
    tx = payload.get("transactionId")
    if tx:
        for existing in mb.events.values():
            if existing.get("transactionId") == tx:
                # A replayed create is refused and the answer does not carry the existing event (GRAPH_FACTS §10;
                # [T] https://github.com/alcionai/corso/issues/2490, fixed by alcionai/corso#2611 which
                # discusses "the specific transactionID collision error"). Some clients report 409 for it;
                # the emulator answers 400 as GRAPH_FACTS §10 says.
                raise GraphError(
                    400,
                    "ErrorDuplicateTransactionId",
                    "The TransactionId specified in the request has already been used to create a different event.",
                )
    ev = E.blank_event(mb.id, mb.email())
    E.apply_input(ev, payload, state.settings, creating=True)
    ev["type"] = "seriesMaster" if ev.get("recurrence") else "singleInstance"
    if ev["type"] == "seriesMaster" and ev["recurrence"]:
        # Exchange sets the range start to the first occurrence's date when omitted or earlier.
        pass
    mb.events[ev["id"]] = ev
    state.notify(mb, "created", ev)
    if ev["attendees"]:
        for att in ev["attendees"]:
            if _addr(att) != mb.upn.lower():
                state.record_invitation("request", mb.email(), att["emailAddress"], ev)
        _sync_copies(state, mb, ev, previous=[])
    return ev, True


# ------------------------------------------------------------------ update


def get_event(mb, event_id):
    if not E.is_well_formed(event_id):
        # An id the service could never have issued is refused before any lookup:
        # [T] "Id is malformed." for the id "285", https://github.com/betagouv/rdv-service-public/issues/3539.
        raise bad_request("Id is malformed.", code="ErrorInvalidIdMalformed")
    ev = E.lookup(mb.events, event_id)
    if ev is None:
        raise not_found()
    return ev


def check_if_match(ev, if_match):
    if (
        if_match
        and if_match.strip() != "*"
        and if_match.strip() != f'W/"{ev["changeKey"]}"'
        and if_match.strip() != ev["changeKey"]
    ):
        raise GraphError(
            412,
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change key passed in the "
            "request does not match the current change key for the item.",
        )


def _materialize(mb, ev):
    """Editing an occurrence turns it into a stored exception."""
    if ev["type"] != "occurrence":
        return ev
    master = mb.events[ev["seriesMasterId"]]
    ev = copy.deepcopy(ev)
    ev["type"] = "exception"
    ev["_original_start"] = ev["_start"]
    ev["createdDateTime"] = master["createdDateTime"]
    mb.events[ev["id"]] = ev
    return ev


def update_event(state, mb, event_id, payload, if_match=None):
    ev = get_event(mb, event_id)
    check_if_match(ev, if_match)
    E.check_properties(payload)
    if "transactionId" in payload and payload["transactionId"] != ev.get("transactionId"):
        raise bad_request("The property 'TransactionId' can't be changed after the item is created.")
    if ev["type"] in ("occurrence", "exception") and "recurrence" in payload and payload["recurrence"]:
        raise bad_request("Recurrence can only be set on a series master.")
    # Validate on a scratch copy first so a failed PATCH changes nothing.
    scratch = copy.deepcopy(ev)
    changed = E.apply_input(scratch, payload, state.settings, creating=False)
    before = {k: copy.deepcopy(ev.get(k)) for k in ("_start", "_end", "recurrence")}
    was_stored_occurrence = ev["type"] == "occurrence"
    target = _materialize(mb, ev) if was_stored_occurrence else ev
    previous_attendees = copy.deepcopy(target["attendees"])
    for key in list(scratch):
        if key not in ("id", "type", "_original_start", "createdDateTime"):
            target[key] = scratch[key]
    if target["type"] == "singleInstance" and target.get("recurrence"):
        target["type"] = "seriesMaster"
    elif target["type"] == "seriesMaster" and not target.get("recurrence") and "recurrence" in payload:
        target["type"] = "singleInstance"
        _drop_exceptions(state, mb, target)
    if target["type"] == "seriesMaster" and changed & {"start", "end", "recurrence"} and _regenerates(before, target):
        # "Changing the master's pattern or start regenerates the occurrences and drops the exceptions of
        # the old pattern" (GRAPH_FACTS §11). The same values sent again change nothing (a PATCH carrying the
        # whole event, as a sync sends it, keeps the exceptions); a new range end keeps those inside it.
        _drop_exceptions(state, mb, target)
    E.touch(target)
    if target["type"] == "exception":
        master = mb.events[target["seriesMasterId"]]
        E.touch(master)
        # "A change to one occurrence is notified with the master's id as the resource" (GRAPH_FACTS §11,
        # Microsoft Q&A 1445179).
        state.notify(mb, "updated", master)
    else:
        state.notify(mb, "updated", target)
    if _is_meeting_organizer(target) and (target["attendees"] or previous_attendees):
        carried = set(payload) & (E.MEETING_FIELDS | {"attendees"})
        _send_updates(state, mb, target, previous_attendees, carried)
        if target["type"] == "seriesMaster" and carried & E.MEETING_FIELDS:
            _send_exception_updates(state, mb, target)
        _sync_copies(state, mb, target, previous_attendees)
    return target


def _regenerates(before, master):
    """True when a master's pattern, start or end changed (not only its range)."""
    old_rec, new_rec = before.get("recurrence") or {}, master.get("recurrence") or {}
    return (
        before["_start"] != master["_start"]
        or before["_end"] != master["_end"]
        or old_rec.get("pattern") != new_rec.get("pattern")
        or bool(old_rec) != bool(new_rec)
    )


def _send_exception_updates(state, mb, master):
    """PATCHing the master of a series with separately edited instances sends one update per such
    instance too (GRAPH_FACTS §11: "sends several notification emails")."""
    me = mb.upn.lower()
    for ex in [v for v in mb.events.values() if v.get("seriesMasterId") == master["id"] and v["type"] == "exception"]:
        for att in ex["attendees"]:
            if _addr(att) != me:
                state.record_invitation("update", mb.email(), att["emailAddress"], ex)


def _drop_exceptions(state, mb, master):
    for oid in [k for k, v in mb.events.items() if v.get("seriesMasterId") == master["id"]]:
        state.notify(mb, "deleted", mb.events.pop(oid))
    master["_deleted_occurrences"] = set()


def _send_updates(state, mb, ev, previous, carried):
    before = {_addr(a): a for a in previous}
    after = {_addr(a): a for a in ev["attendees"]}
    me = mb.upn.lower()
    for key, att in after.items():
        if key == me:
            continue
        if key not in before:
            state.record_invitation("request", mb.email(), att["emailAddress"], ev)
        elif carried & E.MEETING_FIELDS or before[key]["type"] != att["type"]:
            state.record_invitation("update", mb.email(), att["emailAddress"], ev)
    for key, att in before.items():
        if key not in after and key != me:
            state.record_invitation("cancel", mb.email(), att["emailAddress"], ev)


# ------------------------------------------------------------------ copies in attendee mailboxes


def _find_copy(mb, org_mb, ev):
    for item in mb.events.values():
        link = item.get("_organizer_event")
        if link and link == (org_mb.id, ev["id"]):
            return item
    return None


def _sync_copies(state, org_mb, ev, previous):
    now_addrs = {_addr(a) for a in ev["attendees"]}
    for att in ev["attendees"]:
        target = state.find_mailbox(att["emailAddress"]["address"])
        if target is None or target is org_mb:
            continue
        if ev["type"] == "exception":
            _sync_exception_copy(state, org_mb, target, ev)
            continue
        existing = _find_copy(target, org_mb, ev)
        if existing is None:
            cp = E.blank_event(target.id, ev["organizer"]["emailAddress"])
            for key in (*SHARED_FIELDS, "iCalUId"):
                if key in ev:
                    cp[key] = copy.deepcopy(ev[key])
            cp.update(
                {
                    "isOrganizer": False,
                    # The attendee's own copy of an unanswered meeting (GRAPH_FACTS §10, responseStatus docs:
                    # https://learn.microsoft.com/en-us/graph/api/resources/responsestatus).
                    "responseStatus": {"response": "notResponded", "time": E.NEVER},
                    "showAs": "tentative",
                    "_organizer_event": (org_mb.id, ev["id"]),
                    "categories": [],
                }
            )
            target.events[cp["id"]] = cp
            state.notify(target, "created", cp)
        else:
            for key in SHARED_FIELDS:
                if key in ev:
                    existing[key] = copy.deepcopy(ev[key])
            if existing.get("isCancelled"):
                existing["isCancelled"] = False
            E.touch(existing)
            state.notify(target, "updated", existing)
    for att in previous:
        if _addr(att) in now_addrs:
            continue
        target = state.find_mailbox(att["emailAddress"]["address"])
        if target is None or target is org_mb:
            continue
        existing = _find_copy(target, org_mb, ev)
        if existing is not None:
            _mark_cancelled(state, target, existing)


def _sync_exception_copy(state, org_mb, target, ev):
    org_master = org_mb.events.get(ev["seriesMasterId"])
    copy_master = _find_copy(target, org_mb, org_master) if org_master else None
    if copy_master is None:
        return
    oid = E.occurrence_id(copy_master["id"], ev["_occ_date"])
    cp = target.events.get(oid) or E.lookup(target.events, oid)
    if cp is None:
        return
    cp = _materialize(target, cp)
    for key in SHARED_FIELDS:
        if key in ev and key not in ("seriesMasterId",):
            cp[key] = copy.deepcopy(ev[key])
    cp["id"], cp["seriesMasterId"] = oid, copy_master["id"]
    E.touch(cp)
    state.notify(target, "updated", cp)


def _mark_cancelled(state, mb, ev):
    ev["isCancelled"] = True
    if not ev["subject"].startswith(CANCELED_PREFIX):
        ev["subject"] = CANCELED_PREFIX + ev["subject"]
    E.touch(ev)
    state.notify(mb, "updated", ev)


# ------------------------------------------------------------------ delete / cancel


def delete_event(state, mb, event_id, if_match=None, comment=None):
    ev = get_event(mb, event_id)
    check_if_match(ev, if_match)
    if ev["type"] == "occurrence" or ev["type"] == "exception":
        master = mb.events[ev["seriesMasterId"]]
        master.setdefault("_deleted_occurrences", set()).add(ev["_occ_date"])
        if ev["type"] == "exception":
            mb.events.pop(ev["id"], None)
            state.notify(mb, "deleted", ev)
        E.touch(master)
        state.notify(mb, "updated", master)
        if _is_meeting_organizer(master):
            for att in master["attendees"]:
                if _addr(att) != mb.upn.lower():
                    state.record_invitation("cancel", mb.email(), att["emailAddress"], ev, comment=comment)
            for att in master["attendees"]:
                target = state.find_mailbox(att["emailAddress"]["address"])
                cp = _find_copy(target, mb, master) if target and target is not mb else None
                if cp is not None:
                    cp.setdefault("_deleted_occurrences", set()).add(ev["_occ_date"])
                    target.events.pop(E.occurrence_id(cp["id"], ev["_occ_date"]), None)
                    E.touch(cp)
                    state.notify(target, "updated", cp)
        return
    mb.events.pop(ev["id"], None)
    for oid in [k for k, v in mb.events.items() if v.get("seriesMasterId") == ev["id"]]:
        mb.events.pop(oid)
    state.notify(mb, "deleted", ev)
    if _is_meeting_organizer(ev) and ev["attendees"] and not ev.get("isCancelled"):
        for att in ev["attendees"]:
            if _addr(att) == mb.upn.lower():
                continue
            state.record_invitation("cancel", mb.email(), att["emailAddress"], ev, comment=comment)
            target = state.find_mailbox(att["emailAddress"]["address"])
            cp = _find_copy(target, mb, ev) if target and target is not mb else None
            if cp is not None:
                _mark_cancelled(state, target, cp)


def cancel_event(state, mb, event_id, comment=None):
    ev = get_event(mb, event_id)
    if not ev.get("isOrganizer") or ev.get("_external_organizer"):
        # [A] code unverified; message from the event-cancel page.
        raise bad_request(
            "Your request can't be completed. You need to be an organizer to cancel a meeting.",
            code="ErrorAccessDenied",
        )
    delete_event(state, mb, event_id, comment=comment)


# ------------------------------------------------------------------ responses


RESPONSE_ACTIONS = {"accept": "accepted", "decline": "declined", "tentativelyAccept": "tentativelyAccepted"}


def respond(state, mb, event_id, action, payload):
    ev = get_event(mb, event_id)
    if ev.get("isOrganizer"):
        raise bad_request(
            "Your request can't be completed. You can't respond to this meeting because you're the meeting organizer.",
            code="ErrorInvalidRequest",
        )
    unknown = set(payload or {}) - {"comment", "sendResponse", "proposedNewTime"}
    if unknown:
        raise E.unknown_property(sorted(unknown)[0], f"microsoft.graph.{action}")
    response = RESPONSE_ACTIONS[action]
    send = (payload or {}).get("sendResponse", True)
    stamp = E.timezones.fmt_utc_stamp(E.timezones.now_utc())
    ev = _materialize(mb, ev) if ev["type"] == "occurrence" else ev
    ev["responseStatus"] = {"response": response, "time": stamp}
    ev["showAs"] = {"accepted": "busy", "tentativelyAccepted": "tentative", "declined": "free"}[response]
    E.touch(ev)
    organizer = ev["organizer"]["emailAddress"]
    if send:
        state.record_invitation(
            "response", mb.email(), organizer, ev, comment=(payload or {}).get("comment"), response=response
        )
    link = ev.get("_organizer_event")
    org_mb = state.mailboxes.get(link[0]) if link else None
    org_ev = org_mb.events.get(link[1]) if org_mb else None
    if org_ev is not None and send:
        for att in org_ev["attendees"]:
            if _addr(att) == mb.upn.lower():
                att["status"] = {"response": response, "time": stamp}
        E.touch(org_ev)
        state.notify(org_mb, "updated", org_ev)
    if response == "declined":
        # Declining moves the item to Deleted Items, so it leaves the calendar.
        mb.events.pop(ev["id"], None)
        state.notify(mb, "deleted", ev)
    else:
        state.notify(mb, "updated", ev)


# ------------------------------------------------------------------ invitations from outside the tenant


def receive_external(state, mb, organizer, payload):
    """An invitation sent by someone outside the tenant lands in `mb`."""
    ev = E.blank_event(mb.id, organizer)
    E.apply_input(ev, payload, state.settings, creating=True)
    ev["type"] = "seriesMaster" if ev.get("recurrence") else "singleInstance"
    ev.update(
        {
            "isOrganizer": False,
            "_external_organizer": True,
            "showAs": "tentative",
            "responseStatus": {"response": "notResponded", "time": E.NEVER},
        }
    )
    if "iCalUId" in payload:
        ev["iCalUId"] = payload["iCalUId"]
    mb.events[ev["id"]] = ev
    state.notify(mb, "created", ev)
    return ev


def external_update(state, mb, event_id, payload):
    ev = get_event(mb, event_id)
    E.apply_input(ev, payload, state.settings, creating=False)
    E.touch(ev)
    state.notify(mb, "updated", ev)
    return ev


def external_cancel(state, mb, event_id):
    ev = get_event(mb, event_id)
    _mark_cancelled(state, mb, ev)
    return ev


class OutlookUser:
    """In-process shortcut for 'the user does X in Outlook'; changes notify like any other."""

    def __init__(self, state, mb):
        self.state, self.mb = state, mb

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def _render(self, ev):
        return E.render(ev, {}, "")

    def create_event(self, payload):
        with self.state.lock:
            return self._render(create_event(self.state, self.mb, payload)[0])

    def update_event(self, event_id, payload):
        with self.state.lock:
            return self._render(update_event(self.state, self.mb, event_id, payload))

    def delete_event(self, event_id):
        with self.state.lock:
            delete_event(self.state, self.mb, event_id)

    def cancel_event(self, event_id, comment=None):
        with self.state.lock:
            cancel_event(self.state, self.mb, event_id, comment)

    def respond(self, event_id, action="accept", comment=None, send_response=True):
        with self.state.lock:
            respond(self.state, self.mb, event_id, action, {"comment": comment, "sendResponse": send_response})

    def receive_invitation(self, organizer, payload):
        with self.state.lock:
            return self._render(receive_external(self.state, self.mb, organizer, payload))
