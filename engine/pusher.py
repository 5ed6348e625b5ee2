"""Odoo -> Outlook: the push job (SPEC E1, E2, E6, E7, S7, O2).

A plain piece, like engine/importer.py: it gets cursors and records, never a model's
class. ``o365.push.queue`` holds the waiting changes (one row per mailbox and record);
``PushRunner`` is one run of a push cron over the due mailboxes (engine/runner.py says
how a run goes), and ``PushRound`` is one ``$batch`` of it:

1. **claim** up to 20 due rows of the mailbox (or of up to 20 mailboxes of the
   organisation's application, at most 4 each: O2), the longest waiting first;
2. **plan** each row's Graph request: the record's own payload (its
   ``_o365_graph_payload`` hook) as a create, an update or a delete, or a lookup of a
   create whose answer was lost (E2);
3. **commit**: the row locks go before signing in and talking to Graph, so a user's save
   never waits for Graph (E1) and bumps the row's ``seq`` instead;
4. **send** one ``$batch``; a lost sign-in stops the mailbox with "reconnect" (S7);
5. **settle** the answers: links made or updated, rows done, retried with backoff for up
   to 24 hours (``Retry-After`` a minimum), or failed with plain words on the record and
   the user's sync status (E2, S7); then commit.

Graph request shapes stay in utils/graph_client.py; what a record does when pushed is its
own hooks' business (``_o365_pushed``, ``_o365_push_failed``, ...).
"""

import logging
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import psycopg2

from odoo import SUPERUSER_ID, api, fields

from ..utils import plain_words
from ..utils.auth import AuthError
from ..utils.graph_client import (
    BATCH_LIMIT,
    DUPLICATE_TRANSACTION,
    MALFORMED_ID,
    GraphError,
    is_transient,
    parse_retry_after,
)
from ..utils.settings import read_int
from .runner import PUSH_CRON_XMLIDS, PUSH_LOCK_CLASS, SHARDS, MailboxRunner, mailbox_lock, run_time_budget

_logger = logging.getLogger(__name__)

MAX_ROUNDS = 500  # push batches per mailbox per run; the next run goes on from there
# Mailboxes of the organisation's application whose changes share one $batch (O2), and
# the changes of one mailbox in such a batch: Graph runs a batch's items concurrently,
# and Outlook allows 4 requests in flight per mailbox.
SHARED_BATCH_MAILBOXES = 20
SHARED_BATCH_PER_MAILBOX = 4
THROTTLED = 429
HEALTH_RESOLUTION = timedelta(seconds=60)  # "last successful exchange" is shown to the minute
RESCHEDULE_FLOOR = timedelta(seconds=2)


def push_due(env, *, cursor_factory=None, shard=0, shards=1, parallel=16):
    """One run of the push over this shard's due mailboxes, time-boxed under Odoo's cron
    time limit; then each shard's cron is woken when its next waiting change is due.
    Returns the run's counters (pushed, failed, mailboxes, mailboxes_left, ...)."""
    runner = PushRunner(
        env.registry,
        cursor_factory=cursor_factory,
        shard=shard,
        shards=shards,
        parallel=parallel,
        time_budget=run_time_budget(),
    )
    stats = runner.run()
    schedule_next_run(runner.cursor)
    return stats


def schedule_next_run(cursor_factory):
    """Wake each shard's cron when its next waiting change is due (retries, backoff).

    Not sooner than in a few seconds: a change left due now (its mailbox was busy with
    another worker) must not make the crons spin; the time-boxed leftovers are woken at
    once by the queue's ``_cron_push``."""
    with cursor_factory() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        cr.execute(
            """SELECT mod(q.account_id, %s), min(q.next_attempt_at) FROM o365_push_queue q
               JOIN o365_sync_account a ON a.id = q.account_id
               WHERE q.state = 'pending' AND a.sync_state = 'running' AND a.connection_state = 'connected'
               GROUP BY 1""",
            [SHARDS],
        )
        soonest = fields.Datetime.now() + RESCHEDULE_FLOOR
        for shard, at in cr.fetchall():
            cron = env.ref(PUSH_CRON_XMLIDS[shard], raise_if_not_found=False)
            if cron:
                cron._trigger(max(at, soonest))


