"""``O365Case.trap_sync_queue`` (tests/common.py): what a save queues for Outlook, seen without Graph,
then sent through the real jobs (SPEC E1, A1, B1)."""

from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from .common import O365Case


@tagged("post_install", "-at_install")
class TestSyncTrap(O365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls._connected_user("alice_trap")
        # Records made in the test transaction count as made after the sync start only if it moves back (S3).
        cls._account(cls.alice).sync_started_at = fields.Datetime.now() - timedelta(hours=1)
        cls.contact = cls.env["res.partner"].create({"name": "Jane Trap", "email": "jane@trap.example"})

    def schedule_call(self, summary):
        return self.env["mail.activity"].create(
            {
                "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                "res_id": self.contact.id,
                "activity_type_id": self.env.ref("mail.mail_activity_data_call").id,
                "summary": summary,
                "user_id": self.alice.id,
            }
        )

    def test_save_queues_without_graph_then_flush_pushes(self):
        """E1, A1: saving queues one row and sends nothing to Graph; a second save coalesces with it;
        the real push job then creates the event."""
        with self.trap_sync_queue() as trap:
            activity = self.schedule_call("Trap call")
            activity.write({"summary": "Trap call, renamed"})
        self.assertEqual(trap.graph_calls, 0, "saving does not wait for Graph")
        trap.assert_pushed(activity, "upsert", account=self._account(self.alice))
        self.assertEqual(len(trap.pushes), 1, "one row for the record, however many saves")
        self.assertFalse(trap.pulls)
        self.assertFalse(self.mailbox_events(self.alice.email))
        trap.flush()
        events = self.mailbox_events(self.alice.email)
        self.assertEqual([e["subject"] for e in events], ["Phone Call: Trap call, renamed"])
        self.assertTrue(self.link_of(activity, self.alice))
        self.assertFalse(self.queue_rows(activity), "sent rows leave the queue")

    def test_notification_queues_a_pull_then_flush_logs(self):
        """B1: a change notification queues a pull for the mailbox (no pull inside the block);
        the real pull job then logs the meeting with the contact."""
        event = self.outlook_create(self.alice.email, "Trap meeting", attendees=["jane@trap.example"])
        with self.trap_sync_queue() as trap:
            self.delivered()
        account = self._account(self.alice)
        self.assertIn(account.id, [account_id for account_id, _kind in trap.pulls])
        self.assertFalse(trap.pushes)
        self.assertFalse(self.meeting_of(self.alice, event), "nothing is pulled inside the block")
        trap.flush()
        meeting = self.meeting_of(self.alice, event)
        self.assertTrue(meeting)
        self.assertIn(self.contact, meeting.partner_ids)
