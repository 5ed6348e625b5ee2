from datetime import UTC, datetime, timedelta

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..models.mail_activity import DEFAULT_MINUTES, DEFAULT_START, keep_duration, moved_start
from ..utils.graph_event import mailbox_zone


class MailActivitySchedule(models.TransientModel):
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
            zone = mailbox_zone(wizard.activity_user_id.tz or self.env.user.tz)
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
        for wizard in self.filtered("o365_start"):
            tz = wizard.activity_user_id.tz or self.env.user.tz
            wizard.o365_end, wizard.date_deadline = moved_start(wizard.o365_start, wizard.o365_duration, tz)

    @api.onchange("o365_end")
    def _onchange_o365_end(self):
        keep_duration(self)

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
