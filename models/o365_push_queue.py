import logging
import random
import uuid
from datetime import timedelta

import psycopg2

from odoo import SUPERUSER_ID, api, fields, models

from ..engine.runner import PUSH_CRON_XMLIDS, SHARDS, PushRunner, run_again_soon, run_time_budget
from ..utils import plain_words
from ..utils.auth import AuthError
from ..utils.graph_client import (
    BATCH_LIMIT,
    DUPLICATE_TRANSACTION,
    MALFORMED_ID,
    GraphError,
    parse_retry_after,
)

_logger = logging.getLogger(__name__)

PARAM_PREFIX = "o365_calendar_sync."
# Retrying is bounded by time, not by tries: a burst of short Retry-After answers
# must not use up a change's chances in seconds (SPEC E2).
DEFAULTS = {
    "push_retry_hours": 24,
    "push_backoff_base": 30,
    "push_backoff_cap": 3600,
    # Mailboxes whose Graph round trips overlap in one run (threads, each with two
    # database connections: keep well under db_maxconn, 64 by default).
    "push_parallel_mailboxes": 16,
}
THROTTLED = 429
HEALTH_RESOLUTION = timedelta(seconds=60)
RESCHEDULE_FLOOR = timedelta(seconds=2)  # "last successful exchange" is shown to the minute


