"""Answers given in Odoo reach Outlook (SPEC A17).

Odoo's Accept / Decline / Maybe (``calendar.attendee.do_accept`` and siblings, which the
calendar's popover and the invitation buttons call) by an internal attendee who syncs queue
an "answer" for their own mailbox; the push job gives it on their copy of the invitation
(engine/pusher.py), with ``sendResponse`` so that the organiser's event shows it. Answers read
back from Outlook are written with ``write`` (models/calendar_event_outlook.py,
``_o365_apply_attendee_answers``), never through these methods: no loop (E4).
"""

from odoo import models

from .o365_calendar_sync import SYNC_CONTEXT


class CalendarAttendee(models.Model):
    _inherit = "calendar.attendee"

    def do_accept(self):
        result = super().do_accept()
        self._o365_queue_answer()
        return result

    def do_decline(self):
        result = super().do_decline()
        self._o365_queue_answer()
        return result

    def do_tentative(self):
        result = super().do_tentative()
        self._o365_queue_answer()
        return result

    def _o365_queue_answer(self):
        """Queue each answer for the attendee's own mailbox, when they sync and the meeting is in
        Outlook; never for its organiser, who does not answer their own meeting (E1: no Graph here)."""
        if self.env.context.get(SYNC_CONTEXT):
            return
        Account = self.env["o365.sync.account"].sudo()
        Queue = self.env["o365.push.queue"].sudo()
        for attendee in self.sudo():
            meeting = attendee.event_id
            users = attendee.partner_id.user_ids.filtered(lambda user: not user.share)
            if not meeting or not users or meeting.user_id in users:
                continue
            account = Account.search([("user_id", "in", users.ids)], limit=1)
            if account and account.is_syncing() and meeting._o365_answer_target(account):
                Queue._enqueue(account, meeting, "answer")