class PushRunner(MailboxRunner):
    """The push job: ERP changes waiting in ``o365.push.queue`` go out as ``$batch`` rounds."""

    job = "push"
    cron_xmlids = PUSH_CRON_XMLIDS

    def due_work(self, cr):
        """Mailboxes with due changes, the longest waiting first: each on its own, except those
        of the organisation's application, which share batches in groups (O2)."""
        cr.execute(
            """SELECT q.account_id, a.connected_by = 'organization' FROM o365_push_queue q
               JOIN o365_sync_account a ON a.id = q.account_id
               WHERE q.state = 'pending' AND q.next_attempt_at <= %s
                 AND a.sync_state = 'running' AND a.connection_state = 'connected'
                 AND mod(q.account_id, %s) = %s
               GROUP BY q.account_id, a.connected_by
               ORDER BY min(q.next_attempt_at), q.account_id""",
            [fields.Datetime.now(), self.shards, self.shard],
        )
        rows = cr.fetchall()
        shared = [account_id for account_id, organization in rows if organization]
        units = [(account_id,) for account_id, organization in rows if not organization]
        groups = [tuple(shared[i : i + SHARED_BATCH_MAILBOXES]) for i in range(0, len(shared), SHARED_BATCH_MAILBOXES)]
        # The oldest waiting work first, whichever kind.
        order = {account_id: rank for rank, (account_id, _org) in enumerate(rows)}
        return sorted(units + groups, key=lambda unit: order[unit[0]])

    def work_on(self, account_id):
        with self.cursor() as lock_cr:
            if not mailbox_lock(lock_cr, PUSH_LOCK_CLASS, account_id):
                self.count(mailbox_busy=1)
                return
            for _round in range(MAX_ROUNDS):
                if self.past_deadline() or not self._round([account_id], batch_per_mailbox=None):
                    break

    def work_on_group(self, account_ids):
        """Mailboxes of the organisation's application: their changes share each $batch (O2)."""
        with self.cursor() as lock_cr:
            mine = [account_id for account_id in account_ids if mailbox_lock(lock_cr, PUSH_LOCK_CLASS, account_id)]
            self.count(mailbox_busy=len(account_ids) - len(mine))
            for _round in range(MAX_ROUNDS):
                if not mine or self.past_deadline() or not self._round(mine, SHARED_BATCH_PER_MAILBOX):
                    break

    def _round(self, account_ids, batch_per_mailbox):
        """One round in a cursor of its own; True when another may follow."""
        stats = Counter()
        try:
            with self.cursor() as cr:
                return PushRound(self.env(cr), stats).run(account_ids, batch_per_mailbox)
        finally:
            self.count(**stats)