class O365PushQueue(models.Model):
    """ERP changes waiting to reach an Outlook calendar (SPEC E1, E2, E6).

    One row per (mailbox, record): a new change to a waiting record updates its
    row (ten edits, one update) and bumps ``seq``, so a worker that pushed an
    older version leaves the row for the next round instead of dropping the
    newer change. Rows disappear once pushed; failures stay, with their error.
    """

    _name = "o365.push.queue"
    _description = "Outlook Push Queue"
    _order = "next_attempt_at, id"
    _rec_name = "res_model"

    account_id = fields.Many2one("o365.sync.account", required=True, ondelete="cascade", index=True, readonly=True)
    user_id = fields.Many2one(related="account_id.user_id", string="User")
    res_model = fields.Char("Odoo Model", required=True, readonly=True)
    res_id = fields.Many2oneReference("Odoo Record", model_field="res_model", required=True, readonly=True)
    operation = fields.Selection([("upsert", "Create or update"), ("delete", "Delete")], required=True, readonly=True)
    graph_event_id = fields.Char(
        "Outlook Event ID", readonly=True, help="Kept for deletes: the record may be gone by then."
    )
    state = fields.Selection(
        [("pending", "Waiting"), ("failed", "Failed")], default="pending", required=True, index=True
    )
    attempts = fields.Integer(readonly=True)
    failing_since = fields.Datetime(readonly=True, help="First failed try of this change; retried for 24 hours.")
    last_status = fields.Integer("Last Graph Status", readonly=True)
    resume_on_recovery = fields.Boolean(
        readonly=True, help="Failed for a passing reason: sent again by itself once the mailbox answers."
    )
    next_attempt_at = fields.Datetime(default=fields.Datetime.now, required=True, index=True, readonly=True)
    last_error = fields.Text(readonly=True)
    seq = fields.Integer(default=1, required=True, readonly=True)
    # What Odoo knows of the create this row sends (SPEC E2). Graph refuses a replayed
    # transactionId instead of answering with the first event, and cannot filter on
    # it, so a create whose answer was lost is found by the record stamp it carries.
    create_state = fields.Selection(
        [
            ("unsent", "Not sent"),
            ("sent", "Sent, answer unknown"),  # find it by its stamp before creating again
            ("absent", "Not in Outlook"),  # looked for and not found: the create may be sent (again)
        ],
        default="unsent",
        required=True,
        readonly=True,
    )
    create_seq = fields.Integer(readonly=True, help="The version (seq) the last create carried.")
    # The administrators' view of a failed change (S7, issue 15): its error in plain words.
    last_error_words = fields.Text("Error", compute="_compute_error_words")
    last_error_detail = fields.Text("Technical Details", compute="_compute_error_words")
    record_name = fields.Char("Record", compute="_compute_error_words")

    _sql_constraints = [
        ("record_unique", "UNIQUE(account_id, res_model, res_id)", "A record waits once per mailbox."),
    ]

    @api.depends("last_error", "res_model", "res_id")
    def _compute_error_words(self):
        for row in self:
            words, detail = plain_words.split(row.last_error)
            row.last_error_words = words or False
            row.last_error_detail = detail or False
            record = self.env[row.res_model].browse(row.res_id).exists() if row.res_model in self.env else None
            row.record_name = record.sudo().display_name if record else f"{row.res_model},{row.res_id}"

    # -- enqueueing (inside the user's transaction; never calls Graph) -------------------

    @api.model
    def _enqueue(self, account, record, operation):
        """Record that ``record`` must be created/updated ("upsert") or removed ("delete")
        in ``account``'s calendar, coalesced with any change already waiting."""
        assert operation in ("upsert", "delete"), operation
        record.ensure_one()
        event_id = None
        if operation == "delete":
            link = self._find_link(account, record._name, record.id)
            event_id = link.graph_event_id or None
        now = fields.Datetime.now()
        # An atomic upsert: two transactions enqueueing the same record never make two rows.
        self.env.cr.execute(
            """
            INSERT INTO o365_push_queue
                (account_id, res_model, res_id, operation, graph_event_id, state, attempts, next_attempt_at,
                 seq, create_state, create_uid, create_date, write_uid, write_date)
            VALUES (%(account)s, %(model)s, %(res_id)s, %(op)s, %(event)s, 'pending', 0, %(now)s,
                    1, 'unsent', %(uid)s, %(now)s, %(uid)s, %(now)s)
            ON CONFLICT (account_id, res_model, res_id) DO UPDATE SET
                operation = EXCLUDED.operation,
                graph_event_id = COALESCE(EXCLUDED.graph_event_id, o365_push_queue.graph_event_id),
                state = 'pending', attempts = 0, next_attempt_at = EXCLUDED.next_attempt_at,
                last_error = NULL, seq = o365_push_queue.seq + 1,
                failing_since = CASE WHEN o365_push_queue.state = 'failed' THEN NULL
                                     ELSE o365_push_queue.failing_since END,
                resume_on_recovery = false,
                write_uid = EXCLUDED.write_uid, write_date = EXCLUDED.write_date
            """,
            {
                "account": account.id,
                "model": record._name,
                "res_id": record.id,
                "op": operation,
                "event": event_id,
                "now": now,
                "uid": self.env.uid,
            },
        )
        self.invalidate_model()
        self._wake_worker(account)

    @api.model
    def _wake_worker(self, accounts=None):
        """Wake the push crons of these mailboxes' shards (all shards without ``accounts``)
        right after commit, once per transaction and shard (E1)."""
        shards = {account.id % SHARDS for account in accounts} if accounts else set(range(SHARDS))
        woken = self.env.cr.precommit.data.setdefault("o365_push_woken_shards", set())
        for shard in shards - woken:
            woken.add(shard)
            cron = self.env.ref(PUSH_CRON_XMLIDS[shard], raise_if_not_found=False)
            if cron:
                # An ir.cron.trigger row now; cron workers are notified by a post-commit hook.
                cron.sudo()._trigger()

    @api.model
    def _find_link(self, account, res_model, res_id):
        """The link of this record in ``account``'s mailbox (the record may be gone by now)."""
        return (
            self.env["o365.event.link"]
            .sudo()
            .search([("account_id", "=", account.id), ("res_model", "=", res_model), ("res_id", "=", res_id)], limit=1)
        )

    @api.model
    def _deleting(self, account, res_model, res_id):
        """True when Odoo asked (or is about to ask) Outlook to delete this record's event."""
        return bool(
            self.sudo().search_count(
                [
                    ("account_id", "=", account.id),
                    ("res_model", "=", res_model),
                    ("res_id", "=", res_id),
                    ("operation", "=", "delete"),
                ],
                limit=1,
            )
        )

    @api.model
    def _forget(self, account, record):
        """Drop what waits for ``record`` in ``account`` (the user unlinked it, SPEC A6)."""
        self.sudo().search(
            [("account_id", "=", account.id), ("res_model", "=", record._name), ("res_id", "=", record.id)]
        ).unlink()

    def _transaction_id(self):
        """Deterministic per queue row: Graph refuses a second create of the same row (SPEC E2)."""
        self.ensure_one()
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"o365-push:{self._database_uuid()}:{self.id}"))

    def _record_stamp(self):
        """The value of the extended property stamped on the events this row creates:
        this database and the Odoo record, so a lookup finds exactly its event."""
        self.ensure_one()
        return f"{self._database_uuid()}/{self.res_model}/{self.res_id}"

    def _database_uuid(self):
        return self.env["ir.config_parameter"].sudo().get_param("database.uuid", "")

    # -- user actions -------------------------------------------------------------------

    def action_retry_now(self):
        """Try again now, with a fresh try budget (the user fixed the cause, or Graph is back)."""
        self.sudo().write(
            {
                "state": "pending",
                "attempts": 0,
                "failing_since": False,
                "resume_on_recovery": False,
                "next_attempt_at": fields.Datetime.now(),
            }
        )
        self._wake_worker(self.account_id)
        return True

    # -- the job (E1, E2, E6) --------------------------------------------------------------

    @api.model
    def _cron_push(self, shard=0, shards=1):
        """One run of a push cron (one shard of the mailboxes), time-boxed under Odoo's cron
        time limit; the cron is woken again at once for mailboxes left at the deadline."""
        if self.env["o365.sync.account"]._sync_paused():
            _logger.info("o365: push skipped, all sync is paused")  # S7: changes wait for Resume
            return {}
        stats = self._push_due(shard=shard, shards=shards)
        if stats["mailboxes_left"]:
            run_again_soon(self.env, PUSH_CRON_XMLIDS[shard])
        return stats

    @api.model
    def _param_int(self, key):
        value = self.env["ir.config_parameter"].sudo().get_param(PARAM_PREFIX + key)
        try:
            return int(value) if value not in (None, False, "") else DEFAULTS[key]
        except ValueError:
            return DEFAULTS[key]

    @api.model
    def _push_due(self, cursor_factory=None, shard=0, shards=1, parallel=None):
        """Push every due row of this shard's mailboxes (see engine/runner.py).

        ``cursor_factory`` (default: new cursors of this registry) lets a test run
        the job as several real workers. Returns counters (pushed, failed, ...).
        """
        runner = PushRunner(
            self.env.registry,
            cursor_factory=cursor_factory,
            shard=shard,
            shards=shards,
            parallel=parallel or self._param_int("push_parallel_mailboxes"),
            time_budget=run_time_budget(),
        )
        stats = runner.run()
        self._schedule_next_run(runner.cursor)
        return stats

    @api.model
    def _schedule_next_run(self, factory):
        """Wake each shard's cron when its next waiting change is due (retries, backoff).

        Not sooner than in a few seconds: a change left due now (its mailbox was busy with
        another worker) must not make the crons spin; the time-boxed leftovers are woken
        at once by _cron_push."""
        with factory() as cr:
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

    @api.model
    def _push_round(self, account_ids, stats, batch_per_mailbox=None):
        """Claim due rows of these mailboxes, send them as one $batch, record the answers.

        One mailbox (its own sign-in) sends up to 20 of its changes; several mailboxes of
        the organisation's application share the batch, at most ``batch_per_mailbox`` changes
        each (O2). Runs in a cursor of its own (the runner's): it commits. Returns True when
        another round may find work. No row lock is held while signing in or while Graph
        answers: a user saving the same record meanwhile is never blocked, and bumps ``seq``
        so the newer version is pushed next.
        """
        cr = self.env.cr
        claimed = self._claim(account_ids, batch_per_mailbox or BATCH_LIMIT)
        if not claimed:
            return False
        rows = self.browse(list(claimed))
        Account = self.env["o365.sync.account"]
        plans = {}
        for account in Account.browse(sorted(set(rows.mapped("account_id").ids))):
            plan, settled = rows.filtered(lambda row, account=account: row.account_id == account)._plan(account)
            for row, request in plan:
                if request["kind"] == "create":
                    row.write({"create_seq": claimed[row.id]})
                    if row.create_state == "unsent":
                        row.write({"create_state": "sent"})
            settled._finish(claimed, stats)
            if plan:
                plans[account] = plan
        # The job's own cursor: release the row locks before signing in and
        # talking to Graph.
        cr.commit()  # pylint: disable=invalid-commit
        if not plans:
            return True

        answers = self._send(plans)
        if answers is None:
            return False  # the sign-in was lost: the account says 'reconnect' (S7), its rows wait
        throttled, health = set(), {}
        for account, plan in plans.items():
            if account.connected_by == "organization" and _out_of_reach(plan, answers):
                # This mailbox is outside the application's reach: it stops until an administrator
                # fixes it (O1); its changes wait untouched, the other mailboxes go on.
                account._mailbox_out_of_reach(next(answers[str(row.id)] for row, _r in plan))
                continue
            slowed, health[account] = self._settle(account, plan, answers, claimed, stats)
            if slowed:
                throttled.add(account)
        # The rows are settled for good before the accounts' status is touched: the pull and
        # users' saves write those rows too, and losing a race there must never undo a round
        # that Graph accepted (SPEC E6).
        cr.commit()  # pylint: disable=invalid-commit
        for account, outcome in health.items():
            try:
                with cr.savepoint():
                    self._note_health(account, *outcome)
            except psycopg2.errors.SerializationFailure:
                _logger.debug("o365: sync status of account %s is busy; noted on a later round", account.id)
        return len(throttled) < len(plans)

    @api.model
    def _claim(self, account_ids, per_mailbox):
        """Lock up to 20 due rows of these running mailboxes, at most ``per_mailbox`` each, the
        longest waiting first: {row id: seq}."""
        self.env.cr.execute(
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
            [tuple(account_ids), fields.Datetime.now(), per_mailbox, BATCH_LIMIT],
        )
        return dict(self.env.cr.fetchall())

    @api.model
    def _send(self, plans):
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

    def _plan(self, account):
        """The Graph request of each row; rows needing no request come back as ``settled``."""
        plan, settled = [], self.browse()
        for row in self:
            request = row._request(account)
            if request is None:
                settled |= row
            else:
                request["id"] = str(row.id)
                plan.append((row, request))
        return plan, settled

    def _request(self, account):
        """The Graph request that brings this row's change to Outlook (an item of a $batch), or None."""
        self.ensure_one()
        link = self._find_link(account, self.res_model, self.res_id)
        requests_ = account._event_requests()
        if self.operation == "delete":
            event_id = self.graph_event_id or link.graph_event_id
            if event_id:
                return {"kind": "delete", **requests_.delete_event(event_id)}
            if self.create_state == "sent":
                return {"kind": "lookup", **requests_.find_created(self._record_stamp())}
            return None  # never reached Outlook: nothing to remove
        record = self.env[self.res_model].browse(self.res_id).exists()
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
        if self.create_state == "sent":
            # A create went out and its answer never came: find its event before creating another.
            return {"kind": "lookup", **requests_.find_created(self._record_stamp())}
        return {"kind": "create", **requests_.create_event(payload, self._transaction_id(), self._record_stamp())}

    @api.model
    def _sent_creates(self, account, transaction_ids):
        """Which of these transactionIds are creates this account sent and has not settled yet."""
        if not transaction_ids:
            return set()
        rows = self.sudo().search([("account_id", "=", account.id), ("create_state", "in", ("sent", "absent"))])
        return {tx for tx in (row._transaction_id() for row in rows) if tx in transaction_ids}

    def _finish(self, claimed, stats):
        """Done with these rows: delete them unless a newer change arrived meanwhile."""
        if not self:
            return
        self.env.cr.execute("SELECT id, seq FROM o365_push_queue WHERE id IN %s FOR UPDATE", [tuple(self.ids)])
        current = dict(self.env.cr.fetchall())
        done = [rid for rid, seq in current.items() if seq == claimed.get(rid)]
        newer = [rid for rid in current if rid not in done]
        if done:
            self.env.cr.execute("DELETE FROM o365_push_queue WHERE id IN %s", [tuple(done)])
            stats["pushed"] += len(done)
        if newer:
            stats["superseded"] += len(newer)
        self.invalidate_model()

    @api.model
    def _settle(self, account, plan, answers, claimed, stats):
        """Apply Graph's answers to links and rows. Returns (throttled, health): whether Graph
        asked us to slow down, and (success time, error words) for the user's sync status."""
        throttled = False
        now = fields.Datetime.now()
        ok = again = self.browse()
        failures = []
        for row, request in plan:
            if request["kind"] == "invalid":
                failures.append((row, _error_answer(400, "InvalidRecord", request["error"]), False))
                continue
            answer = answers.get(str(row.id)) or _error_answer(0, "NoAnswer", "Graph gave no answer for this change.")
            outcome = row._apply_answer(account, request, answer)
            if outcome == "done":
                ok |= row
            elif outcome == "again":
                again |= row
            else:
                status = answer["status"]
                transient = status == 0 or status in (412, 424, 429, 500, 502, 503, 504)
                throttled = throttled or status == 429
                failures.append((row, answer, transient))
        ok._finish(claimed, stats)
        # One more step is due at once (find a lost create, then link or create it).
        again.write({"next_attempt_at": now})
        error = None
        for row, answer, transient in failures:
            error = row._apply_failure(account, answer, transient, now, stats) or error
        answered = ok or again
        if answered:
            self._resume_after_recovery(account, now)
        elif failures and all(transient for _row, _answer, transient in failures):
            # Nothing got through: the mailbox backs off as a whole, not 20 rows at a time.
            self._back_off_mailbox(account, min(row.next_attempt_at for row, _a, _t in failures))
            throttled = True
        if error is None and not answered:
            error = account.last_error  # nothing new to say
        return throttled, (now if answered else None, error)

    @api.model
    def _note_health(self, account, success_at, error):
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

    @api.model
    def _back_off_mailbox(self, account, until):
        self.env.cr.execute(
            """UPDATE o365_push_queue SET next_attempt_at = GREATEST(next_attempt_at, %s)
               WHERE account_id = %s AND state = 'pending'""",
            [until, account.id],
        )
        self.invalidate_model(["next_attempt_at"])

    @api.model
    def _resume_after_recovery(self, account, now):
        """The mailbox answers again: changes that waited out a passing failure go now (SPEC E2).
        A Retry-After stays honoured: throttled rows keep their wait."""
        self.env.cr.execute(
            """UPDATE o365_push_queue
               SET state = 'pending', next_attempt_at = %(now)s, attempts = 0, failing_since = NULL,
                   resume_on_recovery = false
               WHERE account_id = %(account)s AND COALESCE(last_status, 0) != %(throttled)s
                 AND ((state = 'pending' AND attempts > 0 AND next_attempt_at > %(now)s)
                      OR (state = 'failed' AND resume_on_recovery))""",
            {"now": now, "account": account.id, "throttled": THROTTLED},
        )
        self.invalidate_model()

    def _apply_answer(self, account, request, answer):
        """Apply Graph's answer to this row's request: "done", "again" (a next step is due now),
        or "failed" (the caller records the failure)."""
        self.ensure_one()
        status, body = answer["status"], answer.get("body") or {}
        code = _error_code(answer)
        kind = request["kind"]
        if kind == "lookup":
            if not 200 <= status < 300:
                return "failed"
            return self._apply_lookup(account, body.get("value") or [])
        if kind == "create" and code == DUPLICATE_TRANSACTION:  # some tenants answer 409, most 400
            if self.create_state == "absent":
                # Created once, looked for since and not found: the user deleted it in Outlook (A6).
                self._apply_outlook_gone(account)
                return "done"
            self.write({"create_state": "sent"})
            return "again"
        if code == MALFORMED_ID and kind in ("update", "delete"):
            # A stored id Graph cannot read is a bad link, not a deletion in Outlook: forget
            # it and find the record's event by its stamp.
            _logger.warning("o365: unreadable Outlook event id for %s,%s; looking it up", self.res_model, self.res_id)
            self._find_link(account, self.res_model, self.res_id).unlink()
            self.write({"graph_event_id": False, "create_state": "sent"})
            return "again"
        if 200 <= status < 300 or (kind == "delete" and status in (404, 410)):
            self._apply_success(account, request, body)
            return "done"
        if kind == "update" and status == 404:
            # Deleted in Outlook before we heard of it: treat it as the user's removal (A6).
            self._apply_outlook_gone(account)
            return "done"
        if kind == "create" and self.create_state == "absent" and (status == 0 or status >= 500):
            self.write({"create_state": "sent"})  # it may have been made: look again before the next create
        return "failed"

    def _apply_lookup(self, account, found):
        """Link the event a lost create made, or note that there is none."""
        link = self._find_link(account, self.res_model, self.res_id)
        taken = set(
            self.env["o365.event.link"]
            .sudo()
            .search([("account_id", "=", account.id), ("graph_event_id", "in", [e.get("id") for e in found])])
            .filtered(lambda lk: lk != link)
            .mapped("graph_event_id")
        )
        event = next((e for e in found if e.get("id") and e["id"] not in taken), None) or (found[0] if found else None)
        if self.operation == "delete":
            if not event:
                return "done"  # the create never reached Outlook: nothing to remove
            self.write({"graph_event_id": event["id"], "create_state": "unsent"})
            return "again"
        if not event:
            self.write({"create_state": "absent"})
            return "again"
        self._apply_success(account, {"kind": "create"}, event)
        self.write({"create_state": "unsent"})
        # The event holds the version that create carried; a newer one is pushed next.
        self.env.cr.execute("SELECT seq FROM o365_push_queue WHERE id = %s", [self.id])
        return "done" if self.env.cr.fetchone()[0] == self.create_seq else "again"

    def _apply_success(self, account, request, body):
        self.ensure_one()
        Link = self.env["o365.event.link"].sudo()
        link = self._find_link(account, self.res_model, self.res_id)
        if request["kind"] == "delete":
            event_id = self.graph_event_id or link.graph_event_id
            Link.search([("account_id", "=", account.id), ("graph_event_id", "=", event_id)]).unlink()
            return
        values = {
            "graph_event_id": body.get("id"),
            "change_key": body.get("changeKey"),
            "ical_uid": body.get("iCalUId"),
        }
        record = self.env[self.res_model].browse(self.res_id)  # an o365.calendar.sync record
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
                self.res_model,
                self.res_id,
                taken.res_model,
                taken.res_id,
            )
            taken.write({**values, "res_model": self.res_model, "res_id": self.res_id, "origin": "odoo"})
        else:
            Link.create({**values, "account_id": account.id, "res_model": self.res_model, "res_id": self.res_id})

    def _apply_outlook_gone(self, account):
        link = self._find_link(account, self.res_model, self.res_id)
        record = self.env[self.res_model].browse(self.res_id).exists()
        if record:
            record._o365_apply_outlook_removal(link)
        link.unlink()

    def _apply_failure(self, account, answer, transient, now, stats):
        """Wait and try again while the failure may pass (for up to 24 hours), else stop with
        the reason on the record, the queue and the user's sync status (SPEC E2)."""
        self.ensure_one()
        self.env.cr.execute("SELECT attempts, failing_since FROM o365_push_queue WHERE id = %s FOR UPDATE", [self.id])
        current = self.env.cr.fetchone()
        if not current:
            return  # the record was unlinked from Outlook meanwhile
        attempts, failing_since = current[0] + 1, current[1] or now
        status, message = answer["status"], _answer_message(answer)

        values = {"attempts": attempts, "failing_since": failing_since, "last_status": status, "last_error": message}
        window = timedelta(hours=self._param_int("push_retry_hours"))
        if transient and now - failing_since < window:
            retry_after = answer.get("retry_after")
            if retry_after is None:
                retry_after = parse_retry_after(answer.get("headers"))
            wait = _retry_delay(attempts, retry_after, self)
            self.write({**values, "next_attempt_at": now + timedelta(seconds=wait)})
            stats["retried"] += 1
            return plain_words.compose(
                self.env._(
                    "A calendar change is waiting for Outlook: %(what)s Odoo tries again by itself; nothing is lost.",
                    what=plain_words.words_of(message),
                ),
                plain_words.detail_of(message),
            )
        if transient:
            words = plain_words.compose(
                self.env._(
                    "An Outlook calendar update could not be delivered for %(hours)s hours: %(what)s "
                    "It goes out by itself once Outlook answers again, or use Retry.",
                    hours=self._param_int("push_retry_hours"),
                    what=plain_words.words_of(message),
                ),
                plain_words.detail_of(message),
            )
        else:
            words = plain_words.compose(
                self.env._(
                    "Outlook refused a calendar update: %(what)s %(todo)s",
                    what=plain_words.words_of(message),
                    todo=plain_words.explain_answer(answer)[0].todo,
                ),
                plain_words.detail_of(message),
            )
        self.write({**values, "state": "failed", "resume_on_recovery": transient})
        record = self.env[self.res_model].browse(self.res_id).exists()
        if record:
            record._o365_push_failed(account, words)
        stats["failed"] += 1
        return words


def _out_of_reach(plan, answers):
    """True when Graph refused the organisation's application every request for this mailbox
    (403 ErrorAccessDenied: outside its scope, O1)."""
    got = [answers.get(str(row.id)) or {} for row, request in plan if request["kind"] != "invalid"]
    return bool(got) and all(a.get("status") == 403 and _error_code(a) == "ErrorAccessDenied" for a in got)


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


def _retry_delay(attempts, retry_after, rows):
    """Seconds before the next try: capped exponential backoff, never sooner than Graph's
    Retry-After (a minimum, not a promise: SPEC E2)."""
    base = rows._param_int("push_backoff_base")
    cap = rows._param_int("push_backoff_cap")
    backoff = min(cap, base * 2 ** (attempts - 1)) * random.uniform(0.8, 1.0)  # spread workers apart
    return max(backoff, float(retry_after or 0.0))
