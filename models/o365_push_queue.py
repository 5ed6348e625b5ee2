import uuid

from odoo import api, fields, models

from ..utils import plain_words
from ..utils.crons import PUSH_CRON_XMLIDS, SHARDS, wake_cron


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
    operation = fields.Selection(
        [("upsert", "Create or update"), ("delete", "Delete"), ("answer", "Answer the invitation")],
        required=True,
        readonly=True,
    )
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
    @api.depends_context("lang")
    def _compute_error_words(self):
        for row in self:
            words, detail = plain_words.split(row.last_error, self.env.lang)
            row.last_error_words = words or False
            row.last_error_detail = detail or False
            record = self.env[row.res_model].browse(row.res_id).exists() if row.res_model in self.env else None
            row.record_name = record.sudo().display_name if record else f"{row.res_model},{row.res_id}"

    # -- enqueueing (inside the user's transaction; never calls Graph) -------------------

    @api.model
    def _enqueue(self, account, record, operation):
        """Record that ``record`` must be created/updated ("upsert") or removed ("delete")
        in ``account``'s calendar, or that its user's answer to the invitation must reach their
        copy ("answer", A17), coalesced with any change already waiting."""
        assert operation in ("upsert", "delete", "answer"), operation
        record.ensure_one()
        event_id = None
        if operation == "delete":
            link = self.find_link(account, record._name, record.id)
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
            wake_cron(self.env, PUSH_CRON_XMLIDS[shard])

    @api.model
    @api.private
    def find_link(self, account, res_model, res_id):
        """The link of this record in ``account``'s mailbox (the record may be gone by now)."""
        return (
            self.env["o365.event.link"]
            .sudo()
            .search([("account_id", "=", account.id), ("res_model", "=", res_model), ("res_id", "=", res_id)], limit=1)
        )

    @api.model
    @api.private
    def delete_asked(self, account, res_model, res_id):
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

    @api.model
    @api.private
    def sent_creates(self, account, transaction_ids):
        """Which of these transactionIds are creates this account sent and has not settled yet."""
        if not transaction_ids:
            return set()
        rows = self.sudo().search([("account_id", "=", account.id), ("create_state", "in", ("sent", "absent"))])
        return {tx for tx in (row.transaction_id() for row in rows) if tx in transaction_ids}

    @api.private
    def transaction_id(self):
        """Deterministic per queue row: Graph refuses a second create of the same row (SPEC E2)."""
        self.ensure_one()
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"o365-push:{self._database_uuid()}:{self.id}"))

    @api.private
    def record_stamp(self):
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