class PushRound:
    """One ``$batch`` of the push: claim, plan, commit, send, settle (see the module docstring).

    Runs in the runner's cursor and commits it. No row lock is held while signing in or
    while Graph answers: a user saving the same record meanwhile is never blocked, and
    bumps ``seq`` so the newer version is pushed next. ``stats`` counts pushed, retried,
    failed and superseded rows.
    """

    def __init__(self, env, stats):
        self.env = env
        self.cr = env.cr
        self.queue = env["o365.push.queue"]
        self.stats = stats
        self.now = fields.Datetime.now()

    def run(self, account_ids, batch_per_mailbox=None):
        """One mailbox (its own sign-in) sends up to 20 of its changes; several mailboxes of
        the organisation's application share the batch, at most ``batch_per_mailbox`` changes
        each (O2). Returns True when another round may find work."""
        claimed = self.claim(account_ids, batch_per_mailbox or BATCH_LIMIT)
        if not claimed:
            return False
        rows = self.queue.browse(list(claimed))
        plans = {}
        for account in self.env["o365.sync.account"].browse(sorted(set(rows.mapped("account_id").ids))):
            plan, settled = self.plan(account, rows.filtered(lambda row, account=account: row.account_id == account))
            for row, request in plan:
                if request["kind"] == "create":
                    row.write({"create_seq": claimed[row.id]})
                    if row.create_state == "unsent":
                        row.write({"create_state": "sent"})
            self.finish(settled, claimed)
            if plan:
                plans[account] = plan
        # Release the row locks before signing in and talking to Graph.
        self.cr.commit()  # pylint: disable=invalid-commit
        if not plans:
            return True

        answers = self.send(plans)
        self.now = fields.Datetime.now()  # settled at the time Graph answered
        if answers is None:
            return False  # the sign-in was lost: the account says 'reconnect' (S7), its rows wait
        throttled, health = set(), {}
        for account, plan in plans.items():
            if account.connected_by == "organization" and _out_of_reach(plan, answers):
                # This mailbox is outside the application's reach: it stops until an administrator
                # fixes it (O1); its changes wait untouched, the other mailboxes go on.
                account._mailbox_out_of_reach(next(answers[str(row.id)] for row, _r in plan))
                continue
            slowed, health[account] = self.settle(account, plan, answers, claimed)
            if slowed:
                throttled.add(account)
        # The rows are settled for good before the accounts' status is touched: the pull and
        # users' saves write those rows too, and losing a race there must never undo a round
        # that Graph accepted (SPEC E6).
        self.cr.commit()  # pylint: disable=invalid-commit
        for account, outcome in health.items():
            try:
                with self.cr.savepoint():
                    self.note_health(account, *outcome)
            except psycopg2.errors.SerializationFailure:
                _logger.debug("o365: sync status of account %s is busy; noted on a later round", account.id)
        return len(throttled) < len(plans)

    # -- claim and plan ----------------------------------------------------------------------

    def claim(self, account_ids, per_mailbox):
        """Lock up to 20 due rows of these running mailboxes, at most ``per_mailbox`` each, the
        longest waiting first: {row id: seq}."""
        self.cr.execute(
            """SELECT id, seq FROM o365_push_queue WHERE id IN (
                   SELECT id FROM (
                       SELECT q.id, q.next_attempt_at,
                              row_number() OVER (PARTITION BY q.account_id ORDER BY q.next_attempt_at, q.id) AS n
                       FROM o365_push_queue q JOIN o365_sync_account a ON a.id = q.account_id
                       WHERE q.account_id IN %s AND q.state = 'pending' AND q.next_attempt_at <= %s
                         AND a.connection_state = 'connected' AND a.sync_state = 'running'
                   ) due WHERE n <= %s ORDER BY next_attempt_at, id LIMIT %s)
               ORDER BY next_attempt_at, id
               FOR UPDATE SKIP LOCKED""",
            [tuple(account_ids), self.now, per_mailbox, BATCH_LIMIT],
        )
        return dict(self.cr.fetchall())

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
        link = self.queue._find_link(account, row.res_model, row.res_id)
        requests_ = account._event_requests()
        if row.operation == "answer":
            return self.answer_request(account, row, requests_)
        if row.occurrence_of and not (row.graph_event_id or link.graph_event_id):
            return self.occurrence_request(account, row, requests_)
        if row.operation == "delete":
            event_id = row.graph_event_id or link.graph_event_id
            if event_id:
                return {"kind": "delete", **requests_.delete_event(event_id)}
            if row.create_state == "sent":
                return {"kind": "lookup", **requests_.find_created(row._record_stamp())}
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
            return {"kind": "lookup", **requests_.find_created(row._record_stamp())}
        return {"kind": "create", **requests_.create_event(payload, row._transaction_id(), row._record_stamp())}

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

    # -- send --------------------------------------------------------------------------------

    def send(self, plans):
        """One $batch for the planned requests of these mailboxes: {item id: answer}, or None
        when a user's own sign-in was lost (the account then says 'reconnect', S7)."""
        items = [request for plan in plans.values() for _row, request in plan if request["kind"] != "invalid"]
        everyone = [row for plan in plans.values() for row, _request in plan]
        if not items:
            return {}
        accounts = list(plans)
        try:
            if len(accounts) == 1:
                graph = accounts[0]._graph_client()
            else:
                graph = self.env["o365.sync.account"]._organization_graph()
            return graph.batch(items)
        except GraphError as exc:
            return {str(row.id): _error_answer(exc.status, exc.code, exc.message, exc.retry_after) for row in everyone}
        except AuthError as exc:
            if exc.reconnect:
                # The accounts now say 'reconnect' (committed with this transaction, never
                # rolled back by a raise: S7) and are skipped until they connect again; their
                # rows wait untouched, with no try counted. One account's client flagged it
                # already; a shared batch's mailboxes (the organisation no longer connects
                # them) are flagged here.
                for account in accounts:
                    if account.connection_state != "reconnect":
                        account._flag_reconnect_needed(exc)
                return None
            return {str(row.id): _error_answer(0, "AuthError", str(exc)) for row in everyone}

    # -- settle ------------------------------------------------------------------------------

    def settle(self, account, plan, answers, claimed):
        """Apply Graph's answers to links and rows. Returns (throttled, health): whether Graph
        asked us to slow down, and (success time, error words) for the user's sync status."""
        throttled = False
        ok = again = self.queue.browse()
        failures = []
        for row, request in plan:
            if request["kind"] == "invalid":
                failures.append((row, _error_answer(400, "InvalidRecord", request["error"]), False))
                continue
            answer = answers.get(str(row.id)) or _error_answer(0, "NoAnswer", "Graph gave no answer for this change.")
            outcome = self.apply_answer(account, row, request, answer)
            if outcome == "done":
                ok |= row
            elif outcome == "again":
                again |= row
            else:
                status = answer["status"]
                throttled = throttled or status == THROTTLED
                failures.append((row, answer, transient_answer(answer)))
        self.finish(ok, claimed)
        # One more step is due at once (find a lost create, then link or create it).
        again.write({"next_attempt_at": self.now})
        error = None
        for row, answer, transient in failures:
            error = self.apply_failure(account, row, answer, transient) or error
        answered = ok or again
        if answered:
            self.resume_after_recovery(account)
        elif failures and all(transient for _row, _answer, transient in failures):
            # Nothing got through: the mailbox backs off as a whole, not 20 rows at a time.
            self.back_off_mailbox(account, min(row.next_attempt_at for row, _a, _t in failures))
            throttled = True
        if error is None and not answered:
            error = account.last_error  # nothing new to say
        return throttled, (self.now if answered else None, error)

    def finish(self, rows, claimed):
        """Done with these rows: delete them unless a newer change arrived meanwhile."""
        if not rows:
            return
        self.cr.execute("SELECT id, seq FROM o365_push_queue WHERE id IN %s FOR UPDATE", [tuple(rows.ids)])
        current = dict(self.cr.fetchall())
        done = [rid for rid, seq in current.items() if seq == claimed.get(rid)]
        newer = [rid for rid in current if rid not in done]
        if done:
            self.cr.execute("DELETE FROM o365_push_queue WHERE id IN %s", [tuple(done)])
            self.stats["pushed"] += len(done)
        if newer:
            self.stats["superseded"] += len(newer)
        self.queue.invalidate_model()

    def apply_answer(self, account, row, request, answer):
        """Apply Graph's answer to this row's request: "done", "again" (a next step is due now),
        or "failed" (the caller records the failure)."""
        status, body = answer["status"], answer.get("body") or {}
        code = _error_code(answer)
        kind = request["kind"]
        if kind == "answer_lookup":
            if not 200 <= status < 300:
                return "failed"
            copy = next((e for e in body.get("value") or [] if e.get("id") and not e.get("isOrganizer")), None)
            if not copy:
                return "done"  # no invitation in this mailbox (declined and gone): nothing to answer
            row.write({"graph_event_id": copy["id"]})
            return "again"
        if kind == "answer":
            # 404: the copy went meanwhile (declined in Outlook): nothing to answer. Never a link (A17).
            return "done" if 200 <= status < 300 or status in (404, 410) else "failed"
        if kind == "occurrence":
            if not 200 <= status < 300:
                return "failed"
            return self.apply_occurrence(account, row, body.get("value") or [], answer)
        if kind == "lookup":
            if not 200 <= status < 300:
                return "failed"
            return self.apply_lookup(account, row, body.get("value") or [])
        if kind == "create" and code == DUPLICATE_TRANSACTION:  # some tenants answer 409, most 400
            if row.create_state == "absent":
                # Created once, looked for since and not found: the user deleted it in Outlook (A6).
                self.apply_outlook_gone(account, row)
                return "done"
            row.write({"create_state": "sent"})
            return "again"
        if code == MALFORMED_ID and kind in ("update", "delete"):
            # A stored id Graph cannot read is a bad link, not a deletion in Outlook: forget
            # it and find the record's event by its stamp.
            _logger.warning("o365: unreadable Outlook event id for %s,%s; looking it up", row.res_model, row.res_id)
            self.queue._find_link(account, row.res_model, row.res_id).unlink()
            row.write({"graph_event_id": False, "create_state": "sent"})
            return "again"
        if 200 <= status < 300 or (kind == "delete" and status in (404, 410)):
            self.apply_success(account, row, request, body)
            return "done"
        if kind == "update" and status == 404:
            # Deleted in Outlook before we heard of it: treat it as the user's removal (A6).
            self.apply_outlook_gone(account, row)
            return "done"
        if kind == "create" and row.create_state == "absent" and (status == 0 or status >= 500):
            row.write({"create_state": "sent"})  # it may have been made: look again before the next create
        return "failed"

    def apply_lookup(self, account, row, found):
        """Link the event a lost create made, or note that there is none."""
        link = self.queue._find_link(account, row.res_model, row.res_id)
        taken = set(
            self.env["o365.event.link"]
            .sudo()
            .search([("account_id", "=", account.id), ("graph_event_id", "in", [e.get("id") for e in found])])
            .filtered(lambda lk: lk != link)
            .mapped("graph_event_id")
        )
        event = next((e for e in found if e.get("id") and e["id"] not in taken), None) or (found[0] if found else None)
        if row.operation == "delete":
            if not event:
                return "done"  # the create never reached Outlook: nothing to remove
            row.write({"graph_event_id": event["id"], "create_state": "unsent"})
            return "again"
        if not event:
            row.write({"create_state": "absent"})
            return "again"
        self.apply_success(account, row, {"kind": "create"}, event)
        row.write({"create_state": "unsent"})
        # The event holds the version that create carried; a newer one is pushed next.
        self.cr.execute("SELECT seq FROM o365_push_queue WHERE id = %s", [row.id])
        return "done" if self.cr.fetchone()[0] == row.create_seq else "again"

    # -- one occurrence of a series (SPEC A16) ---------------------------------------------------
    # A change or a removal of one occurrence of a recurring meeting (``row.occurrence_of``:
    # "<calendar.recurrence id>|<the occurrence's original start, naive UTC ISO>") goes to that
    # Outlook occurrence: first its id, listed by the series' ``instances`` (facts §11: use the id
    # the listing returns), then the PATCH (it becomes an exception) or the DELETE (that date is
    # cancelled) in the next round.

    def occurrence_request(self, account, row, requests_):
        recurrence_id, original = _occurrence_key(row.occurrence_of)
        series = self.queue._find_link(account, "calendar.recurrence", recurrence_id)
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

    def apply_occurrence(self, account, row, instances, answer):
        """Link the Outlook occurrence of this row's date, or say it is gone."""
        _recurrence_id, original = _occurrence_key(row.occurrence_of)
        found = next((e for e in instances if _graph_instant(e.get("originalStart")) == original), None)
        if row.operation == "delete":
            if not found:
                return "done"  # that date is not in the series (any more): nothing to cancel
            row.write({"graph_event_id": found["id"]})
            return "again"
        if not found:
            answer.update(
                _error_answer(404, "ErrorItemNotFound", "This date is no longer part of the series in Outlook.")
            )
            return "failed"
        Link = self.env["o365.event.link"].sudo()
        link = self.queue._find_link(account, row.res_model, row.res_id)
        values = {"graph_event_id": found["id"], "change_key": found.get("changeKey"), "ical_uid": found.get("iCalUId")}
        if link:
            link.write(values)
        else:
            Link.create({**values, "account_id": account.id, "res_model": row.res_model, "res_id": row.res_id})
        return "again"

    def apply_success(self, account, row, request, body):
        """Graph made, changed or removed the event: the record's link follows."""
        Link = self.env["o365.event.link"].sudo()
        link = self.queue._find_link(account, row.res_model, row.res_id)
        if request["kind"] == "delete":
            event_id = row.graph_event_id or link.graph_event_id
            Link.search([("account_id", "=", account.id), ("graph_event_id", "=", event_id)]).unlink()
            return
        values = {
            "graph_event_id": body.get("id"),
            "change_key": body.get("changeKey"),
            "ical_uid": body.get("iCalUId"),
        }
        record = self.env[row.res_model].browse(row.res_id)  # an o365.calendar.sync record
        if request["kind"] == "create" and values["ical_uid"]:
            record._o365_absorb_logged_copies(values["ical_uid"])
        if record.exists():
            record._o365_pushed(account, body)  # e.g. the Teams join link Graph made (A14)
        if link:
            link.write({k: v for k, v in values.items() if v})
            return
        taken = Link.search([("account_id", "=", account.id), ("graph_event_id", "=", values["graph_event_id"])])
        if taken:
            # Linked to something else meanwhile: Outlook's event is this record's (it carries its stamp).
            _logger.warning(
                "o365: Outlook event of %s,%s was linked to %s,%s; relinked",
                row.res_model,
                row.res_id,
                taken.res_model,
                taken.res_id,
            )
            taken.write({**values, "res_model": row.res_model, "res_id": row.res_id, "origin": "odoo"})
        else:
            Link.create({**values, "account_id": account.id, "res_model": row.res_model, "res_id": row.res_id})

    def apply_outlook_gone(self, account, row):
        """The event is gone from Outlook: the user removed it there (A6)."""
        link = self.queue._find_link(account, row.res_model, row.res_id)
        record = self.env[row.res_model].browse(row.res_id).exists()
        if record:
            record._o365_apply_outlook_removal(link)
        link.unlink()

    def apply_failure(self, account, row, answer, transient):
        """Wait and try again while the failure may pass (for up to 24 hours), else stop with
        the reason on the record, the queue and the user's sync status (SPEC E2). Returns the
        words for the user's sync status."""
        self.cr.execute("SELECT attempts, failing_since FROM o365_push_queue WHERE id = %s FOR UPDATE", [row.id])
        current = self.cr.fetchone()
        if not current:
            return None  # the record was unlinked from Outlook meanwhile
        attempts, failing_since = current[0] + 1, current[1] or self.now
        status, message = answer["status"], _answer_message(answer)
        env = account._owner_env()  # the user's sync status, in their language (issue 23)
        what = plain_words.reword(message, env.lang)
        values = {"attempts": attempts, "failing_since": failing_since, "last_status": status, "last_error": message}
        retry_hours = read_int(self.env, "push_retry_hours")
        if transient and self.now - failing_since < timedelta(hours=retry_hours):
            retry_after = answer.get("retry_after")
            if retry_after is None:
                retry_after = parse_retry_after(answer.get("headers"))
            wait = self.retry_delay(attempts, retry_after)
            row.write({**values, "next_attempt_at": self.now + timedelta(seconds=wait)})
            self.stats["retried"] += 1
            return plain_words.compose(
                env._(
                    "A calendar change is waiting for Outlook: %(what)s Odoo tries again by itself; nothing is lost.",
                    what=what,
                ),
                plain_words.detail_of(message),
            )
        if transient:
            words = env._(
                "An Outlook calendar update could not be delivered for %(hours)s hours: %(what)s "
                "It goes out by itself once Outlook answers again, or use Retry.",
                hours=retry_hours,
                what=what,
            )
        else:
            words = env._(
                "Outlook refused a calendar update: %(what)s %(todo)s",
                what=what,
                todo=plain_words.explain_answer(answer)[0].todo.in_lang(env.lang),
            )
        words = plain_words.compose(words, plain_words.detail_of(message))
        row.write({**values, "state": "failed", "resume_on_recovery": transient})
        record = self.env[row.res_model].browse(row.res_id).exists()
        if record:
            record._o365_push_failed(account, words)
        self.stats["failed"] += 1
        return words

    def retry_delay(self, attempts, retry_after):
        """Seconds before the next try: capped exponential backoff, never sooner than Graph's
        Retry-After (a minimum, not a promise: SPEC E2)."""
        base = read_int(self.env, "push_backoff_base")
        cap = read_int(self.env, "push_backoff_cap")
        backoff = min(cap, base * 2 ** (attempts - 1)) * random.uniform(0.8, 1.0)  # spread workers apart
        return max(backoff, float(retry_after or 0.0))

    # -- the mailbox as a whole --------------------------------------------------------------

    def back_off_mailbox(self, account, until):
        """Nothing got through: every waiting change of the mailbox waits until ``until``."""
        self.cr.execute(
            """UPDATE o365_push_queue SET next_attempt_at = GREATEST(next_attempt_at, %s)
               WHERE account_id = %s AND state = 'pending'""",
            [until, account.id],
        )
        self.queue.invalidate_model(["next_attempt_at"])

    def resume_after_recovery(self, account):
        """The mailbox answers again: changes that waited out a passing failure go now (SPEC E2).
        A Retry-After stays honoured: throttled rows keep their wait."""
        self.cr.execute(
            """UPDATE o365_push_queue
               SET state = 'pending', next_attempt_at = %(now)s, attempts = 0, failing_since = NULL,
                   resume_on_recovery = false
               WHERE account_id = %(account)s AND COALESCE(last_status, 0) != %(throttled)s
                 AND ((state = 'pending' AND attempts > 0 AND next_attempt_at > %(now)s)
                      OR (state = 'failed' AND resume_on_recovery))""",
            {"now": self.now, "account": account.id, "throttled": THROTTLED},
        )
        self.queue.invalidate_model()

    def note_health(self, account, success_at, error):
        """Record a push outcome on the user's sync status, writing the account row only when
        what it shows changes (push and pull both write it: fewer writes, fewer conflicts), and
        logging one line per change of state rather than one per try (SPEC E7)."""
        account = account.sudo()
        values = {}
        if success_at and (not account.last_success_at or success_at - account.last_success_at > HEALTH_RESOLUTION):
            values["last_success_at"] = success_at
        if (error or False) != (account.last_error or False):
            values["last_error"] = error or False
            if error and not account.last_error:
                _logger.warning("o365: Outlook push for sync account %s is failing: %s", account.id, error)
            elif not error:
                _logger.info("o365: Outlook push for sync account %s works again", account.id)
        if values:
            account.write(values)


