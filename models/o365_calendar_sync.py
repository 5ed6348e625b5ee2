"""The record side of the sync, declared once (SPEC A, C, E1, E4).

Activities, meetings and leaves inherit ``o365.calendar.sync``. Each model says:

- ``_o365_pushed_fields``: the fields whose ERP change alters its Outlook event;
- ``_o365_owner_account()``: whose mailbox the record belongs in (the target mailbox rule);
- ``_o365_graph_payload(account)``: the Outlook event, as Graph wants it (required);

and may answer the hooks below, whose defaults do nothing or only drop the link:
``_o365_pushed``, ``_o365_absorb_logged_copies``, ``_o365_push_failed``,
``_o365_answer_target`` (called by the push) and ``_o365_apply_outlook_change``,
``_o365_apply_outlook_removal``, ``_o365_link_occurrence``, ``_o365_prepare_log``,
``_o365_log_from_outlook`` (called by the pull, and the removal by the push when Outlook
lost the event).

These hooks are the whole contract between the records and the jobs (engine/): the jobs
call no other method of a record whose name starts with ``_``, and the models never import
the jobs (their crons are engine/cron.py).

The mixin enqueues on create, write and unlink (never calling Graph, E1), finds the
record's links and queue rows, shows the sync status badge and offers Retry.

Models list the mixin FIRST, ``_name = "mail.activity"; _inherit = ["o365.calendar.sync",
"mail.activity"]``: its create/write/unlink then wrap the model's whole chain, as the
per-model overrides they replace did (a recurrence rewrite of a meeting, for one, never
reaches the innermost ``write``).
"""

from odoo import api, fields, models
from odoo.tools import format_datetime

from ..utils import plain_words

# The one context key for "this write comes from the sync" (Outlook's change read back,
# the sync's own bookkeeping): it is not pushed back to Outlook (E4).
SYNC_CONTEXT = "o365_sync"

SYNC_STATUSES = [("none", "Not on Outlook"), ("synced", "On Outlook"), ("waiting", "Waiting"), ("failed", "Failed")]


