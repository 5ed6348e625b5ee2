from datetime import UTC, datetime, time, timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..utils import plain_words
from ..utils.graph_event import mailbox_zone
from ..utils.mappers.activity import Contact, activity_changes, activity_event
from .o365_calendar_sync import SYNC_CONTEXT

DEFAULT_START = time(9, 0)  # an activity has only a due date: put it at 09:00 in the assignee's zone
DEFAULT_MINUTES = 30
DEFAULT_DURATION = timedelta(minutes=DEFAULT_MINUTES)
# Fields whose change alters the Outlook event (SPEC A4, A8, A9).
PUSHED_FIELDS = frozenset(
    {
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
)
# Odoo unlinks an activity the user marks done; its event stays as a record of what happened (A7).
MARKED_DONE_CONTEXT = "o365_activity_done"


def _minutes(start, end):
    """Whole minutes from start to end, 0 unless end is after start."""
    if not start or not end or end <= start:
        return 0
    return int((end - start).total_seconds() // 60)


def moved_start(start, minutes, tz):
    """(end, due date) once Start moved: End keeps the duration, the due date follows Start's day
    in the assignee's time zone."""
    end = start + timedelta(minutes=minutes or DEFAULT_MINUTES)
    return end, start.replace(tzinfo=UTC).astimezone(mailbox_zone(tz)).date()


def keep_duration(records):
    """Moving End sets the duration that moving Start then keeps."""
    for record in records:
        record.o365_duration = _minutes(record.o365_start, record.o365_end) or record.o365_duration


class MailActivity(models.Model):
    """Phone calls and tasks on the assignee's Outlook calendar (SPEC A1-A9)."""

    _name = "mail.activity"
    # The sync mixin first: its create/write/unlink wrap mail's (see models/o365_calendar_sync.py).
    _inherit = ["o365.calendar.sync", "mail.activity"]
    _o365_pushed_fields = PUSHED_FIELDS

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
    o365_synced = fields.Boolean("On Outlook Calendar", compute="_compute_o365_synced")

    @api.depends("date_deadline", "user_id")
    def _compute_o365_times(self):
        """Start at 09:00 (assignee's zone) on the due date for 30 min; a new due
        date moves the slot to that day, keeping its time and length."""
        for activity in self:
            if not activity.date_deadline:
                continue
            zone = mailbox_zone(activity.user_id.tz or self.env.user.tz)
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
        for activity in self.filtered("o365_start"):
            minutes = activity.o365_duration or _minutes(activity._origin.o365_start, activity._origin.o365_end)
            tz = activity.user_id.tz or self.env.user.tz
            activity.o365_end, activity.date_deadline = moved_start(activity.o365_start, minutes, tz)

    @api.onchange("o365_end")
    def _onchange_o365_end(self):
        keep_duration(self)

    def _compute_o365_synced(self):
        linked = set(self._o365_links().mapped("res_id"))
        for activity in self:
            activity.o365_synced = activity.id in linked

    # -- ORM: the mixin queues what changed, never calling Graph (E1) -----------------------

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._o365_deadline_from_start(vals)
        return super().create(vals_list)

    def write(self, vals):
        if vals.get("o365_start") and "o365_end" not in vals and len(self) > 1:
            # Each activity keeps its own duration when Start moves.
            for activity in self:
                activity.write(vals)
            return True
        vals = self._o365_deadline_from_start(dict(vals))
        self._o365_keep_duration(vals)
        return super().write(vals)

    def _action_done(self, feedback=False, attachment_ids=None):
        """Done keeps the event as a record of what happened (A7), although Odoo unlinks the activity."""
        return super(MailActivity, self.with_context(**{MARKED_DONE_CONTEXT: True}))._action_done(
            feedback=feedback, attachment_ids=attachment_ids
        )

    def _o365_keep_duration(self, vals):
        """A write that moves Start alone moves End too (Odoo's calendar does the same); a write
        of Start or End remembers the duration."""
        if len(self) != 1 or not ("o365_start" in vals or "o365_end" in vals):
            return vals
        start = fields.Datetime.to_datetime(vals["o365_start"]) if "o365_start" in vals else self.o365_start
        # Outlook sends both ends of a move; a start it changed alone is a resize, kept as it is.
        if "o365_end" not in vals and start and not self._o365_from_sync():
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
            vals["date_deadline"] = start.replace(tzinfo=UTC).astimezone(mailbox_zone(tz)).date()
        return vals

    # -- which mailbox holds the event (the sync contract) ------------------------------------

    def _o365_kind(self):
        """'phonecall', 'task', or None (meetings go through their calendar.event, A10)."""
        self.ensure_one()
        category = self.activity_type_id.category
        if category == "meeting" or self.calendar_event_id:
            return None
        return "phonecall" if category == "phonecall" else "task"

    def _o365_owner_account(self):
        """The assignee's account, when its options include this kind of activity."""
        self.ensure_one()
        kind = self._o365_kind()
        if not kind or not self.user_id:
            return None
        account = self.env["o365.sync.account"].sudo().search([("user_id", "=", self.user_id.id)], limit=1)
        if not account or not (account.sync_phonecalls if kind == "phonecall" else account.sync_tasks):
            return None
        return account

    def _o365_queue_changes(self, asked=False):
        """An archived activity, or one removed from Outlook (A6), is left where it is."""
        pushed = self.sudo().filtered(lambda activity: activity.active and not activity.o365_unlinked)
        return super(MailActivity, pushed)._o365_queue_changes(asked=asked)

    def _o365_queue_removal(self):
        if self.env.context.get(MARKED_DONE_CONTEXT):
            return  # done: the event stays (A7)
        super()._o365_queue_removal()

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
        base = self.env["o365.config"].public_base_url()
        open_url = f"{base}/mail/view?model={self.res_model}&res_id={self.res_id}"
        summary = self.summary or self.activity_type_id.name or self.res_name or ""
        start = self.o365_start
        end = self.o365_end if self.o365_end and self.o365_end > start else start + DEFAULT_DURATION
        return activity_event(kind, summary, start, end, open_url, contact, self.note, account.user_id.lang)

    # -- Outlook's side (called by the inbound pull, A5, A6) ------------------------------

    def _o365_apply_outlook_change(self, link, event, directory=None):
        """Only a move or resize flows back (A5); subject and body stay Odoo's."""
        activity = self.exists()
        if not activity:
            return
        values = activity_changes(event, activity.o365_start, activity.o365_end)
        if values:
            activity.sudo().with_context(**{SYNC_CONTEXT: True}).write(values)
        if event.get("changeKey"):
            link.sudo().change_key = event["changeKey"]

    def _o365_apply_outlook_removal(self, link, cancelled=False):
        """Deleted in Outlook: the activity stays, unlinked, and is not pushed again (A6)."""
        activity = self.exists()
        if activity and link:
            activity.sudo().with_context(**{SYNC_CONTEXT: True}).write({"o365_unlinked": True})
            self.env["o365.push.queue"]._forget(link.account_id, activity)
        if link:
            link.sudo().unlink()

    def _o365_push_failed(self, account, message):
        """Make a give-up visible where the user works: the document's chatter."""
        self.ensure_one()
        record = self.env[self.res_model].sudo().browse(self.res_id).exists()
        if record and hasattr(record, "message_post"):
            record.message_post(
                body=account.owner_env()._(
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
                    "or does not include this type of activity (My Profile > Calendar)."
                )
            )
        return True
