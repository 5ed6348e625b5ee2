"""S7 and issue 15: one notice on a lost sign-in, the administrators' health view and pause,
record badges in plain words, and the activity's Start/End rules (A1)."""

from datetime import date, datetime, timedelta
from unittest.mock import patch

from odoo.exceptions import UserError, ValidationError
from odoo.tests import new_test_user, tagged

from ..utils.graph_client import GraphClient
from .common import PushCase, run_pull_requests


@tagged("post_install", "-at_install")
class TestSyncHealth(PushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = new_test_user(cls.env, "hal_admin", groups="base.group_user,base.group_system")

    # -- S7: a sign-in that stops working -------------------------------------------------

    def test_revoked_sign_in_notifies_the_user_once(self):
        """S7: a revoked sign-in met by the push sets 'Reconnect needed' on the user's Calendar tab in
        plain words and sends them one Odoo notification; later push and pull runs send no second one
        and ask no token for that mailbox."""
        state = self.emulator.state
        self.schedule(self.todo_type, "Before the revocation", date_deadline=date(2031, 10, 5))
        state.revoke_refresh_tokens(self.alice_upn)
        state.expire_access_tokens(self.alice_upn)
        self.run_push()
        account = self._account(self.alice)
        self.assertEqual(account.connection_state, "reconnect")
        self.assertEqual(len(self.notices(self.alice)), 1)
        notice = self.notices(self.alice)
        self.assertIn("microsoft-365-preferences", notice.body)
        self.assertNotIn("AADSTS", notice.body)
        me = self.alice.with_user(self.alice)
        self.assertEqual(me.o365_health_state, "reconnect")
        self.assertTrue(me.o365_last_error_words.startswith("Reconnect needed."), me.o365_last_error_words)
        self.assertNotIn("Details", me.o365_last_error_words)

        state.clear_requests()
        for _ in range(3):
            self.schedule(self.todo_type, "Meanwhile", date_deadline=date(2031, 10, 6))
            self.time_travel()
            self.run_push()
            self.env["o365.pull.request"].enqueue(account.ids, "pull")
            run_pull_requests(account)
        self.assertEqual(len(self.notices(self.alice)), 1, "one notification, not one per run")
        self.assertEqual(self.token_requests(), [], "no token request until the user reconnects")

    def test_revoked_sign_in_met_by_the_pull_is_kept(self):
        """S7: the pull meeting a revoked sign-in leaves the account in 'reconnect' (not rolled back
        with the pull's savepoint), notifies once, and the next pull asks nothing for that mailbox."""
        bob = self._push_user("bob_health")
        state = self.emulator.state
        state.revoke_refresh_tokens(bob.email)
        state.expire_access_tokens(bob.email)
        account = self._account(bob)
        self.env["o365.pull.request"].enqueue(account.ids, "pull")
        run_pull_requests(account)
        self.env.invalidate_all()
        self.assertEqual(account.connection_state, "reconnect")
        self.assertIn("connect again", account.last_error)
        self.assertEqual(len(self.notices(bob)), 1)
        state.clear_requests()
        self.env["o365.pull.request"].enqueue(account.ids, "pull")
        run_pull_requests(account)
        self.assertEqual(self.token_requests(), [])
        self.assertEqual(len(self.notices(bob)), 1)

    # -- S7: the administrators' health view ----------------------------------------------

    def test_health_view_shows_and_controls_each_user(self):
        """S7: the health view shows waiting changes and the oldest one; an administrator stops,
        restarts and disconnects a user's sync (one or a selection); other users cannot."""
        task = self.schedule(self.todo_type, "Waiting", date_deadline=date(2031, 10, 7))
        self.env.flush_all()
        account = self._account(self.alice).with_user(self.admin)
        self.assertEqual(account.health_state, "syncing")
        self.assertEqual(account.waiting_count, 1)
        self.assertEqual(account.oldest_waiting_at, self.queue_rows(task).create_date)

        account.action_admin_stop_sync()
        self.assertEqual((account.sync_state, account.health_state), ("stopped", "stopped"))
        account.action_admin_restart_sync()
        self.assertEqual(account.sync_state, "running")
        with self.assertRaises(UserError):
            account.with_user(self.alice).action_admin_stop_sync()
        account.action_admin_disconnect()
        self.assertEqual((account.connection_state, account.sync_state), ("disconnected", "stopped"))
        with self.assertRaises(UserError):
            account.action_admin_restart_sync()  # must connect first: said in words
        # States cannot be typed in: read-only fields.
        self.assertTrue(account._fields["connection_state"].readonly)
        self.assertTrue(account._fields["sync_state"].readonly)

    def test_pause_all_sync(self):
        """S7: while all sync is paused (ir.config_parameter o365_calendar_sync.sync_paused) the push and
        pull jobs ask Graph nothing; changes wait, and go out after Resume."""
        Account = self.env["o365.sync.account"].with_user(self.admin)
        Account.action_pause_all_sync()
        self.assertTrue(Account.sync_paused())
        self.assertEqual(self._account(self.alice).health_state, "paused")
        task = self.schedule(self.todo_type, "Held by the pause", date_deadline=date(2031, 10, 8))
        self.assertEqual(task.o365_sync_status, "waiting")
        self.assertIn("paused", task.o365_sync_message)
        self.emulator.state.clear_requests()
        self.env.flush_all()
        self.env["o365.sync.cron"]._cron_push()
        self.env["o365.sync.cron"]._cron_pull()
        self.assertEqual(self.graph_requests(), [])
        self.assertEqual(self.token_requests(), [])
        self.assertTrue(self.queue_rows(task))

        Account.action_resume_all_sync()
        self.env["o365.sync.cron"]._cron_push()
        self.env.invalidate_all()
        self.assertTrue(self.mailbox_events(self.alice_upn, subject="Task: Held by the pause"))
        self.assertEqual(task.o365_sync_status, "synced")
        self.assertEqual(task.o365_sync_message, "On Outlook")

    # -- issue 15: badges in plain words ------------------------------------------------------

    def test_failed_push_badge_in_plain_words_with_retry(self):
        """S3: a refused push shows "Failed:" and plain words on the activity, the technical line kept
        apart (details, and in the queue); Retry sends it again; a passing failure shows as waiting."""
        state = self.emulator.state
        task = self.schedule(self.todo_type, "Refused once", date_deadline=date(2031, 10, 9))
        refusal = {"error": {"code": "ErrorInvalidRequest", "message": "Your request is invalid."}}

        def refuse(_client, requests_):
            return {r["id"]: {"status": 400, "headers": {}, "body": refusal} for r in requests_}

        with patch.object(GraphClient, "batch", refuse):
            self.run_push()
        self.assertEqual(task.o365_sync_status, "failed")
        self.assertTrue(task.o365_sync_message.startswith("Failed: Outlook refused the event's content."))
        self.assertIn("400", task.o365_sync_detail)
        self.assertNotIn("400", task.o365_sync_message)
        row = self.queue_rows(task)
        self.assertEqual(row.last_error_words, "Outlook refused the event's content.")
        account = self._account(self.alice)
        self.assertTrue(account.last_error_words.startswith("Outlook refused a calendar update"))
        self.assertIn("400", account.last_error_detail)
        self.assertTrue(account.last_error_at)

        task.action_o365_retry_now()
        self.run_push()
        self.assertEqual(task.o365_sync_status, "synced")

        state.add_fault(mailbox=self.alice_upn, kind="status", status=503, count=None)
        task.write({"summary": "Outlook is down"})
        self.run_push()
        self.assertEqual(task.o365_sync_status, "waiting")
        self.assertIn("Outlook had a temporary problem. Odoo tries again by itself", task.o365_sync_message)

    # -- A1, issue 15: Start and End ----------------------------------------------------------

    def test_start_moves_end_and_end_never_before_start(self):
        """A1: moving an activity's Start moves its End with the same duration (as Odoo's calendar);
        an End before the Start is refused in words; the chatter's Schedule Activity sets both."""
        task = self.schedule(self.todo_type, "Timed", date_deadline=date(2031, 10, 10))
        start = datetime(2031, 10, 10, 13, 0)
        task.write({"o365_start": start, "o365_end": start + timedelta(minutes=90)})
        task.write({"o365_start": start + timedelta(days=1)})
        self.assertEqual(task.o365_end, start + timedelta(days=1, minutes=90))
        self.assertEqual(task.date_deadline, date(2031, 10, 11))
        with self.assertRaisesRegex(ValidationError, "ends before it starts"):
            task.write({"o365_end": task.o365_start - timedelta(hours=1)})

        wizard = (
            self.env["mail.activity.schedule"]
            .with_context(active_model="res.partner", active_ids=self.contact.ids, active_id=self.contact.id)
            .create(
                {
                    "activity_type_id": self.call_type.id,
                    "summary": "Call from the chatter",
                    "activity_user_id": self.alice.id,
                    "date_deadline": date(2031, 10, 12),
                }
            )
        )
        self.assertEqual(wizard.o365_start, datetime(2031, 10, 12, 8, 0))  # 09:00 in London (BST)
        wizard.write({"o365_start": datetime(2031, 10, 12, 14, 0), "o365_end": datetime(2031, 10, 12, 15, 0)})
        wizard.action_schedule_activities()
        call = self.env["mail.activity"].search([("summary", "=", "Call from the chatter")])
        self.assertEqual(
            (call.o365_start, call.o365_end), (datetime(2031, 10, 12, 14, 0), datetime(2031, 10, 12, 15, 0))
        )


class TestSyncHealthOrganization(TestSyncHealth):
    """O2: the same tests, with the mailboxes connected by the organisation's application."""

    connection_mode = "organization"
    # A user's own sign-in (S7), and Restart needing it; the organisation's counterparts (a mailbox out
    # of reach, Restart connecting again) are in test_organization.py.
    test_revoked_sign_in_notifies_the_user_once = None
    test_revoked_sign_in_met_by_the_pull_is_kept = None
    test_health_view_shows_and_controls_each_user = None
