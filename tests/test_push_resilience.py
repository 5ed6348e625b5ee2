import time
from datetime import date, timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged

from ..utils.graph_client import GraphClient, GraphError
from .test_push_base import PushCase


@tagged("post_install", "-at_install")
class TestPushResilience(PushCase):
    def test_outage_then_recovery_every_change_exactly_once(self):
        """E1, E2: with Graph failing (503s, then 429 + Retry-After, then dropped connections) saves stay
        instant; after recovery every change arrives exactly once."""
        upn, state = self.alice_upn, self.emulator.state
        state.add_fault(mailbox=upn, kind="status", status=503, count=None)
        tasks = self.env["mail.activity"]
        started = time.monotonic()
        for i in range(5):
            tasks |= self.schedule(self.todo_type, f"Outage task {i}", date_deadline=date(2031, 10, 1))
        tasks[0].write({"summary": "Outage task 0 (edited)"})
        self.env.flush_all()
        self.assertLess(time.monotonic() - started, 2.0, "E1: saving does not wait for Graph")

        for tries in (1, 2):  # 503s, backing off
            self.time_travel()
            self.run_push()
            rows = self.queue_rows()
            self.assertEqual(len(rows), 5)
            self.assertTrue(all(r.attempts == tries and r.next_attempt_at > fields.Datetime.now() for r in rows))
        self.assertIn("503", self._account(self.alice).last_error)

        state.clear_faults()
        state.add_fault(mailbox=upn, kind="status", status=429, retry_after=7, count=None)
        self.time_travel()
        before = fields.Datetime.now()
        self.run_push()  # 429: Retry-After is honoured
        for row in self.queue_rows():
            self.assertGreaterEqual(row.next_attempt_at, before + timedelta(seconds=6))
        state.clear_requests()
        self.run_push()
        self.assertEqual(self.graph_requests(), [], "nothing is sent before Retry-After has passed")

        state.clear_faults()
        state.add_fault(mailbox=upn, kind="drop", count=None)  # inside a $batch: a 504 per item
        self.time_travel()
        self.run_push()
        self.assertEqual(len(self.queue_rows()), 5)
        tasks[1].write({"summary": "Outage task 1 (edited during outage)"})

        state.clear_faults()  # Graph is back
        self.time_travel()
        state.clear_requests()
        self.run_push()
        self.assertFalse(self.queue_rows())
        subjects = sorted(e["subject"] for e in self.mailbox_events(upn))
        self.assertEqual(
            subjects,
            [
                "Task: Outage task 0 (edited)",
                "Task: Outage task 1 (edited during outage)",
                "Task: Outage task 2",
                "Task: Outage task 3",
                "Task: Outage task 4",
            ],
        )
        posts = [r for r in self.graph_requests() if r["method"] == "POST" and r["inBatch"]]
        self.assertEqual(len(posts), 5, "one create per change, no duplicates")
        self.assertFalse(self._account(self.alice).last_error)
        self.assertTrue(self._account(self.alice).last_success_at)

    def test_lost_answer_does_not_duplicate(self):
        """E2: a create that reached Graph but whose answer was lost is retried with the same transactionId."""
        task = self.schedule(self.todo_type, "Lost answer", date_deadline=date(2031, 10, 2))
        real_batch = GraphClient.batch

        def batch_then_lose_answer(client, requests_):
            real_batch(client, requests_)
            raise GraphError(0, "NetworkError", "ReadTimeout: the answer never came")

        with patch.object(GraphClient, "batch", batch_then_lose_answer):
            self.run_push()
        self.assertEqual(len(self.mailbox_events(self.alice_upn)), 1, "Graph did create it")
        self.assertTrue(self.queue_rows(task), "Odoo does not know it yet")
        self.time_travel()
        self.run_push()
        [event] = self.mailbox_events(self.alice_upn)
        self.assertEqual(self.link_of(task, self.alice).graph_event_id, event["id"], "no second event")

    def test_give_up_after_bounded_tries_visible_and_retry_now(self):
        """E2: after the bounded number of tries the error shows on the activity, the chatter and the sync
        status; 'Retry now' pushes it once Graph is back."""
        self.env["ir.config_parameter"].sudo().set_param("o365_calendar_sync.push_max_tries", "3")
        self.emulator.state.add_fault(mailbox=self.alice_upn, kind="status", status=503, count=None)
        task = self.schedule(self.todo_type, "Doomed", date_deadline=date(2031, 10, 3))
        for _ in range(3):
            self.time_travel()
            self.run_push()
        row = self.queue_rows(task)
        self.assertEqual((row.state, row.attempts), ("failed", 3))
        self.assertIn("503", task.o365_sync_error)
        self.assertIn("failed after 3 tries", self._account(self.alice).last_error)
        self.assertIn("Doomed", self.contact.message_ids[0].body)
        self.time_travel()
        self.run_push()
        self.assertEqual(self.queue_rows(task).state, "failed", "given up: not retried by itself")

        self.emulator.state.clear_faults()
        task.action_o365_retry_now()
        self.run_push()
        self.assertTrue(self.mailbox_events(self.alice_upn, subject="Task: Doomed"))
        self.assertFalse(task.o365_sync_error)

    def test_one_mailbox_failing_does_not_stall_another(self):
        """E6: a mailbox whose pushes fail leaves the others' pushes going."""
        bob = self._push_user("bob_resilience")
        self.emulator.state.add_fault(mailbox=self.alice_upn, kind="status", status=503, count=None)
        self.schedule(self.todo_type, "Alice's", date_deadline=date(2031, 10, 4))
        self.schedule(self.todo_type, "Bob's", user=bob, date_deadline=date(2031, 10, 4))
        self._quiet_emulator()
        self.run_push()
        self.assertTrue(self.mailbox_events(bob.email, subject="Task: Bob's"))
        self.assertEqual(self.mailbox_events(self.alice_upn), [])
