from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import format_datetime

from ..utils import plain_words
from ..utils.event_payloads import Contact, activity_event, parse_graph_time

DEFAULT_START = time(9, 0)  # an activity has only a due date: put it at 09:00 in the assignee's zone
DEFAULT_MINUTES = 30
DEFAULT_DURATION = timedelta(minutes=DEFAULT_MINUTES)
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


SYNC_STATUSES = [("none", "Not on Outlook"), ("synced", "On Outlook"), ("waiting", "Waiting"), ("failed", "Failed")]


def _minutes(start, end):
    """Whole minutes from start to end, 0 unless end is after start."""
    if not start or not end or end <= start:
        return 0
    return int((end - start).total_seconds() // 60)


def _zone(name):
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def o365_sync_badges(records):
    """{record id: (status, plain words, technical detail)} for the badge on activities and meetings.

    Failed beats waiting beats on Outlook, over every mailbox that holds the record.
    """
    env = records.env
    if not records.ids:
        return {}
    links = env["o365.event.link"].sudo().search([("res_model", "=", records._name), ("res_id", "in", records.ids)])
    rows = env["o365.push.queue"].sudo().search([("res_model", "=", records._name), ("res_id", "in", records.ids)])
    linked = set(links.mapped("res_id"))
    badges = {}
    for res_id in records.ids:
        mine = rows.filtered(lambda row, res_id=res_id: row.res_id == res_id)
        failed = mine.filtered(lambda row: row.state == "failed")
        if failed:
            row = failed[0]
            what, detail = plain_words.split(row.last_error)
            if row.resume_on_recovery:
                todo = env._("It goes out by itself once Outlook answers again, or use Retry.")
            else:
                todo = plain_words.explain_detail(detail).todo or env._("Use Retry once it is fixed.")
            badges[res_id] = ("failed", env._("Failed: %(what)s %(todo)s", what=what, todo=todo), detail)
            continue
        if mine:
            row = mine[0]
            account = row.account_id
            what, detail = plain_words.split(row.last_error)
            if account.connection_state == "reconnect":
                words = env._(
                    "Waiting: %(user)s must reconnect Microsoft 365 (Preferences); nothing is lost.",
                    user=account.user_id.name,
                )
            elif account.sync_state != "running":
                words = env._(
                    "Waiting: the sync of %(user)s is stopped; this goes out when it starts again.",
                    user=account.user_id.name,
                )
            elif account._sync_paused():
                words = env._("Waiting: your administrator paused all sync; this goes out when it resumes.")
            elif row.last_error:
                when = format_datetime(env, row.next_attempt_at, dt_format="short")
                words = env._(
                    "Waiting: %(what)s Odoo tries again by itself at %(when)s; nothing is lost.", what=what, when=when
                )
            else:
                words = env._("Waiting: on its way to Outlook.")
            badges[res_id] = ("waiting", words, detail)
            continue
        if res_id in linked:
            badges[res_id] = ("synced", env._("On Outlook"), "")
        else:
            badges[res_id] = ("none", "", "")
    return badges


class MailActivity(models.Model):
    """Phone calls and tasks on the assignee's Outlook calendar (SPEC A1-A9)."""

    _inherit = "mail.activity"

    o365_start = fields.Datetime(
        "Start", compute="_compute_o365_times", store=True, readonly=False, precompute=True, copy=False
    )
    o365_end = fields.Datetime(
        "End", compute="_compute_o365_times", store=True, readonly=False, precompute=True, copy=False
    )
    o365_duration = fields.Integer(
        "Duration (minutes)",
        copy=False,
        help="Kept when Start moves, as in Odoo's calendar: moving Start moves End with it.",
    )
    o365_unlinked = fields.Boolean(
        "Removed from Outlook",
        copy=False,
        help="The event was deleted in Outlook: the activity is no longer pushed until you put it back.",
    )
    o365_sync_error = fields.Text("Outlook Sync Error", compute="_compute_o365_sync_status")
    o365_synced = fields.Boolean("On Outlook Calendar", compute="_compute_o365_sync_status")
    # The badge (issue 15): on Outlook / waiting / failed, in plain words; the detail for administrators.
    o365_sync_status = fields.Selection(SYNC_STATUSES, "Outlook", compute="_compute_o365_sync_status")
    o365_sync_message = fields.Char("Outlook Sync", compute="_compute_o365_sync_status")
    o365_sync_detail = fields.Text("Outlook Sync Details", compute="_compute_o365_sync_status")

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

    @api.constrains("o365_start", "o365_end")
    def _check_o365_times(self):
        for activity in self:
            if activity.o365_start and activity.o365_end and activity.o365_end < activity.o365_start:
                raise ValidationError(
                    self.env._(
                        "The activity “%(name)s” ends before it starts: set its End after its Start.",
                        name=activity.summary or activity.activity_type_id.name or activity.res_name or "",
                    )
                )

    @api.onchange("o365_start")
    def _onchange_o365_start(self):
        """Moving Start moves End, keeping the duration, and the due date follows Start's day."""
        for activity in self:
            if not activity.o365_start:
                continue
            minutes = activity.o365_duration or _minutes(activity._origin.o365_start, activity._origin.o365_end)
            activity.o365_end = activity.o365_start + timedelta(minutes=minutes or DEFAULT_MINUTES)
            zone = _zone(activity.user_id.tz or self.env.user.tz)
            activity.date_deadline = activity.o365_start.replace(tzinfo=UTC).astimezone(zone).date()

    @api.onchange("o365_end")
    def _onchange_o365_end(self):
        for activity in self:
            minutes = _minutes(activity.o365_start, activity.o365_end)
            if minutes:
                activity.o365_duration = minutes

    def _compute_o365_sync_status(self):
        links = self.env["o365.event.link"].sudo().search([("res_model", "=", self._name), ("res_id", "in", self.ids)])
        failed = (
            self.env["o365.push.queue"]
            .sudo()
            .search([("res_model", "=", self._name), ("res_id", "in", self.ids), ("state", "=", "failed")])
        )
        badges = o365_sync_badges(self.filtered("id"))
        for activity in self:
            activity.o365_synced = any(link.res_id == activity.id for link in links)
            activity.o365_sync_error = "\n".join(
                failed.filtered(lambda r, a=activity: r.res_id == a.id).mapped("last_error")
            )
            status, message, detail = badges.get(activity.id, ("none", "", ""))
            activity.o365_sync_status = status
            activity.o365_sync_message = message or False
            activity.o365_sync_detail = detail or False

    # -- ORM: queue what changed, never call Graph (E1) -----------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._o365_deadline_from_start(vals)
        activities = super().create(vals_list)
        activities._o365_queue_changes()
        return activities

    def write(self, vals):
        if vals.get("o365_start") and "o365_end" not in vals and len(self) > 1:
            # Each activity keeps its own duration when Start moves.
            for activity in self:
                activity.write(vals)
            return True
        vals = self._o365_deadline_from_start(dict(vals))
        self._o365_keep_duration(vals)
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

    def _o365_keep_duration(self, vals):
        """A write that moves Start alone moves End too (Odoo's calendar does the same); a write
        of Start or End remembers the duration."""
        if len(self) != 1 or not ("o365_start" in vals or "o365_end" in vals):
            return vals
        start = fields.Datetime.to_datetime(vals["o365_start"]) if "o365_start" in vals else self.o365_start
        # Outlook sends both ends of a move; a start it changed alone is a resize, kept as it is.
        if "o365_end" not in vals and start and not self.env.context.get(FROM_OUTLOOK):
            minutes = self.o365_duration or _minutes(self.o365_start, self.o365_end) or DEFAULT_MINUTES
            vals["o365_end"] = start + timedelta(minutes=minutes)
        end = fields.Datetime.to_datetime(vals.get("o365_end"))
        if _minutes(start, end):
            vals["o365_duration"] = _minutes(start, end)
        return vals

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
                    "Activity “%(name)s”: %(error)s",
                    name=self.summary or self.activity_type_id.name,
                    error=plain_words.words_of(message),
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
        """Retry what failed, or what waits after an error, now (issue 15)."""
        rows = (
            self.env["o365.push.queue"]
            .sudo()
            .search(
                [
                    ("res_model", "=", self._name),
                    ("res_id", "in", self.ids),
                    "|",
                    ("state", "=", "failed"),
                    ("last_error", "!=", False),
                ]
            )
        )
        rows.action_retry_now()
        return True


class MailActivitySchedule(models.TransientModel):  # pylint: disable=no-wizard-in-models  # Odoo's own wizard, extended
    """Start and End where activities are scheduled from the chatter (issue 15, A1)."""

    _inherit = "mail.activity.schedule"

    o365_start = fields.Datetime(
        "Start",
        compute="_compute_o365_times",
        store=True,
        readonly=False,
        help="When the activity sits on the Outlook calendar (09:00 on the due date unless you pick a time).",
    )
    o365_end = fields.Datetime("End", compute="_compute_o365_times", store=True, readonly=False)
    o365_duration = fields.Integer("Duration (minutes)", default=DEFAULT_MINUTES)

    @api.depends("date_deadline", "activity_user_id")
    def _compute_o365_times(self):
        for wizard in self:
            if not wizard.date_deadline:
                continue
            zone = _zone(wizard.activity_user_id.tz or self.env.user.tz)
            local_time = DEFAULT_START
            if wizard.o365_start:
                local = wizard.o365_start.replace(tzinfo=UTC).astimezone(zone)
                if local.date() == wizard.date_deadline:
                    continue
                local_time = local.time()
            start = datetime.combine(wizard.date_deadline, local_time, tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
            wizard.o365_start = start
            wizard.o365_end = start + timedelta(minutes=wizard.o365_duration or DEFAULT_MINUTES)

    @api.onchange("o365_start")
    def _onchange_o365_start(self):
        for wizard in self:
            if wizard.o365_start:
                wizard.o365_end = wizard.o365_start + timedelta(minutes=wizard.o365_duration or DEFAULT_MINUTES)
                zone = _zone(wizard.activity_user_id.tz or self.env.user.tz)
                wizard.date_deadline = wizard.o365_start.replace(tzinfo=UTC).astimezone(zone).date()

    @api.onchange("o365_end")
    def _onchange_o365_end(self):
        for wizard in self:
            minutes = _minutes(wizard.o365_start, wizard.o365_end)
            if minutes:
                wizard.o365_duration = minutes

    @api.constrains("o365_start", "o365_end")
    def _check_o365_times(self):
        for wizard in self:
            if wizard.o365_start and wizard.o365_end and wizard.o365_end < wizard.o365_start:
                raise ValidationError(self.env._("The activity ends before it starts: set its End after its Start."))

    def _action_schedule_activities(self):
        activities = super()._action_schedule_activities()
        if self.o365_start and self.o365_end and activities:
            activities.write({"o365_start": self.o365_start, "o365_end": self.o365_end})
        return activities
