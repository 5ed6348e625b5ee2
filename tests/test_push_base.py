"""Shared helpers of the push tests (no test here)."""

from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from .common import O365Case


@tagged("post_install", "-at_install")
class PushCase(O365Case):
    """Connected users, a customer contact, and a way to run the push job as the cron does."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls._push_user("alice_push")
        cls.alice_upn = cls.alice.email
        cls.company = cls.env["res.partner"].create({"name": "Acme Ltd", "is_company": True})
        cls.contact = cls.env["res.partner"].create(
            {
                "name": "Jane Buyer",
                "parent_id": cls.company.id,
                "phone": "+44 20 7946 0000",
                "email": "jane@acme.example",
            }
        )
        cls.call_type = cls.env.ref("mail.mail_activity_data_call")
        cls.todo_type = cls.env.ref("mail.mail_activity_data_todo")

    @classmethod
    def _quiet_emulator(cls):
        """No change notifications: they would reach Odoo's controller on the test
        cursor while the test thread uses it; these tests call the pull contract directly."""
        state = cls.emulator.state
        state.notifier.wait_idle(10)
        with state.lock:
            state.subscriptions.clear()

    def setUp(self):
        super().setUp()
        # Odoo rolls back each test; the emulator's mailboxes must start empty as well.
        self._quiet_emulator()
        state = self.emulator.state
        with state.lock:
            for mailbox in state.mailboxes.values():
                mailbox.events.clear()
            state.invitations.clear()
            state.faults.clear()
        state.clear_requests()

    @classmethod
    def _push_user(cls, login, **account_vals):
        user = cls._connected_user(login, **account_vals)
        # The test transaction began before the sync start; records made in it
        # are "created after the start" only if the start is moved back (S3).
        cls._account(user).sync_started_at = fields.Datetime.now() - timedelta(hours=1)
        return user

    def schedule(self, activity_type, summary, user=None, partner=None, **vals):
        partner = partner or self.contact
        return self.env["mail.activity"].create(
            {
                "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                "res_id": partner.id,
                "activity_type_id": activity_type.id,
                "summary": summary,
                "user_id": (user or self.alice).id,
                **vals,
            }
        )