def _out_of_reach(plan, answers):
    """True when Graph refused the organisation's application every request for this mailbox
    (403 ErrorAccessDenied: outside its scope, O1)."""
    got = [answers.get(str(row.id)) or {} for row, request in plan if request["kind"] != "invalid"]
    return bool(got) and all(a.get("status") == 403 and _error_code(a) == "ErrorAccessDenied" for a in got)


def _occurrence_key(value):
    """(recurrence id, original start as naive UTC) of a row's ``occurrence_of``."""
    recurrence_id, original = value.split("|", 1)
    return int(recurrence_id), datetime.fromisoformat(original)


def _graph_instant(value):
    """Graph's originalStart ("2031-11-04T09:00:00Z", DateTimeOffset) as naive UTC, or None."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def transient_answer(answer):
    """Whether a failed answer may pass by itself: the Graph layer's one definition (issue 24)."""
    return is_transient(answer.get("status"), _error_code(answer))


def _error_answer(status, code, message, retry_after=None):
    return {"status": status, "body": {"error": {"code": code, "message": message}}, "retry_after": retry_after}


def _error_code(answer):
    body = answer.get("body")
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def _answer_message(answer):
    """What happened, in plain words, then the technical detail (utils/plain_words.py)."""
    words, detail = plain_words.explain_answer(answer)
    return plain_words.compose(words.what, detail)
