import logging
import random
import uuid
from collections import Counter
from datetime import timedelta

from odoo import SUPERUSER_ID, api, fields, models

from ..utils.auth import AuthError
from ..utils.graph_client import BATCH_LIMIT, GraphError, parse_retry_after

_logger = logging.getLogger(__name__)

PARAM_PREFIX = "o365_calendar_sync."
# Advisory-lock class for "a worker is pushing to this mailbox": one worker per
# mailbox keeps Graph's per-mailbox concurrency (4) safe whatever the number of
# Odoo workers, and never blocks a user's save (it locks no table row).
MAILBOX_LOCK_CLASS = 365_001
DEFAULTS = {"push_max_tries": 8, "push_backoff_base": 30, "push_backoff_cap": 3600}
MAX_ROUNDS = 500  # batches per mailbox per run; the cron comes back for the rest


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
    next_attempt_at = fields.Datetime(default=fields.Datetime.now, required=True, index=True, readonly=True)
    last_error = fields.Text(readonly=True)
    seq = fields.Integer(default=1, required=True, readonly=True)
    create_sent = fields.Boolean(
        readonly=True, help="A create was sent at least once: its transactionId may already exist in Outlook."
    )

    _sql_constraints = [
        ("record_unique", "UNIQUE(account_id, res_model, res_id)", "A record waits once per mailbox."),
    ]

    # -- enqueueing (inside the user's transaction; never calls Graph) -------------------

    @api.model
    def _enqueue(self, account, record, operation):
        """Record that ``record`` must be created/updated ("upsert") or removed ("delete")
        in ``account``'s calendar, coalesced with any change already waiting."""
        assert operation in ("upsert", "delete"), operation
        record.ensure_one()
        event_id = None
        if operation == "delete":
            link = self._link(account, record._name, record.id)
            event_id = link.graph_event_id or None
        now = fields.Datetime.now()
        # An atomic upsert: two transactions enqueueing the same record never make two rows.
        self.env.cr.execute(
            """
            INSERT INTO o365_push_queue
                (account_id, res_model, res_id, operation, graph_event_id, state, attempts, next_attempt_at,
                 seq, create_sent, create_uid, create_date, write_uid, write_date)
            VALUES (%(account)s, %(model)s, %(res_id)s, %(op)s, %(event)s, 'pending', 0, %(now)s,
                    1, false, %(uid)s, %(now)s, %(uid)s, %(now)s)
            ON CONFLICT (account_id, res_model, res_id) DO UPDATE SET
                operation = EXCLUDED.operation,
                graph_event_id = COALESCE(EXCLUDED.graph_event_id, o365_push_queue.graph_event_id),
                state = 'pending', attempts = 0, next_attempt_at = EXCLUDED.next_attempt_at,
                last_error = NULL, seq = o365_push_queue.seq + 1,
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
        self._wake_worker()

    @api.model
    def _wake_worker(self):
        """Wake the push job right after commit, once per transaction (E1)."""
        data = self.env.cr.precommit.data
        if data.get("o365_push_wake"):
            return
        data["o365_push_wake"] = True
        cron = self.env.ref("o365_calendar_sync.ir_cron_o365_push", raise_if_not_found=False)
        if cron:
            # ir.cron.trigger row now, cron workers notified by a post-commit hook.
            cron.sudo()._trigger()

    @api.model
    def _link(self, account, res_model, res_id):
        return (
            self.env["o365.event.link"]
            .sudo()
            .search([("account_id", "=", account.id), ("res_model", "=", res_model), ("res_id", "=", res_id)], limit=1)
        )

    @api.model
    def _accounts_holding(self, record):
        """Mailboxes that have, or are about to get, an event for ``record``."""
        links = (
            self.env["o365.event.link"].sudo().search([("res_model", "=", record._name), ("res_id", "=", record.id)])
        )
        rows = self.sudo().search(
            [("res_model", "=", record._name), ("res_id", "=", record.id), ("operation", "=", "upsert")]
        )
        return links.account_id | rows.account_id

    @api.model
    def _forget(self, account, record):
        """Drop what waits for ``record`` in ``account`` (the user unlinked it, SPEC A6)."""
        self.sudo().search(
            [("account_id", "=", account.id), ("res_model", "=", record._name), ("res_id", "=", record.id)]
        ).unlink()

    def _transaction_id(self):
        """Deterministic per queue row: a create retried after a lost answer returns the first event."""
        self.ensure_one()
        db_uuid = self.env["ir.config_parameter"].sudo().get_param("database.uuid", "")
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"o365-push:{db_uuid}:{self.id}"))

    # -- user actions -------------------------------------------------------------------

    def action_retry_now(self):
        """Try again now, with a fresh try budget (the user fixed the cause, or Graph is back)."""
        self.sudo().write({"state": "pending", "attempts": 0, "next_attempt_at": fields.Datetime.now()})
        self._wake_worker()
        return True

    # -- the job (E1, E2, E6) --------------------------------------------------------------

    @api.model
    def _cron_push(self):
        self._push_due()

    @api.model
    def _param_int(self, key):
        value = self.env["ir.config_parameter"].sudo().get_param(PARAM_PREFIX + key)
        try:
            return int(value) if value not in (None, False, "") else DEFAULTS[key]
        except ValueError:
            return DEFAULTS[key]

    @api.model
    def _push_due(self, cursor_factory=None):
        """Push every due row, mailbox by mailbox, each in its own transactions.

        ``cursor_factory`` (default: new cursors of this registry) lets a test run
        the job as several real workers. Returns counters (pushed, failed, ...).
        """
        factory = cursor_factory or self.env.registry.cursor
        stats = Counter()
        with factory() as cr:
            cr.execute(
                """SELECT DISTINCT q.account_id FROM o365_push_queue q
                   JOIN o365_sync_account a ON a.id = q.account_id
                   WHERE q.state = 'pending' AND q.next_attempt_at <= %s
                     AND a.sync_state = 'running' AND a.connection_state = 'connected'""",
                [fields.Datetime.now()],
            )
            account_ids = [row[0] for row in cr.fetchall()]
        random.shuffle(account_ids)  # concurrent workers start on different mailboxes
        for account_id in account_ids:
            try:
                self._push_mailbox(factory, account_id, stats)
            except Exception:
                # One mailbox's trouble never stalls the others (E6); its rows stay queued.
                _logger.exception("Outlook push for sync account %s failed; will retry", account_id)
                stats["crashed"] += 1
        self._schedule_next_run(factory)
        return stats

    @api.model
    def _schedule_next_run(self, factory):
        with factory() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            cr.execute(
                """SELECT min(q.next_attempt_at) FROM o365_push_queue q
                   JOIN o365_sync_account a ON a.id = q.account_id
                   WHERE q.state = 'pending' AND a.sync_state = 'running' AND a.connection_state = 'connected'"""
            )
            at = cr.fetchone()[0]
            cron = env.ref("o365_calendar_sync.ir_cron_o365_push", raise_if_not_found=False)
            if at and cron:
                cron._trigger(max(at, fields.Datetime.now()))

    @api.model
    def _push_mailbox(self, factory, account_id, stats):
        with factory() as lock_cr:
            lock_cr.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [MAILBOX_LOCK_CLASS, account_id])
            if not lock_cr.fetchone()[0]:
                stats["mailbox_busy"] += 1
                return
            for _round in range(MAX_ROUNDS):
                if not self._push_round(factory, account_id, stats):
                    break

    @api.model
    def _push_round(self, factory, account_id, stats):
        """Claim up to 20 due rows, send them as one $batch, record the answers.

        Returns True when another round may find work. No row lock is held while
        Graph answers: a user saving the same record meanwhile is never blocked,
        and bumps ``seq`` so the newer version is pushed next.
        """
        with factory() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            cr.execute(
                """SELECT id, seq FROM o365_push_queue
                   WHERE account_id = %s AND state = 'pending' AND next_attempt_at <= %s
                   ORDER BY next_attempt_at, id LIMIT %s
                   FOR UPDATE SKIP LOCKED""",
                [account_id, fields.Datetime.now(), BATCH_LIMIT],
            )
            claimed = dict(cr.fetchall())
            if not claimed:
                return False
            queue = env["o365.push.queue"]
            rows = queue.browse(list(claimed))
            account = env["o365.sync.account"].browse(account_id)
            plan, settled = rows._plan(account)
            try:
                client = account._graph_client() if plan else None
            except AuthError as exc:
                answers = {str(row.id): _error_answer(0, "AuthError", str(exc)) for row, _req in plan}
                queue._settle(account, plan, answers, claimed, stats, retryable=not exc.reconnect)
                return False
            rows.filtered(lambda r: r.id in {row.id for row, req in plan if req["method"] == "POST"}).write(
                {"create_sent": True}
            )
            settled._finish(claimed, stats)
            # The job's own cursor: release the row locks before talking to Graph.
            cr.commit()  # pylint: disable=invalid-commit

            answers = {}
            if plan:
                try:
                    answers = client.batch([req for _row, req in plan])
                except GraphError as exc:
                    answers = {
                        str(row.id): _error_answer(exc.status, exc.code, exc.message, exc.retry_after)
                        for row, _req in plan
                    }
            throttled = queue._settle(account, plan, answers, claimed, stats)
            return not throttled

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
        self.ensure_one()
        link = self._link(account, self.res_model, self.res_id)
        if self.operation == "delete":
            event_id = self.graph_event_id or link.graph_event_id
            if not event_id and self.create_sent:
                event_id = self._find_by_transaction(account)
            if not event_id:
                return None  # never reached Outlook: nothing to remove
            return {"method": "DELETE", "url": f"/me/events/{event_id}"}
        record = self.env[self.res_model].browse(self.res_id).exists()
        if not record:
            return None  # gone before it could be pushed
        try:
            payload = record._o365_graph_payload(account)
        except Exception as exc:  # bad data in one record must not stop the batch
            _logger.warning("Cannot build the Outlook event of %s: %s", record, exc)
            return {"method": "INVALID", "url": "", "error": str(exc)}
        if payload is None:
            return None
        if link.graph_event_id:
            return {"method": "PATCH", "url": f"/me/events/{link.graph_event_id}", "body": payload}
        return {"method": "POST", "url": "/me/events", "body": {**payload, "transactionId": self._transaction_id()}}

    @api.model
    def _sent_creates(self, account, transaction_ids):
        """Which of these transactionIds are creates this account sent and has not settled yet."""
        if not transaction_ids:
            return set()
        rows = self.sudo().search([("account_id", "=", account.id), ("create_sent", "=", True)])
        return {tx for tx in (row._transaction_id() for row in rows) if tx in transaction_ids}

    def _find_by_transaction(self, account):
        """A create that may have reached Outlook although its answer was lost."""
        try:
            client = account._graph_client()
            found = client.get("/me/events", params={"$filter": f"transactionId eq '{self._transaction_id()}'"})
        except (GraphError, AuthError):
            return None
        events = found.get("value") or []
        return events[0]["id"] if events else None

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
    def _settle(self, account, plan, answers, claimed, stats, retryable=True):
        """Apply Graph's answers to links and rows; return True if Graph asked us to slow down."""
        throttled = False
        now = fields.Datetime.now()
        ok = self.browse()
        failures = []
        for row, request in plan:
            if request["method"] == "INVALID":
                failures.append((row, _error_answer(400, "InvalidRecord", request["error"]), False))
                continue
            answer = answers.get(str(row.id)) or _error_answer(0, "NoAnswer", "Graph gave no answer for this change.")
            status = answer["status"]
            if 200 <= status < 300 or (request["method"] == "DELETE" and status in (404, 410)):
                row._apply_success(account, request, answer.get("body") or {})
                ok |= row
            elif request["method"] == "PATCH" and status == 404:
                # Deleted in Outlook before we heard of it: treat it as the user's removal (A6).
                row._apply_outlook_gone(account)
                ok |= row
            else:
                transient = status == 0 or status in (412, 424, 429, 500, 502, 503, 504)
                throttled = throttled or status == 429
                failures.append((row, answer, transient and retryable))
        ok._finish(claimed, stats)
        max_tries = self._param_int("push_max_tries")
        for row, answer, transient in failures:
            row._apply_failure(account, answer, transient, max_tries, now, stats)
        if ok and not failures:
            account.sudo().write({"last_success_at": now, "last_error": False})
        elif ok:
            account.sudo().write({"last_success_at": now})
        return throttled

    def _apply_success(self, account, request, body):
        self.ensure_one()
        Link = self.env["o365.event.link"].sudo()
        link = self._link(account, self.res_model, self.res_id)
        if request["method"] == "DELETE":
            event_id = request["url"].rsplit("/", 1)[-1]
            Link.search([("account_id", "=", account.id), ("graph_event_id", "=", event_id)]).unlink()
            return
        values = {
            "graph_event_id": body.get("id"),
            "change_key": body.get("changeKey"),
            "ical_uid": body.get("iCalUId"),
        }
        record = self.env[self.res_model].browse(self.res_id)
        if request["method"] == "POST" and values["ical_uid"] and hasattr(record, "_o365_absorb_logged_copies"):
            record._o365_absorb_logged_copies(values["ical_uid"])
        if link:
            link.write({k: v for k, v in values.items() if v})
            return
        taken = Link.search([("account_id", "=", account.id), ("graph_event_id", "=", values["graph_event_id"])])
        if taken:
            # Linked to something else meanwhile: Outlook's event is this record's (same transactionId).
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
        link = self._link(account, self.res_model, self.res_id)
        record = self.env[self.res_model].browse(self.res_id).exists()
        if record and hasattr(record, "_o365_apply_outlook_removal"):
            record._o365_apply_outlook_removal(link)
        link.unlink()

    def _apply_failure(self, account, answer, transient, max_tries, now, stats):
        self.ensure_one()
        self.env.cr.execute("SELECT seq, attempts FROM o365_push_queue WHERE id = %s FOR UPDATE", [self.id])
        current = self.env.cr.fetchone()
        if not current:
            return  # the record was unlinked from Outlook meanwhile
        attempts = current[1] + 1
        status, message = answer["status"], _answer_message(answer)
        if transient and attempts < max_tries:
            retry_after = answer.get("retry_after")
            if retry_after is None:
                retry_after = parse_retry_after(answer.get("headers"))
            wait = _retry_delay(attempts, retry_after, self)
            self.write({"attempts": attempts, "next_attempt_at": now + timedelta(seconds=wait), "last_error": message})
            account.sudo().write(
                {"last_error": self.env._("Outlook did not take a change (%(error)s); Odoo retries it.", error=message)}
            )
            stats["retried"] += 1
            return
        self.write({"attempts": attempts, "state": "failed", "last_error": message})
        words = self.env._(
            "An Outlook calendar update failed after %(tries)s tries: %(error)s. Use 'Retry now' once it is fixed.",
            tries=attempts,
            error=message,
        )
        account.sudo().write({"last_error": words})
        record = self.env[self.res_model].browse(self.res_id).exists()
        if record and hasattr(record, "_o365_push_failed"):
            record._o365_push_failed(account, words)
        stats["failed"] += 1
        _logger.info(
            "Outlook push of %s,%s for account %s failed (status %s)", self.res_model, self.res_id, account.id, status
        )


def _error_answer(status, code, message, retry_after=None):
    return {"status": status, "body": {"error": {"code": code, "message": message}}, "retry_after": retry_after}


def _answer_message(answer):
    body = answer.get("body")
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return f"{answer['status']} {error.get('code') or ''}: {error.get('message') or ''}".strip()
    return f"{answer['status']}: {str(body or '')[:200]}"


def _retry_delay(attempts, retry_after, rows):
    """Seconds before the next try: Graph's Retry-After when given, else capped exponential backoff."""
    if retry_after is not None:
        return max(float(retry_after), 0.0)
    base = rows._param_int("push_backoff_base")
    cap = rows._param_int("push_backoff_cap")
    backoff = min(cap, base * 2 ** (attempts - 1))
    return backoff * random.uniform(0.8, 1.0)  # spread workers apart
