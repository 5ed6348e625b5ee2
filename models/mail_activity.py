from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..utils.event_payloads import Contact, activity_event, parse_graph_time

DEFAULT_START = time(9, 0)  # an activity has only a due date: put it at 09:00 in the assignee's zone
DEFAULT_DURATION = timedelta(minutes=30)
# Fields whose change alters the Outlook event (SPEC A4, A8, A9).
PUSHED_FIELDS = {
    "summary",
    "activity_type_id",
    "note",
    "date_deadline",
    "o365_start",
    "o365_end",
    "user_id",
    "res_model_id",
    "res_id",
}
# Context keys: a write that comes from Outlook must not be pushed back (E4), and
# the unlink that Odoo does when an activity is marked done keeps the event (A7).
FROM_OUTLOOK = "o365_from_outlook"
MARKING_DONE = "o365_activity_done"


def _zone(name):
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


class MailActivity(models.Model):
    """Phone calls and tasks on the assignee's Outlook calendar (SPEC A1-A9)."""

    _inherit = "mail.activity"

    o365_start = fields.Datetime(
        "Start", compute="_compute_o365_times", store=True, readonly=False, precompute=True, copy=False
    )
    o365_end = fields.Datetime(
        "End", compute="_compute_o365_times", store=True, readonly=False, precompute=True, copy=False
    )
    o365_unlinked = fields.Boolean(
        "Removed from Outlook",
        copy=False,
        help="The event was deleted in Outlook: the activity is no longer pushed until you put it back.",
    )
    o365_sync_error = fields.Text("Outlook Sync Error", compute="_compute_o365_sync_status")
    o365_synced = fields.Boolean("On Outlook Calendar", compute="_compute_o365_sync_status")

    @api.depends("date_deadline", "user_id")
    def _compute_o365_times(self):
        """Start at 09:00 (assignee's zone) on the due date for 30 min; a new due
        date moves the slot to that day, keeping its time and length."""
        for activity in self:
            if not activity.date_deadline:
                continue
            zone = _zone(activity.user_id.tz or self.env.user.tz)
            start, end = activity.o365_start, activity.o365_end
            duration = (end - start) if start and end and end > start else DEFAULT_DURATION
            if start:
                local = start.replace(tzinfo=UTC).astimezone(zone)
                if local.date() == activity.date_deadline:
                    if not end:
                        activity.o365_end = start + duration
                    continue
                local_time = local.time()
            else:
                local_time = DEFAULT_START
            moment = datetime.combine(activity.date_deadline, local_time, tzinfo=zone)
            new_start = moment.astimezone(UTC).replace(tzinfo=None)
            activity.o365_start = new_start
            activity.o365_end = new_start + duration

    def _compute_o365_sync_status(self):
        links = self.env["o365.event.link"].sudo().search([("res_model", "=", self._name), ("res_id", "in", self.ids)])
        failed = (
            self.env["o365.push.queue"]
            .sudo()
            .search([("res_model", "=", self._name), ("res_id", "in", self.ids), ("state", "=", "failed")])
        )
        for activity in self:
            activity.o365_synced = any(link.res_id == activity.id for link in links)
            activity.o365_sync_error = "\n".join(
                failed.filtered(lambda r, a=activity: r.res_id == a.id).mapped("last_error")
            )

    # -- ORM: queue what changed, never call Graph (E1) -----------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._o365_deadline_from_start(vals)
        activities = super().create(vals_list)
        activities._o365_queue_changes()
        return activities

    def write(self, vals):
        vals = self._o365_deadline_from_start(dict(vals))
        result = super().write(vals)
        if PUSHED_FIELDS & set(vals) and not self.env.context.get(FROM_OUTLOOK):
            self._o365_queue_changes()
        return result

    def unlink(self):
        if not self.env.context.get(MARKING_DONE):
            Queue = self.env["o365.push.queue"].sudo()
            for activity in self:
                for account in Queue._accounts_holding(activity):
                    Queue._enqueue(account, activity, "delete")
        return super().unlink()

    def _action_done(self, feedback=False, attachment_ids=None):
        """Done keeps the event as a record of what happened (A7), although Odoo unlinks the activity."""
        return super(MailActivity, self.with_context(**{MARKING_DONE: True}))._action_done(
            feedback=feedback, attachment_ids=attachment_ids
        )

    @api.model
    def _o365_deadline_from_start(self, vals):
        """A start set directly (form or Outlook) moves the due date to that day."""
        if vals.get("o365_start") and "date_deadline" not in vals:
            start = fields.Datetime.to_datetime(vals["o365_start"])
            user = self.env["res.users"].browse(vals.get("user_id")) if vals.get("user_id") else None
            tz = (user or (self[:1].user_id if self else self.env.user)).tz or self.env.user.tz
            vals["date_deadline"] = start.replace(tzinfo=UTC).astimezone(_zone(tz)).date()
        return vals

    # -- which mailbox holds the event ---------------------------------------------------

    def _o365_kind(self):
        """'phonecall', 'task', or None (meetings go through their calendar.event, A10)."""
        self.ensure_one()
        category = self.activity_type_id.category
        if category == "meeting" or self.calendar_event_id:
            return None
        return "phonecall" if category == "phonecall" else "task"

    def _o365_target_account(self, asked=False):
        """The assignee's account when this activity belongs on their calendar.

        An activity already linked to (or queued for) the account keeps its event
        across Stop/Start and Disconnect/Connect (S4): while sync is stopped its
        changes wait in the queue and go out at the next Start. An activity not yet
        there is pushed only while sync runs and if it was created after the sync
        start (S3), unless the user asks for it (``asked``, A6).
        """
        self.ensure_one()
        kind = self._o365_kind()
        if not kind or not self.user_id:
            return None
        account = self.env["o365.sync.account"].sudo().search([("user_id", "=", self.user_id.id)], limit=1)
        if not account or not (account.sync_phonecalls if kind == "phonecall" else account.sync_tasks):
            return None
        if account in self.env["o365.push.queue"].sudo()._accounts_holding(self):
            return account
        if not account._is_syncing():
            return None  # created or changed while stopped: never synced (S4)
        if not asked and account.sync_started_at and self.create_date and self.create_date < account.sync_started_at:
            return None  # created before the sync start (S3)
        return account

    def _o365_queue_changes(self, asked=False):
        Queue = self.env["o365.push.queue"].sudo()
        for activity in self.sudo():
            if not activity.active or activity.o365_unlinked:
                continue
            target = activity._o365_target_account(asked=asked)
            for account in Queue._accounts_holding(activity):
                # Reassigned (A9). Never because sync is stopped: a linked activity
                # keeps its account as target then (S4).
                if account != target:
                    Queue._enqueue(account, activity, "delete")
            if target:
                Queue._enqueue(target, activity, "upsert")

    # -- the event (A2, A3) ----------------------------------------------------------------

    def _o365_contact(self):
        self.ensure_one()
        if not self.res_model or not self.res_id:
            return self.env["res.partner"]
        record = self.env[self.res_model].sudo().browse(self.res_id).exists()
        if not record:
            return self.env["res.partner"]
        if record._name == "res.partner":
            return record
        partner_field = record._fields.get("partner_id")
        if partner_field and partner_field.comodel_name == "res.partner":
            return record.partner_id
        return self.env["res.partner"]

    def _o365_graph_payload(self, account):
        self.ensure_one()
        kind = self._o365_kind()
        if not kind:
            return None
        partner = self._o365_contact()
        contact = Contact(
            name=partner.name or "",
            company=partner.parent_id.name or partner.company_name or "",
            phone=partner.phone or partner.mobile or "",
            email=partner.email or "",
        )
        base = self.env["o365.config"]._public_base_url()
        open_url = f"{base}/mail/view?model={self.res_model}&res_id={self.res_id}"
        summary = self.summary or self.activity_type_id.name or self.res_name or ""
        start = self.o365_start
        end = self.o365_end if self.o365_end and self.o365_end > start else start + DEFAULT_DURATION
        return activity_event(kind, summary, start, end, open_url, contact, self.note)

    # -- Outlook's side (called by the inbound pull, A5, A6) ------------------------------

    def _o365_apply_outlook_change(self, link, event):
        """Only a move or resize flows back (A5); subject and body stay Odoo's."""
        activity = self.exists()
        if not activity:
            return
        start, end = parse_graph_time(event.get("start")), parse_graph_time(event.get("end"))
        values = {}
        if start and start != activity.o365_start:
            values["o365_start"] = start
        if end and end != activity.o365_end:
            values["o365_end"] = end
        if values:
            activity.sudo().with_context(**{FROM_OUTLOOK: True}).write(values)
        if event.get("changeKey"):
            link.sudo().change_key = event["changeKey"]

    def _o365_apply_outlook_removal(self, link):
        """Deleted in Outlook: the activity stays, unlinked, and is not pushed again (A6)."""
        activity = self.exists()
        if activity and link:
            activity.sudo().with_context(**{FROM_OUTLOOK: True}).write({"o365_unlinked": True})
            self.env["o365.push.queue"]._forget(link.account_id, activity)
        if link:
            link.sudo().unlink()

    def _o365_push_failed(self, account, message):
        """Make a give-up visible where the user works: the document's chatter."""
        self.ensure_one()
        record = self.env[self.res_model].sudo().browse(self.res_id).exists()
        if record and hasattr(record, "message_post"):
            record.message_post(
                body=self.env._(
                    "Activity “%(name)s”: %(error)s", name=self.summary or self.activity_type_id.name, error=message
                ),
                subtype_xmlid="mail.mt_note",
            )

    # -- buttons -------------------------------------------------------------------------

    def action_o365_push_again(self):
        """Put an activity removed in Outlook back on the calendar (A6: only when asked)."""
        self.write({"o365_unlinked": False})
        self._o365_queue_changes(asked=True)
        if not any(activity._o365_target_account(asked=True) for activity in self.sudo()):
            raise UserError(
                self.env._(
                    "This activity cannot go back on an Outlook calendar: its assignee's sync is not running, "
                    "or does not include this type of activity (Preferences > Calendar)."
                )
            )
        return True

    def action_o365_retry_now(self):
        rows = (
            self.env["o365.push.queue"]
            .sudo()
            .search([("res_model", "=", self._name), ("res_id", "in", self.ids), ("state", "=", "failed")])
        )
        rows.action_retry_now()
        return True