class O365CalendarSync(models.AbstractModel):
    """An Odoo record that has an event on an Outlook calendar (one per mailbox, see o365.event.link)."""

    _name = "o365.calendar.sync"
    _description = "Synced with Outlook Calendars"

    # Fields whose ERP change alters the Outlook event: writing one queues a push.
    _o365_pushed_fields = frozenset()
    # Whether a new record is queued at once (a meeting waits for Confirm, A10).
    _o365_queued_on_create = True

    o365_sync_error = fields.Text("Outlook Sync Error", compute="_compute_o365_sync_status")
    # The badge (issue 15): on Outlook / waiting / failed, in plain words; the detail for administrators.
    o365_sync_status = fields.Selection(SYNC_STATUSES, "Outlook", compute="_compute_o365_sync_status")
    o365_sync_message = fields.Char("Outlook Sync", compute="_compute_o365_sync_status")
    o365_sync_detail = fields.Text("Outlook Sync Details", compute="_compute_o365_sync_status")

    # -- the record's links and queue rows ---------------------------------------------------

    def _o365_links(self, account=None):
        """The links of these records to Outlook events (in ``account``'s mailbox only, if given)."""
        domain = [("res_model", "=", self._name), ("res_id", "in", self.ids)]
        if account is not None:
            domain.append(("account_id", "=", account.id))
        return self.env["o365.event.link"].sudo().search(domain)

    def _o365_queue_rows(self, domain=()):
        """The changes of these records that wait in the push queue (narrowed by ``domain``)."""
        return (
            self.env["o365.push.queue"]
            .sudo()
            .search([("res_model", "=", self._name), ("res_id", "in", self.ids), *domain])
        )

    def _o365_accounts_holding(self):
        """Mailboxes that have, or are about to get, an event for this record."""
        self.ensure_one()
        return self._o365_links().account_id | self._o365_queue_rows([("operation", "=", "upsert")]).account_id

    # -- the target mailbox (S3, S4) ---------------------------------------------------------

    def _o365_owner_account(self):
        """Hook: the sync account of the user whose calendar this record belongs on, or None.

        Each model says whose (the assignee, the organiser, the employee) and, where its
        options decide it, whether the record belongs there at all."""
        self.ensure_one()
        return None

    def _o365_may_enter(self, account, asked=False):
        """Whether a record not yet in ``account``'s mailbox may go there now.

        Only while sync runs (S4: a change made while stopped never syncs), and only a
        record created after the sync start (S3), unless the user asks for it (``asked``, A6).
        """
        if not account.is_syncing():
            return False
        if asked or not account.sync_started_at or not self.create_date:
            return True
        return self.create_date >= account.sync_started_at

    def _o365_target_account(self, asked=False):
        """The mailbox this record belongs in now, or None.

        A record already in (or queued for) its owner's mailbox keeps its event across
        Stop/Start and Disconnect/Connect (S4): while sync is stopped its changes wait in
        the queue and go out at the next Start. Another goes there if it may enter.
        """
        self.ensure_one()
        account = self._o365_owner_account()
        if not account:
            return None
        if account in self._o365_accounts_holding() or self._o365_may_enter(account, asked):
            return account
        return None

    # -- enqueueing (inside the user's transaction; never calls Graph, E1) -------------------

    def _o365_from_sync(self):
        """True when the current write replays Outlook's side or is the sync's own: not pushed (E4)."""
        return bool(self.env.context.get(SYNC_CONTEXT))

    def _o365_queue_changes(self, asked=False):
        """Queue an update in the mailbox the record belongs in, a delete in every other
        mailbox that holds it (the record was reassigned, refused, ...)."""
        Queue = self.env["o365.push.queue"].sudo()
        for record in self.sudo():
            target = record._o365_target_account(asked=asked)
            for account in record._o365_accounts_holding():
                if account != target:
                    Queue._enqueue(account, record, "delete")
            if target:
                Queue._enqueue(target, record, "upsert")

    def _o365_queue_removal(self):
        """The records are being deleted: queue their events' removal, except where the event
        is Outlook's own (a meeting logged from Outlook: deleting it in Odoo cancels nothing)."""
        Queue = self.env["o365.push.queue"].sudo()
        for record in self:
            outlook_owned = record._o365_links().filtered(lambda link: link.origin == "outlook").account_id
            for account in record._o365_accounts_holding() - outlook_owned:
                Queue._enqueue(account, record, "delete")

    def _o365_state_before_write(self, vals):
        """Hook: what ``_o365_queue_write`` needs to know of the records before ``vals`` is written."""
        return None

    def _o365_queue_write(self, vals, state_before):
        """Hook: an ERP write changed pushed fields; queue what it means for Outlook."""
        self._o365_queue_changes()

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        if self._o365_queued_on_create:
            records._o365_queue_changes()
        return records

    def write(self, vals):
        if not self._o365_pushed_fields.intersection(vals) or self._o365_from_sync():
            return super().write(vals)
        state_before = self._o365_state_before_write(vals)
        result = super().write(vals)
        self._o365_queue_write(vals, state_before)
        return result

    def unlink(self):
        self._o365_queue_removal()
        return super().unlink()

    # -- hooks of the push (called by engine/pusher.py) --------------------------------------

    def _o365_graph_payload(self, account):
        """Required: the Outlook event of this record for ``account``'s mailbox (a dict for Graph),
        or None when nothing is to be pushed."""
        raise NotImplementedError(f"{self._name} must say what its Outlook event is")

    def _o365_absorb_logged_copies(self, ical_uid):
        """Called when Outlook created this record's event, with its iCalUId (E2, B12)."""

    def _o365_pushed(self, account, body):
        """Called when Outlook took a push, with Graph's answer (or the event read back)."""

    def _o365_push_failed(self, account, message):
        """Called when the push gave up: ``message`` says why, in plain words (E2)."""

    def _o365_answer_target(self, account):
        """A17: what answering this record's invitation in ``account``'s mailbox takes, or None:
        (Graph action, the id of the owner's copy when Odoo knows it, the iCalUId to find it by).
        Only meetings are answered."""
        return None

    # -- hooks of the pull (Outlook's side, E4) ----------------------------------------------

    def _o365_apply_outlook_change(self, link, event, directory=None):
        """Outlook changed the event behind ``link`` (``event``: Graph's JSON). Nothing flows
        back by default: the next ERP change overwrites Outlook's edit.

        ``directory``: who the addresses of the pull's page are in Odoo (utils/directory.py),
        looked up once for the whole page; None when the record must look up what it needs."""

    def _o365_apply_outlook_removal(self, link, cancelled=False):
        """The event behind ``link`` was deleted in Outlook (``cancelled``: its organiser
        cancelled it). By default the record stays, and is not pushed again until it changes."""
        link.sudo().unlink()

    def _o365_link_occurrence(self, account, event):
        """A series (this record) has an occurrence ``event`` that Outlook changed alone: the link
        to the record of that occurrence, made if needed, or None (only recurrences have any, A16)."""
        return None

    @api.model
    def _o365_prepare_log(self, account, event, directory, org_domains):
        """An Outlook event Odoo has no record of passed the B rules: what logging it creates, in
        a form ``_o365_log_from_outlook`` takes, or None. Only meetings are logged (B1)."""
        return None

    @api.model
    def _o365_log_from_outlook(self, entries):
        """Create the records ``_o365_prepare_log`` prepared, in one batch, and link each to its
        mailbox; ``entries`` are (account, what ``_o365_prepare_log`` returned), of one or of
        several mailboxes. Returns the records."""
        return self.browse()

    # -- the sync status badge and Retry (issue 15) ------------------------------------------

    @api.depends_context("lang")
    def _compute_o365_sync_status(self):
        failed = self._o365_queue_rows([("state", "=", "failed")])
        badges = self.filtered("id")._o365_sync_badges()
        for record in self:
            record.o365_sync_error = "\n".join(
                failed.filtered(lambda row, record=record: row.res_id == record.id).mapped("last_error")
            )
            status, message, detail = badges.get(record.id, ("none", "", ""))
            record.o365_sync_status = status
            record.o365_sync_message = message or False
            record.o365_sync_detail = detail or False

    def _o365_sync_badges(self):
        """{record id: (status, plain words, technical detail)} for the badge.

        Failed beats waiting beats on Outlook, over every mailbox that holds the record.
        """
        env = self.env
        if not self.ids:
            return {}
        rows = self._o365_queue_rows()
        linked = set(self._o365_links().mapped("res_id"))
        badges = {}
        for res_id in self.ids:
            mine = rows.filtered(lambda row, res_id=res_id: row.res_id == res_id)
            failed = mine.filtered(lambda row: row.state == "failed")
            if failed:
                row = failed[0]
                what, detail = plain_words.split(row.last_error, env.lang)
                if row.resume_on_recovery:
                    todo = env._("It goes out by itself once Outlook answers again, or use Retry.")
                else:
                    todo = plain_words.explain_detail(detail).in_lang(env.lang).todo
                    todo = todo or env._("Use Retry once it is fixed.")
                badges[res_id] = ("failed", env._("Failed: %(what)s %(todo)s", what=what, todo=todo), detail)
                continue
            if mine:
                row = mine[0]
                badges[res_id] = ("waiting", self._o365_waiting_words(row), plain_words.split(row.last_error)[1])
                continue
            if res_id in linked:
                badges[res_id] = ("synced", env._("On Outlook"), "")
            else:
                badges[res_id] = ("none", "", "")
        return badges

    def _o365_waiting_words(self, row):
        """Why the change of queue ``row`` still waits, in plain words."""
        env = self.env
        account = row.account_id
        what = plain_words.reword(row.last_error, env.lang)
        if account.connection_state == "reconnect":
            return env._(
                "Waiting: %(user)s must reconnect Microsoft 365 (My Profile > Preferences > Reconnect); "
                "nothing is lost.",
                user=account.user_id.name,
            )
        if account.sync_state != "running":
            return env._(
                "Waiting: the sync of %(user)s is stopped; this goes out when it starts again.",
                user=account.user_id.name,
            )
        if account.sync_paused():
            return env._("Waiting: your administrator paused all sync; this goes out when it resumes.")
        if row.last_error:
            # Odoo's own date and time format of the user's language, as every date field shows (issue 23).
            when = format_datetime(env, row.next_attempt_at, dt_format=False)
            return env._(
                "Waiting: %(what)s Odoo tries again by itself at %(when)s; nothing is lost.", what=what, when=when
            )
        return env._("Waiting: on its way to Outlook.")

    def action_o365_retry_now(self):
        """Retry what failed, or what waits after an error, now (issue 15)."""
        self._o365_queue_rows(["|", ("state", "=", "failed"), ("last_error", "!=", False)]).action_retry_now()
        return True
