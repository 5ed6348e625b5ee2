from odoo import models

from ..utils.mappers.leave import leave_event_payload, leave_subject

# Leaves in these states are on the employee's calendar (SPEC C1: submitted or approved).
SHOWN_STATES = ("confirm", "validate1", "validate")
# A change to one of these fields may change the event or whether it exists.
SYNCED_FIELDS = frozenset(
    {
        "state",
        "employee_id",
        "holiday_status_id",
        "private_name",
        "name",
        "date_from",
        "date_to",
        "request_date_from",
        "request_date_to",
        "request_unit_half",
        "request_unit_hours",
    }
)


class HrLeave(models.Model):
    """Leaves on the employee's Outlook calendar (SPEC C1, C2).

    Nothing flows back (the mixin's defaults): an Outlook edit of a leave's event does not
    change the leave, and the next ERP change overwrites it; an event deleted in Outlook
    loses its link, and the leave is not pushed again until it changes.
    """

    _name = "hr.leave"
    # The sync mixin first: its create/write/unlink wrap hr_holidays' (see models/o365_calendar_sync.py).
    _inherit = ["o365.calendar.sync", "hr.leave"]
    _o365_pushed_fields = SYNCED_FIELDS

    def _o365_owner_account(self):
        """The employee's sync account when this leave belongs on their calendar, else None.

        The employee's account, never the approver's: state changes are made by managers
        and HR officers on someone else's leave. A delete queued while sync is stopped (the
        leave was refused meanwhile) waits for the next Start.
        """
        self.ensure_one()
        user = self.employee_id.user_id
        if not user or self.state not in SHOWN_STATES:
            return None
        account = self.env["o365.sync.account"].sudo().search([("user_id", "=", user.id)], limit=1)
        if not account or not account.sync_holidays:
            return None
        return account

    def _o365_graph_payload(self, account):
        self.ensure_one()
        lang = account.user_id.lang
        leave = self.sudo().with_context(lang=lang)  # the employee's words in their Outlook
        base_url = self.env["o365.config"].public_base_url()
        return leave_event_payload(
            lang=lang,
            subject=leave_subject(leave.holiday_status_id.name, leave.private_name, lang),
            url=f"{base_url}/odoo/action-hr_holidays.hr_leave_action_my/{leave.id}",
            whole_days=not (leave.request_unit_half or leave.request_unit_hours),
            first_day=leave.request_date_from,
            last_day=leave.request_date_to or leave.request_date_from,
            start_utc=leave.date_from,
            end_utc=leave.date_to,
            time_zone=account.mailbox_timezone or leave.employee_id.tz or leave.tz or "UTC",
        )
