"""Several mailboxes in one turn of the push and of the pull (SPEC E3, E6, E7, S7, B12).

When many mailboxes have work at once, the jobs take them in groups: one transaction per
round for the group, one ``create`` of the pull's new meetings (engine/pull_groups.py,
``PushRunner.due_work``). The group is an optimisation only: what each mailbox sees, and how
one mailbox's trouble stays its own, must be as when it is alone. The jobs run here with one
thread, so every mailbox due at once is in one group.
"""

from datetime import date

from odoo.tests import tagged

from ..engine import importer, pusher
from .common import CUSTOMER, ORG_DOMAIN, PullCase, PushCase


@tagged("post_install", "-at_install")
class TestPushGroups(PushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bob = cls._push_user("bob_groups")
        cls.carl = cls._push_user("carl_groups")

    def push_as_one_group(self):
        self.env.flush_all()
        stats = pusher.push_due(self.env, parallel=1)
        self.env.invalidate_all()
        return stats

    def test_each_mailbox_of_a_group_sends_its_own_changes(self):
        """E1, E7: three mailboxes pushed in one group: each change lands once, in its own mailbox, each
        mailbox's changes in one $batch signed in as its user."""
        self.schedule(self.todo_type, "Alice's first", date_deadline=date(2031, 10, 4))
        self.schedule(self.todo_type, "Alice's second", date_deadline=date(2031, 10, 4))
        self.schedule(self.todo_type, "Bob's", user=self.bob, date_deadline=date(2031, 10, 4))
        self.schedule(self.todo_type, "Carl's", user=self.carl, date_deadline=date(2031, 10, 4))
        stats = self.push_as_one_group()
        self.assertEqual((stats["pushed"], stats["mailboxes"]), (4, 3), stats)
        subjects = {
            upn: sorted(e["subject"] for e in self.mailbox_events(upn))
            for upn in (self.alice_upn, self.bob.email, self.carl.email)
        }
        self.assertEqual(
            subjects,
            {
                self.alice_upn: ["Task: Alice's first", "Task: Alice's second"],
                self.bob.email: ["Task: Bob's"],
                self.carl.email: ["Task: Carl's"],
            },
        )
        batches = [r for r in self.emulator.state.request_stats()["requests"] if r["path"].endswith("/$batch")]
        self.assertEqual(len(batches), 3, "one $batch per mailbox, with that user's own sign-in")
        self.assertFalse(self.queue_rows())

    def test_revoked_sign_in_in_a_group_stops_only_that_mailbox(self):
        """S7, E6: in a group, the mailbox whose sign-in was revoked says 'reconnect' and its change waits
        untouched; the others are pushed in the same round."""
        state = self.emulator.state
        task = self.schedule(self.todo_type, "Alice's", date_deadline=date(2031, 10, 5))
        self.schedule(self.todo_type, "Bob's", user=self.bob, date_deadline=date(2031, 10, 5))
        state.revoke_refresh_tokens(self.alice_upn)
        state.expire_access_tokens(self.alice_upn)
        self.push_as_one_group()
        self.assertEqual(self._account(self.alice).connection_state, "reconnect")
        row = self.queue_rows(task)
        self.assertEqual((row.state, row.attempts), ("pending", 0))
        self.assertEqual([e["subject"] for e in self.mailbox_events(self.bob.email)], ["Task: Bob's"])
        self.assertEqual(self._account(self.bob).connection_state, "connected")

    def test_failing_mailbox_in_a_group_does_not_stall_the_others(self):
        """E6: Graph refusing one mailbox of a group (503) retries that mailbox's change later; the others land."""
        self.emulator.state.add_fault(mailbox=self.alice_upn, kind="status", status=503, count=None)
        task = self.schedule(self.todo_type, "Alice's", date_deadline=date(2031, 10, 6))
        self.schedule(self.todo_type, "Carl's", user=self.carl, date_deadline=date(2031, 10, 6))
        self.push_as_one_group()
        self.assertEqual([e["subject"] for e in self.mailbox_events(self.carl.email)], ["Task: Carl's"])
        self.assertEqual(self.mailbox_events(self.alice_upn), [])
        row = self.queue_rows(task)
        self.assertEqual(row.state, "pending")
        self.assertGreaterEqual(row.attempts, 1)


@tagged("post_install", "-at_install")
class TestPullGroups(PullCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls._connected_user("alice_groups", tz="Europe/London")
        cls.bob = cls._connected_user("bob_groups_pull", tz="Europe/London")
        cls.carl = cls._connected_user("carl_groups_pull", tz="Europe/London")
        cls.upns = {user: f"{user.login}@{ORG_DOMAIN}" for user in (cls.alice, cls.bob, cls.carl)}

    def test_group_logs_each_mailbox_meeting_once(self):
        """B1, B12, E3: three mailboxes pulled in one group. Alice's and Bob's copies of one meeting with a
        customer make one record linked to both mailboxes; Carl's own customer meeting is logged too; each
        mailbox's round is continued, no pull is left."""
        shared = self.outlook_create(
            self.upns[self.alice], "Shared review", attendees=[f"carol@{CUSTOMER}", self.upns[self.bob]]
        )
        carls = self.outlook_create(self.upns[self.carl], "Carl's visit", attendees=[f"dave@{CUSTOMER}"])
        self.delivered()
        self.assertEqual(len(self.env["o365.pull.request"].sudo().search([])), 3)
        stats = self.run_pull_job()
        self.assertEqual(stats["pulled"], 3, stats)
        meeting = self.meeting_of(self.alice, shared)
        self.assertTrue(meeting)
        bobs_copy = [e for e in self.mailbox_events(self.upns[self.bob]) if e["subject"] == "Shared review"]
        self.assertEqual(self.meeting_of(self.bob, bobs_copy[0]), meeting, "one meeting, one record (B12)")
        self.assertEqual(len(self.logged_meetings("Shared review")), 1)
        self.assertTrue(self.meeting_of(self.carl, carls))
        self.assertFalse(self.pending_pulls())
        self.emulator.state.clear_requests()
        self.run_pull_cron()
        self.assertEqual(self.delta_reads(), 0, "nothing left to read")

    def test_round_longer_than_a_page_or_failing_leaves_the_group(self):
        """E3, E6, B14: in a group, a mailbox whose round is longer than a page is read on its own turn (every
        page logged), one whose reads fail (503) keeps its pull and says so, and the others are logged."""
        for n in range(105):
            self.outlook_create(self.upns[self.alice], f"Busy {n}", attendees=[f"carol@{CUSTOMER}"])
        self.outlook_create(self.upns[self.bob], "Bob's visit", attendees=[f"dave@{CUSTOMER}"])
        self.outlook_create(self.upns[self.carl], "Carl's visit", attendees=[f"dave@{CUSTOMER}"])
        self.delivered()
        self.emulator.state.add_fault(mailbox=self.upns[self.carl], kind="status", status=503, count=None)
        self.run_pull_job()
        busy = self.env["calendar.event"].sudo().search_count([("name", "=like", "Busy %")])
        self.assertEqual(busy, 105)
        self.assertEqual(len(self.logged_meetings("Bob's visit")), 1)
        self.assertFalse(self.logged_meetings("Carl's visit"))
        carl = self.account(self.carl)
        self.assertTrue(carl.last_error, "the failure is on Carl's sync status")
        self.assertEqual(self.pending_pulls(carl), 1, "Carl's pull stays queued")
        self.emulator.state.faults.clear()
        self.run_pull_job()
        self.assertEqual(len(self.logged_meetings("Carl's visit")), 1)

    def test_group_past_the_deadline_puts_its_pulls_back(self):
        """E6, E7: a group that reaches the run's deadline reads no more mailboxes (one read may take Graph's
        whole time-out, and the run must end before Odoo's cron time limit): their pulls go back in the queue,
        untouched, for the next run."""
        for user in (self.alice, self.bob):
            self.outlook_create(self.upns[user], f"Late {user.login}", attendees=[f"carol@{CUSTOMER}"])
        self.delivered()
        self.emulator.state.clear_requests()
        accounts = self.account(self.alice) | self.account(self.bob)
        outcome = importer.Importer(self.env, past_deadline=lambda: True).run_group(accounts)
        self.assertEqual(outcome["unfinished"], 2, outcome)
        self.assertEqual(self.delta_reads(), 0)
        self.assertEqual(self.pending_pulls(self.account(self.alice)), 1)
        self.assertEqual(self.pending_pulls(self.account(self.bob)), 1)
        self.run_pull_job()
        self.assertTrue(self.logged_meetings(f"Late {self.alice.login}"))
        self.assertTrue(self.logged_meetings(f"Late {self.bob.login}"))
