"""Odoo -> Outlook, step 2 of a push round (engine/pusher.py): plan each claimed row's
Graph request -- the record's own payload (its ``_o365_graph_payload`` hook) as a create,
an update or a delete, a lookup of a create whose answer was lost (E2), an invitation
answer (A17), or the listing of a series' occurrences (A16).

A mixin of ``PushRound``: it uses the round's ``env``, ``queue`` and ``now``.
"""

import logging
from datetime import datetime, timedelta

_logger = logging.getLogger(__name__)

RESCHEDULE_FLOOR = timedelta(seconds=2)


class PushRequests:
    """The request-building part of a push round (``PushRound`` in engine/pusher.py)."""

    def plan(self, account, rows):
        """The Graph request of each row: (plan, settled), settled being the rows that need none."""
        plan, settled = [], self.queue.browse()
        for row in rows:
            request = self.request(account, row)
            if request and request["kind"] == "later":
                # Its series is not in Outlook yet (its create waits or goes in this batch): next round.
                row.write({"next_attempt_at": self.now + RESCHEDULE_FLOOR})
                continue
            if request is None:
                settled |= row
            else:
                request["id"] = str(row.id)
                plan.append((row, request))
        return plan, settled

    def request(self, account, row):
        """The Graph request that brings this row's change to Outlook (an item of a $batch), or None."""
        link = self.queue.find_link(account, row.res_model, row.res_id)
        requests_ = account.event_requests()
        if row.operation == "answer":
            return self.answer_request(account, row, requests_)
        if row.occurrence_of and not (row.graph_event_id or link.graph_event_id):
            return self.occurrence_request(account, row, requests_)
        if row.operation == "delete":
            event_id = row.graph_event_id or link.graph_event_id
            if event_id:
                return {"kind": "delete", **requests_.delete_event(event_id)}
            if row.create_state == "sent":
                return {"kind": "lookup", **requests_.find_created(row.record_stamp())}
            return None  # never reached Outlook: nothing to remove
        record = self.env[row.res_model].browse(row.res_id).exists()
        if not record:
            return None  # gone before it could be pushed
        try:
            payload = record._o365_graph_payload(account)
        except Exception as exc:  # bad data in one record must not stop the batch
            _logger.warning("Cannot build the Outlook event of %s: %s", record, exc)
            return {"kind": "invalid", "method": "INVALID", "url": "", "error": str(exc)}
        if payload is None:
            return None
        if link.graph_event_id:
            return {"kind": "update", **requests_.update_event(link.graph_event_id, payload)}
        if row.create_state == "sent":
            # A create went out and its answer never came: find its event before creating another.
            return {"kind": "lookup", **requests_.find_created(row.record_stamp())}
        return {"kind": "create", **requests_.create_event(payload, row.transaction_id(), row.record_stamp())}

    def answer_request(self, account, row, requests_):
        """A17: the mailbox owner's answer to a meeting, given in Odoo, on their own copy of the
        invitation: found by the meeting's iCalUId first (a lookup), then answered."""
        record = self.env[row.res_model].browse(row.res_id).exists()
        target = record._o365_answer_target(account) if record else None
        if not target:
            return None  # no answer to give, or no Outlook meeting to give it on
        action, event_id, ical_uid = target
        event_id = event_id or row.graph_event_id
        if event_id:
            return {"kind": "answer", **requests_.answer_invitation(event_id, action)}
        return {"kind": "answer_lookup", **requests_.find_by_ical_uid(ical_uid)}

    # -- one occurrence of a series (SPEC A16) ---------------------------------------------------
    # A change or a removal of one occurrence of a recurring meeting (``row.occurrence_of``:
    # "<calendar.recurrence id>|<the occurrence's original start, naive UTC ISO>") goes to that
    # Outlook occurrence: first its id, listed by the series' ``instances`` (GRAPH_FACTS §11: use the id
    # the listing returns), then the PATCH (it becomes an exception) or the DELETE (that date is
    # cancelled) in the next round.

    def occurrence_request(self, account, row, requests_):
        recurrence_id, original = _occurrence_key(row.occurrence_of)
        series = self.queue.find_link(account, "calendar.recurrence", recurrence_id)
        if not series.graph_event_id:
            waiting = self.queue.search_count(
                [
                    ("account_id", "=", account.id),
                    ("res_model", "=", "calendar.recurrence"),
                    ("res_id", "=", recurrence_id),
                    ("operation", "=", "upsert"),
                    ("state", "=", "pending"),
                ]
            )
            return {"kind": "later"} if waiting and row.operation == "upsert" else None
        return {
            "kind": "occurrence",
            **requests_.list_instances(
                series.graph_event_id, original - timedelta(days=1), original + timedelta(days=2)
            ),
        }


def _occurrence_key(value):
    """(recurrence id, original start as naive UTC) of a row's ``occurrence_of``."""
    recurrence_id, original = value.split("|", 1)
    return int(recurrence_id), datetime.fromisoformat(original)
