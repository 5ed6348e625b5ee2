from datetime import date, timedelta
from unittest.mock import patch

from graph_emulator.events import to_immutable
from odoo import fields
from odoo.tests import tagged

from ..utils.graph_client import GraphClient
from .common import PushCase


@tagged("post_install", "-at_install")
class TestPushResilience(PushCase):
    def test_outage_then_recovery_every_change_exactly_once(self):
        """E1, E2: with Graph failing (503s, then 429 + Retry-After, then dropped connections) saves stay
        instant; after recovery every change arrives exactly once."""
        upn, state = self.alice_upn, self.emulator.state
        state.add_fault(mailbox=upn, kind="status", status=503, count=None)
        tasks = self.env["mail.activity"]
        with self.trap_sync_queue() as trap:
            for i in range(5):
                tasks |= self.schedule(self.todo_type, f"Outage task {i}", date_deadline=date(2031, 10, 1))
            tasks[0].write({"summary": "Outage task 0 (edited)"})
        self.assertEqual(trap.graph_calls, 0, "E1: saving does not wait for Graph: it only queues")
        self.assertEqual(len(trap.pushes), 5, "E1: five tasks, five waiting changes (the edit coalesced)")

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

    def lose_create_answers(self):
        """Graph carries out the next $batch, then the connection drops before its answer arrives."""
        self.emulator.state.add_fault(mailbox=self.alice_upn, kind="drop", after_commit=True, count=1)

    def batch_items(self):
        """The (method, path) of each $batch item Odoo sent since the last clear_requests()."""
        return [(r["method"], r["path"].split("?")[0]) for r in self.graph_requests() if r["inBatch"]]

    def test_lost_answer_does_not_duplicate(self):
        """E2: a create that reached Graph but whose answer was lost is found by its record stamp and
        linked; no second create is sent (Graph would refuse its transactionId anyway)."""
        task = self.schedule(self.todo_type, "Lost answer", date_deadline=date(2031, 10, 2))
        self.lose_create_answers()
        self.run_push()
        self.assertEqual(len(self.mailbox_events(self.alice_upn)), 1, "Graph did create it")
        self.assertTrue(self.queue_rows(task), "Odoo does not know it yet")
        self.time_travel()
        self.emulator.state.clear_requests()
        self.run_push()
        [event] = self.mailbox_events(self.alice_upn)
        self.assertEqual(self.link_of(task, self.alice).graph_event_id, event["id"], "no second event")
        self.assertFalse(self.queue_rows(task))
        self.assertEqual([m for m, _p in self.batch_items()], ["GET"], "one lookup, no create, no update")

    def test_lost_answer_then_edit_updates_the_found_event(self):
        """E2: an ERP edit made while a create's answer was lost reaches the event the create made."""
        task = self.schedule(self.todo_type, "Lost then edited", date_deadline=date(2031, 10, 2))
        self.lose_create_answers()
        self.run_push()
        task.write({"summary": "Lost then edited (v2)"})
        self.time_travel()
        self.emulator.state.clear_requests()
        self.run_push()
        [event] = self.mailbox_events(self.alice_upn)
        self.assertEqual(event["subject"], "Task: Lost then edited (v2)")
        self.assertEqual(self.link_of(task, self.alice).graph_event_id, event["id"])
        self.assertEqual([m for m, _p in self.batch_items()], ["GET", "PATCH"])

    def test_lost_create_then_delete_removes_the_event(self):
        """E2, A7: an activity removed while its create's answer was lost still takes its event
        out of Outlook (found by its stamp, then deleted)."""
        task = self.schedule(self.todo_type, "Lost then removed", date_deadline=date(2031, 10, 2))
        self.lose_create_answers()
        self.run_push()
        self.assertEqual(len(self.mailbox_events(self.alice_upn)), 1)
        task.unlink()
        self.time_travel()
        self.run_push()
        self.assertEqual(self.mailbox_events(self.alice_upn), [], "the event the lost create made is gone")
        self.assertFalse(self.queue_rows())

    def test_lost_create_deleted_in_outlook_is_made_once_more(self):
        """E2: a create whose answer was lost, and whose event the user deleted in Outlook before Odoo
        found it, looks like a create that never happened: it is made once more, and linked."""
        task = self.schedule(self.todo_type, "Lost then deleted in Outlook", date_deadline=date(2031, 10, 2))
        self.lose_create_answers()
        self.run_push()
        [event] = self.mailbox_events(self.alice_upn)
        self.emulator.state.act_as(self.alice_upn).delete_event(event["id"])
        self.time_travel()
        self.emulator.state.clear_requests()
        self.run_push()
        self.assertEqual([m for m, _p in self.batch_items()], ["GET", "POST"], "looked, found nothing, created")
        [again] = self.mailbox_events(self.alice_upn)
        self.assertEqual(self.link_of(task, self.alice).graph_event_id, again["id"])
        self.assertFalse(self.queue_rows(task))

    def test_refused_replay_after_lookup_is_a_removal_in_outlook(self):
        """E2, A6: where Graph refuses the replayed transactionId of a create it no longer shows (the
        user deleted that event), Odoo takes it as the user's removal: no endless retry, no new event,
        and the activity stays, unlinked."""
        task = self.schedule(self.todo_type, "Refused replay", date_deadline=date(2031, 10, 2))
        self.lose_create_answers()
        self.run_push()
        [event] = self.mailbox_events(self.alice_upn)
        self.emulator.state.act_as(self.alice_upn).delete_event(event["id"])
        refusal = {
            "error": {
                "code": "ErrorDuplicateTransactionId",
                "message": "The TransactionId specified in the request has already been used to create a "
                "different event.",
            }
        }
        real_batch = GraphClient.batch

        def refuse_creates(client, requests_):
            if all(r["method"] == "POST" for r in requests_):
                return {r["id"]: {"status": 400, "headers": {}, "body": refusal} for r in requests_}
            return real_batch(client, requests_)

        self.time_travel()
        with patch.object(GraphClient, "batch", refuse_creates):
            self.run_push()
        self.assertEqual(self.mailbox_events(self.alice_upn), [])
        self.assertTrue(task.exists())
        self.assertFalse(self.link_of(task, self.alice))
        self.assertFalse(self.queue_rows(task), "settled, not retried")

    def test_malformed_event_id_is_a_bad_link_not_a_deletion(self):
        """E2, A6: an event id Graph cannot read (400 ErrorInvalidIdMalformed) is a bad link: Odoo
        finds the record's event by its stamp and updates it, rather than treating it as deleted."""
        task = self.schedule(self.todo_type, "Bad link", date_deadline=date(2031, 10, 2))
        self.run_push()
        [event] = self.mailbox_events(self.alice_upn)
        self.link_of(task, self.alice).graph_event_id = "not-an-outlook-id"
        task.write({"summary": "Bad link (edited)"})
        self.run_push()
        [after] = self.mailbox_events(self.alice_upn)
        self.assertEqual((after["id"], after["subject"]), (event["id"], "Task: Bad link (edited)"))
        self.assertEqual(self.link_of(task, self.alice).graph_event_id, event["id"], "the link is mended")
        self.assertFalse(self.queue_rows(task))

    def test_every_batch_item_asks_for_immutable_ids(self):
        """E2, E4: Prefer: IdType="ImmutableId" applies only to the request carrying it, so every
        $batch item carries it and the ids Odoo stores are the immutable ones delta returns."""
        task = self.schedule(self.todo_type, "Immutable", date_deadline=date(2031, 10, 2))
        batches = []
        real_call = GraphClient.call

        def recording_call(client, method, path_or_url, **kwargs):
            if path_or_url == "/$batch":
                batches.append(kwargs["json_body"]["requests"])
            return real_call(client, method, path_or_url, **kwargs)

        with patch.object(GraphClient, "call", recording_call):
            self.run_push()
        [items] = batches
        self.assertEqual(len(items), 1)
        self.assertIn('IdType="ImmutableId"', items[0]["headers"]["Prefer"])
        link_id = self.link_of(task, self.alice).graph_event_id
        [event] = self.emulator.state.events_raw(self.alice_upn)
        self.assertNotEqual(link_id, event["id"], "the emulator's default id differs from the immutable one")
        self.assertEqual(link_id, to_immutable(event["id"]))

    def age_failures(self, hours):
        """Move every failure streak back in time (instead of waiting hours)."""
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE o365_push_queue SET failing_since = failing_since - %s * interval '1 hour'", [hours]
        )
        self.env.invalidate_all()

    def test_retry_after_storm_does_not_use_up_retries(self):
        """E2: a burst of 429 answers with Retry-After: 1 never makes a change give up: retrying is
        bounded by time (24 h), Retry-After is only a minimum, and the change goes out once the
        mailbox answers again."""
        self.emulator.state.add_fault(mailbox=self.alice_upn, kind="status", status=429, retry_after=1, count=None)
        task = self.schedule(self.todo_type, "Storm", date_deadline=date(2031, 10, 3))
        for _ in range(12):  # more tries than the old try budget (8), all within seconds
            self.time_travel()
            self.run_push()
        row = self.queue_rows(task)
        self.assertEqual((row.state, row.attempts), ("pending", 12))
        wait = (row.next_attempt_at - fields.Datetime.now()).total_seconds()
        self.assertGreater(wait, 60, "backoff grows past the 1-second Retry-After")
        self.emulator.state.clear_faults()
        self.time_travel()
        self.run_push()
        self.assertTrue(self.mailbox_events(self.alice_upn, subject="Task: Storm"))
        self.assertFalse(self.queue_rows(task))

    def test_passing_412_retried_as_the_pull_reads_again(self):
        """E2 (issue 24): a 412 (the event's change key moved, or Graph's passing 412, graph-calendar-facts
        §1.3) waits and goes again by itself, as the pull treats it; the user's status says so."""
        self.emulator.state.add_fault(mailbox=self.alice_upn, kind="status", status=412, count=None)
        task = self.schedule(self.todo_type, "Precondition", date_deadline=date(2031, 10, 5))
        self.run_push()
        row = self.queue_rows(task)
        self.assertEqual((row.state, row.attempts), ("pending", 1))
        self.assertGreater(row.next_attempt_at, fields.Datetime.now())
        self.assertIn("tries again by itself", self._account(self.alice).last_error)
        self.emulator.state.clear_faults()
        self.time_travel()
        self.run_push()
        self.assertFalse(self.queue_rows(task))
        self.assertTrue(self.mailbox_events(self.alice_upn, subject="Task: Precondition"))

    def test_mailbox_backs_off_as_a_whole(self):
        """E7: when nothing gets through to a mailbox, its other waiting changes back off with the
        failed batch instead of being sent 20 at a time in the same run."""
        self.emulator.state.add_fault(mailbox=self.alice_upn, kind="status", status=503, count=None)
        for i in range(45):
            self.schedule(self.todo_type, f"Backlog {i}", date_deadline=date(2031, 10, 3))
        self.emulator.state.clear_requests()
        self.run_push()
        self.assertEqual(len([r for r in self.graph_requests() if not r["inBatch"]]), 1, "one $batch, then back off")
        self.assertTrue(all(r.next_attempt_at > fields.Datetime.now() for r in self.queue_rows()))

    def test_give_up_after_a_day_visible_and_resumes_when_mailbox_answers(self):
        """E2: a change that cannot be delivered for 24 hours stops with a visible error on the activity,
        the chatter and the sync status; once the mailbox answers again it goes out by itself."""
        self.emulator.state.add_fault(mailbox=self.alice_upn, kind="status", status=503, count=None)
        task = self.schedule(self.todo_type, "Doomed", date_deadline=date(2031, 10, 3))
        self.run_push()
        self.age_failures(25)
        self.time_travel()
        self.run_push()
        row = self.queue_rows(task)
        self.assertEqual(row.state, "failed")
        self.assertIn("503", task.o365_sync_error)
        self.assertIn("could not be delivered for 24 hours", self._account(self.alice).last_error)
        self.assertIn("Doomed", self.contact.message_ids[0].body)

        self.emulator.state.clear_faults()
        other = self.schedule(self.todo_type, "Later", date_deadline=date(2031, 10, 4))
        self.run_push()  # the mailbox answers again: the given-up change follows by itself
        self.run_push()
        self.assertTrue(self.mailbox_events(self.alice_upn, subject="Task: Later"))
        self.assertTrue(self.mailbox_events(self.alice_upn, subject="Task: Doomed"))
        self.assertFalse(self.queue_rows(task) | self.queue_rows(other))
        self.assertFalse(task.o365_sync_error)

    def test_refused_change_stops_visible_and_retry_now(self):
        """E2: a change Graph refuses for good stops at once with the reason; 'Retry now' sends it
        again once fixed."""
        task = self.schedule(self.todo_type, "Refused", date_deadline=date(2031, 10, 3))
        refusal = {"error": {"code": "ErrorInvalidRequest", "message": "Your request is invalid."}}

        def refuse(_client, requests_):
            return {r["id"]: {"status": 400, "headers": {}, "body": refusal} for r in requests_}

        with patch.object(GraphClient, "batch", refuse):
            self.run_push()
        row = self.queue_rows(task)
        self.assertEqual((row.state, row.attempts), ("failed", 1))
        self.assertIn("Outlook refused", self._account(self.alice).last_error)
        self.time_travel()
        self.run_push()
        self.assertEqual(self.queue_rows(task).state, "failed", "refused: not retried by itself")
        task.action_o365_retry_now()
        self.run_push()
        self.assertTrue(self.mailbox_events(self.alice_upn, subject="Task: Refused"))
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

    def test_revoked_sign_in_mid_push_stops_that_mailbox_quietly(self):
        """S7, E7: a sign-in revoked while changes wait turns the account to 'reconnect' (kept, not rolled
        back), the changes wait untouched with no try counted, and later runs ask neither Graph nor the
        login service for that mailbox until the user signs in again; then the changes go out."""
        state = self.emulator.state
        task = self.schedule(self.todo_type, "After revocation", date_deadline=date(2031, 10, 5))
        state.revoke_refresh_tokens(self.alice_upn)
        state.expire_access_tokens(self.alice_upn)
        state.clear_requests()
        self.run_push()
        account = self._account(self.alice)
        self.assertEqual(account.connection_state, "reconnect")
        row = self.queue_rows(task)
        self.assertEqual((row.state, row.attempts), ("pending", 0))
        token_requests = [r for r in state.request_stats()["requests"] if r["path"].endswith("/token")]
        self.assertLessEqual(len(token_requests), 2, "a few token requests, not one per try")

        state.clear_requests()
        for _ in range(3):
            self.time_travel()
            self.run_push()
        self.assertEqual(state.request_stats()["requests"], [], "nothing asked until the user reconnects")

        self._sign_in(account, self.alice_upn)
        account.write({"connection_state": "connected"})
        self.run_push()
        self.assertTrue(self.mailbox_events(self.alice_upn, subject="Task: After revocation"))
        self.assertFalse(self.queue_rows(task))


class TestPushResilienceOrganization(TestPushResilience):
    """O2: the same tests, with the mailboxes connected by the organisation's application."""

    connection_mode = "organization"
    # A user's own sign-in (S7); the organisation's counterparts are in test_organization.py.
    test_revoked_sign_in_mid_push_stops_that_mailbox_quietly = None
