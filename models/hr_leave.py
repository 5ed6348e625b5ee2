from odoo import api, models

from ..utils.leave_payload import leave_event_payload, leave_subject

# Leaves in these states are on the employee's calendar (SPEC C1: submitted or approved).
SHOWN_STATES = ("confirm", "validate1", "validate")
# A change to one of these fields may change the event or whether it exists.
SYNCED_FIELDS = {
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


class HrLeave(models.Model):
    _inherit = "hr.leave"

    @api.model_create_multi
    def create(self, vals_list):
        leaves = super().create(vals_list)
        leaves._o365_queue_changes()
        return leaves

    def write(self, vals):
        result = super().write(vals)
        if SYNCED_FIELDS.intersection(vals):
            self._o365_queue_changes()
        return result

    def unlink(self):
        queue = self.env["o365.push.queue"].sudo()
        for leave in self:
            for account in queue._accounts_holding(leave):
                queue._enqueue(account, leave, "delete")
        return super().unlink()

    # -- outbound (SPEC C1, C2) -------------------------------------------------------

    def _o365_target_account(self):
        """The employee's sync account when this leave belongs on their calendar, else None.

        A leave already on (or queued for) the calendar keeps its event across
        Stop/Start and Disconnect/Connect (S4); a new one goes there only while
        sync runs and if it was created after the sync start (S3).
        """
        self.ensure_one()
        user = self.employee_id.user_id
        if not user or self.state not in SHOWN_STATES:
            return None
        account = self.env["o365.sync.account"].sudo().search([("user_id", "=", user.id)], limit=1)
        if not account or not account.sync_holidays:
            return None
        if account in self.env["o365.push.queue"].sudo()._accounts_holding(self):
            return account
        if not account._is_syncing():
            return None
        if self.create_date and account.sync_started_at and self.create_date < account.sync_started_at:
            return None
        return account

    def _o365_queue_changes(self):
        """Queue an update where the leave belongs on a calendar, a delete where it no longer does.

        The employee's account, never the approver's: state changes are made by
        managers and HR officers on someone else's leave. A delete queued while
        sync is stopped (the leave was refused meanwhile) waits for the next Start.
        """
        queue = self.env["o365.push.queue"].sudo()
        for leave in self.sudo():
            target = leave._o365_target_account()
            for account in queue._accounts_holding(leave) - (target or self.env["o365.sync.account"]):
                queue._enqueue(account, leave, "delete")
            if target:
                queue._enqueue(target, leave, "upsert")

    def _o365_graph_payload(self, account):
        self.ensure_one()
        leave = self.sudo()
        base_url = self.env["o365.config"]._public_base_url()
        return leave_event_payload(
            subject=leave_subject(leave.holiday_status_id.name, leave.private_name),
            url=f"{base_url}/odoo/action-hr_holidays.hr_leave_action_my/{leave.id}",
            whole_days=not (leave.request_unit_half or leave.request_unit_hours),
            first_day=leave.request_date_from,
            last_day=leave.request_date_to or leave.request_date_from,
            start_utc=leave.date_from,
            end_utc=leave.date_to,
            time_zone=account.mailbox_timezone or leave.employee_id.tz or leave.tz or "UTC",
        )

    # -- inbound: nothing flows back for leaves -----------------------------------------

    def _o365_apply_outlook_change(self, link, event):
        """Outlook edits of a leave's event do not change the leave; the next ERP change overwrites them."""

    def _o365_apply_outlook_removal(self, link):
        """The event was deleted in Outlook: the leave stays, and is not pushed again until it changes."""
        link.sudo().unlink()
