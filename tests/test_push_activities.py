from datetime import date, datetime, timedelta

from odoo import fields
from odoo.tests import tagged

from .common import PushCase


@tagged("post_install", "-at_install")
class TestPushActivities(PushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bob = cls._push_user("bob_push")
        cls.carol = cls._push_user("carol_push")
        cls.bob_upn, cls.carol_upn = cls.bob.email, cls.carol.email

    def test_phone_call_and_task_reach_the_calendar(self):
        """A1, A2, A3, E1: a call and a task are queued in the save (no Graph call), then appear, subject and body."""
        self.emulator.state.clear_requests()
        call = self.schedule(
            self.call_type,
            "Follow up on offer",
            date_deadline=date(2031, 3, 4),
            note="<p>Ask about <b>volumes</b></p><script>alert(1)</script><p data-oe-id='4'>x</p>",
        )
        task = self.schedule(self.todo_type, "Create a quote", date_deadline=date(2031, 3, 5))
        self.env.flush_all()
        self.assertEqual(self.graph_requests(), [], "E1: saving never calls Graph")
        self.assertEqual(len(self.queue_rows(call) | self.queue_rows(task)), 2)

        self.run_push()
        [event] = self.mailbox_events(self.alice_upn, subject="Phone Call: Follow up on offer")
        self.assertTrue(self.mailbox_events(self.alice_upn, subject="Task: Create a quote"))
        # 09:00 in the assignee's zone (Europe/London, GMT in March) for 30 minutes.
        self.assertTrue(event["start"]["dateTime"].startswith("2031-03-04T09:00:00"))
        self.assertTrue(event["end"]["dateTime"].startswith("2031-03-04T09:30:00"))
        body = event["body"]["content"]
        self.assertIn("Open activity", body)
        self.assertIn(f"/mail/view?model=res.partner&amp;res_id={self.contact.id}", body)
        for shown in ("Jane Buyer", "Acme Ltd", "+44 20 7946 0000", "jane@acme.example", "volumes"):
            self.assertIn(shown, body)
        self.assertNotIn("<script", body)
        self.assertNotIn("alert(1)", body)
        self.assertNotIn("data-oe-id", body)
        link = self.link_of(call, self.alice)
        self.assertEqual(link.graph_event_id, event["id"])
        self.assertEqual(link.change_key, event["changeKey"], "E4: the link knows the version Odoo wrote")
        self.assertFalse(self.queue_rows(), "pushed rows leave the queue")

    def test_edits_are_coalesced_and_update_the_event(self):
        """A4, E1: ten edits make one update; summary, type, note, dates and contact data all reach the event."""
        task = self.schedule(self.todo_type, "Draft", date_deadline=date(2031, 4, 1))
        self.run_push()
        self.emulator.state.clear_requests()
        for i in range(10):
            task.write({"summary": f"Draft v{i}"})
        task.write(
            {"activity_type_id": self.call_type.id, "note": "<p>New note</p>", "date_deadline": date(2031, 4, 2)}
        )
        self.assertEqual(len(self.queue_rows(task)), 1, "one row per record and mailbox")
        self.run_push()
        patches = [r for r in self.graph_requests() if r["method"] == "PATCH"]
        self.assertEqual(len(patches), 1, "E1: ten edits, one update")
        events = self.mailbox_events(self.alice_upn)
        [event] = [e for e in events if e["id"] == self.link_of(task, self.alice).graph_event_id]
        self.assertEqual(event["subject"], "Phone Call: Draft v9")
        self.assertIn("New note", event["body"]["content"])
        self.assertTrue(event["start"]["dateTime"].startswith("2031-04-02T08:00:00"), "09:00 BST is 08:00 UTC")
        self.assertEqual(len(events), 1, "updated, not created again")

        self.contact.write({"phone": "+44 20 7946 1111"})
        self.run_push()
        [event] = self.mailbox_events(self.alice_upn, subject="Phone Call: Draft v9")
        self.assertIn("+44 20 7946 1111", event["body"]["content"], "A4: contact data shown in the body")

    def test_outlook_move_changes_only_start_and_end(self):
        """A5, E4: a move in Outlook sets start/end/deadline; subject and body edits stay Outlook-only; no push back."""
        task = self.schedule(self.todo_type, "Call back", date_deadline=date(2031, 5, 6))
        self.run_push()
        link = self.link_of(task, self.alice)
        outlook = self.outlook(self.alice_upn)
        answer = outlook.patch(
            f"{self.emulator.graph_url}/me/events/{link.graph_event_id}",
            json={
                "subject": "Renamed in Outlook",
                "body": {"contentType": "html", "content": "typed in Outlook"},
                "start": {"dateTime": "2031-05-08T14:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2031-05-08T15:15:00", "timeZone": "UTC"},
            },
            timeout=10,
            verify=self.emulator.ca_path,
        )
        self.assertEqual(answer.status_code, 200, answer.text)
        event = answer.json()
        task._o365_apply_outlook_change(link, event)
        self.env.flush_all()
        self.assertEqual(task.o365_start, datetime(2031, 5, 8, 14, 0))
        self.assertEqual(task.o365_end, datetime(2031, 5, 8, 15, 15))
        self.assertEqual(task.date_deadline, date(2031, 5, 8))
        self.assertEqual(task.summary, "Call back")
        self.assertFalse(self.queue_rows(task), "E4: Outlook's change is not pushed back")
        self.assertEqual(link.change_key, event["changeKey"])

        task.write({"summary": "Call back soon"})  # the next ERP change overwrites Outlook's subject
        self.run_push()
        [stored] = self.mailbox_events(self.alice_upn, subject="Task: Call back soon")
        self.assertTrue(stored["start"]["dateTime"].startswith("2031-05-08T14:00:00"))
        self.assertNotIn("typed in Outlook", stored["body"]["content"])

    def test_outlook_deletion_unlinks_the_activity(self):
        """A6: deleted in Outlook, the activity stays, unlinked and not pushed again unless the user asks."""
        task = self.schedule(self.todo_type, "Send brochure", date_deadline=date(2031, 6, 1))
        self.run_push()
        link = self.link_of(task, self.alice)
        answer = self.outlook(self.alice_upn).delete(
            f"{self.emulator.graph_url}/me/events/{link.graph_event_id}", timeout=10, verify=self.emulator.ca_path
        )
        self.assertEqual(answer.status_code, 204)
        task._o365_apply_outlook_removal(link)
        self.assertTrue(task.exists())
        self.assertTrue(task.o365_unlinked)
        self.assertFalse(self.link_of(task, self.alice))
        task.write({"summary": "Send brochure (v2)"})
        self.assertFalse(self.queue_rows(task), "not pushed again")
        self.run_push()
        self.assertEqual(self.mailbox_events(self.alice_upn), [])

        task.action_o365_push_again()
        self.run_push()
        self.assertTrue(self.mailbox_events(self.alice_upn, subject="Task: Send brochure (v2)"))

    def test_removed_activity_removes_event_done_keeps_it(self):
        """A7: deleting or cancelling the activity deletes the event; marking it done keeps it."""
        deleted = self.schedule(self.todo_type, "To delete", date_deadline=date(2031, 7, 1))
        cancelled = self.schedule(self.call_type, "To cancel", date_deadline=date(2031, 7, 1))
        done = self.schedule(self.call_type, "To finish", date_deadline=date(2031, 7, 1))
        self.run_push()
        self.assertEqual(len(self.mailbox_events(self.alice_upn)), 3)
        deleted.unlink()
        cancelled.action_cancel()
        done.action_feedback(feedback="Went well")
        self.run_push()
        self.assertEqual([e["subject"] for e in self.mailbox_events(self.alice_upn)], ["Phone Call: To finish"])

    def test_assigned_to_colleague_and_reassigned(self):
        """A8, A9: a task for a colleague lands in their calendar; reassigning moves it to the new assignee's."""
        task = self.schedule(self.todo_type, "Check stock", user=self.bob, date_deadline=date(2031, 8, 1))
        self.run_push()
        self.assertTrue(self.mailbox_events(self.bob_upn, subject="Task: Check stock"))
        self.assertEqual(self.mailbox_events(self.alice_upn), [])

        task.write({"user_id": self.carol.id})
        self.run_push()
        self.assertEqual(self.mailbox_events(self.bob_upn), [], "A9: it leaves the old assignee's calendar")
        self.assertTrue(self.mailbox_events(self.carol_upn, subject="Task: Check stock"))
        self.assertFalse(self.link_of(task, self.bob))
        self.assertTrue(self.link_of(task, self.carol))

    def test_only_enabled_types_and_only_after_sync_start(self):
        """A1, S3: a disabled type is not pushed; an activity created before the sync start is not pushed."""
        self._account(self.alice).sync_phonecalls = False
        call = self.schedule(self.call_type, "Not wanted", date_deadline=date(2031, 9, 1))
        self.assertFalse(self.queue_rows(call))
        self._account(self.alice).sync_phonecalls = True

        old = self.schedule(self.todo_type, "Old task", date_deadline=date(2031, 9, 1))
        self.queue_rows(old).unlink()
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE mail_activity SET create_date = %s WHERE id = %s",
            [fields.Datetime.now() - timedelta(days=2), old.id],
        )
        old.invalidate_recordset()
        old.write({"summary": "Old task, edited"})
        self.assertFalse(self.queue_rows(old), "S3: created before the sync start")
        self.run_push()
        self.assertEqual(self.mailbox_events(self.alice_upn), [])


class TestPushActivitiesOrganization(TestPushActivities):
    """O2: the same A tests, with the mailboxes connected by the organisation's application."""

    connection_mode = "organization"
