"""S4: Stop, Start, Disconnect and Connect keep what is linked, as a user drives them (JSON-RPC).

Issue 13, path 1 (links detached after Stop/Start or Disconnect/Connect) and path 5
(Stop and Disconnect waiting on an unreachable Graph).
"""

import time
from datetime import datetime, timedelta

from freezegun import freeze_time

from odoo.tests import new_test_user, tagged
from odoo.tests.common import JsonRpcException

from ..engine import importer, pusher
from .common import ButtonsMixin, ConnectMixin, O365Case, PushCase, run_pull_requests


@tagged("post_install", "-at_install")
class TestStopStartKeepsLinks(ButtonsMixin, PushCase):
    """Activities, meetings and leaves linked before a Stop resume after Start (S4)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # A salesperson: may schedule activities on customers (write access to contacts).
        cls.alice.groups_id |= cls.env.ref("base.group_partner_manager")

    def _task(self, summary):
        activity = self.schedule(self.todo_type, summary, date_deadline=datetime(2031, 5, 6).date())
        self.run_push()
        link = self.link_of(activity, self.alice)
        self.assertTrue(link.graph_event_id, "pushed before the stop")
        return activity, link.graph_event_id

    def _stop_then_start(self, while_stopped=None):
        """Stop and Start from Preferences as Alice; ``while_stopped`` runs between the two."""
        self.authenticate("alice_push", "alice_push")
        self.preferences_button(self.alice, "action_o365_stop_sync")
        self.assertEqual(self._account(self.alice).sync_state, "stopped")
        result = while_stopped() if while_stopped else None
        self.env.invalidate_all()
        wakeups = self.push_wakeups()
        # Odoo keeps datetimes to the second: Start is pressed a second later, so that what was made
        # while stopped is older than the new sync start, as in real use.
        with freeze_time(datetime.now() + timedelta(seconds=1), tick=True):
            self.preferences_button(self.alice, "action_o365_start_sync")
        self.assertEqual(self._account(self.alice).sync_state, "running")
        self.assertGreater(self.push_wakeups(), wakeups, "S4: Start wakes the push job")
        return result

    def test_task_edited_after_restart_updates_its_event(self):
        """S4, A4: after Stop then Start, editing a task pushed before updates its Outlook event (same event,
        never deleted); edits made while stopped queue no delete and go out at Start; a task created while
        stopped is never synced."""
        activity, event_id = self._task("Call back about the quote")

        def while_stopped():
            self.call("mail.activity", "write", [[activity.id], {"summary": "Edited while stopped"}])
            rows = self.queue_rows(activity)
            self.assertEqual(rows.mapped("operation"), ["upsert"], "S4: an edit while stopped queues no delete")
            new = self.call(
                "mail.activity",
                "create",
                [
                    {
                        "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                        "res_id": self.contact.id,
                        "activity_type_id": self.todo_type.id,
                        "summary": "Made while stopped",
                        "user_id": self.alice.id,
                        "date_deadline": "2031-05-07",
                    }
                ],
            )
            self.assertEqual(self.run_push()["pushed"], 0, "S4: nothing goes out while stopped")
            return new

        made_while_stopped = self._stop_then_start(while_stopped)
        self.run_push()
        [event] = self.mailbox_events(self.alice_upn)
        self.assertEqual(event["id"], event_id, "the same event, never deleted and re-created")
        self.assertEqual(event["subject"], "Task: Edited while stopped")

        self.call("mail.activity", "write", [[activity.id], {"summary": "Edited after restart"}])
        self.run_push()
        [event] = self.mailbox_events(self.alice_upn)
        self.assertEqual((event["id"], event["subject"]), (event_id, "Task: Edited after restart"))
        self.assertFalse(self.mailbox_events(self.alice_upn, subject="Task: Made while stopped"))
        self.call("mail.activity", "write", [[made_while_stopped], {"summary": "Made while stopped, edited"}])
        self.run_push()
        self.assertEqual(len(self.mailbox_events(self.alice_upn)), 1, "S4: made while stopped: never synced")

    def test_outlook_move_while_stopped_applies_after_start(self):
        """S4, A5: a task's event moved in Outlook while sync was stopped: the first pull after Start
        moves the task (only its start and end), and pushes nothing back."""
        day = (datetime.now() + timedelta(days=10)).date()
        activity = self.schedule(self.todo_type, "Visit the warehouse", date_deadline=day)
        self.run_push()
        link = self.link_of(activity, self.alice)
        self.authenticate("alice_push", "alice_push")
        self.preferences_button(self.alice, "action_o365_stop_sync")
        moved = datetime.combine(day, datetime.min.time()) + timedelta(hours=14)
        answer = self.outlook(self.alice_upn).patch(
            f"{self.emulator.graph_url}/me/events/{link.graph_event_id}",
            json={
                "start": {"dateTime": moved.isoformat(), "timeZone": "UTC"},
                "end": {"dateTime": (moved + timedelta(hours=1)).isoformat(), "timeZone": "UTC"},
            },
            timeout=10,
        )
        self.assertEqual(answer.status_code, 200, answer.text)
        self.preferences_button(self.alice, "action_o365_start_sync")
        # What the pull job does right after Start commits: subscribe, then a fresh delta round.
        self.env.flush_all()
        run_pull_requests(self._account(self.alice))
        self.env.invalidate_all()
        activity = self.env["mail.activity"].browse(activity.id)
        self.assertEqual((activity.o365_start, activity.o365_end), (moved, moved + timedelta(hours=1)))
        self.assertEqual(activity.summary, "Visit the warehouse")
        self.assertFalse(self.queue_rows(activity), "E4: nothing pushed back")

    def test_confirmed_meeting_moved_after_restart_moves_in_outlook(self):
        """S4, A11: a confirmed meeting moved in Odoo after Stop then Start moves in Outlook, and Outlook
        tells the customer; it is not deleted."""
        meeting = self.env["calendar.event"].create(
            {
                "name": "Contract review",
                "user_id": self.alice.id,
                "start": datetime(2031, 6, 2, 10, 0),
                "stop": datetime(2031, 6, 2, 11, 0),
                "partner_ids": [(6, 0, [self.alice.partner_id.id, self.contact.id])],
            }
        )
        meeting.action_o365_confirm()
        self.run_push()
        [before] = self.mailbox_events(self.alice_upn)
        self._stop_then_start()
        self.emulator.state.clear_invitations()
        self.call(
            "calendar.event",
            "write",
            [[meeting.id], {"start": "2031-06-03 14:00:00", "stop": "2031-06-03 15:00:00"}],
        )
        self.run_push()
        [event] = self.mailbox_events(self.alice_upn)
        self.assertEqual(event["id"], before["id"])
        self.assertTrue(event["start"]["dateTime"].startswith("2031-06-03T14:00:00"), event["start"])
        self.assertTrue(self.emulator.state.list_invitations(attendee="jane@acme.example", kind="update"))

    def test_put_back_on_outlook_after_restart(self):
        """S4, A6: "Put back on Outlook calendar" on a task removed in Outlook puts it back, after a restart too."""
        activity, event_id = self._task("Send the brochure")
        self.outlook(self.alice_upn).delete(f"{self.emulator.graph_url}/me/events/{event_id}", timeout=10)
        # What the pull does when it reads the deletion (A6).
        activity._o365_apply_outlook_removal(self.link_of(activity, self.alice))
        self.assertTrue(activity.o365_unlinked)
        self._stop_then_start()
        self.button("mail.activity", "action_o365_push_again", [activity.id])
        self.run_push()
        [event] = self.mailbox_events(self.alice_upn)
        self.assertEqual(event["subject"], "Task: Send the brochure")
        self.assertFalse(self.env["mail.activity"].browse(activity.id).o365_unlinked)

    def test_put_back_explains_when_it_cannot(self):
        """A6, S4: while sync is stopped "Put back on Outlook calendar" says why nothing happens."""
        activity, event_id = self._task("Send the price list")
        self.outlook(self.alice_upn).delete(f"{self.emulator.graph_url}/me/events/{event_id}", timeout=10)
        activity._o365_apply_outlook_removal(self.link_of(activity, self.alice))
        self.authenticate("alice_push", "alice_push")
        self.preferences_button(self.alice, "action_o365_stop_sync")
        with self.assertRaisesRegex(JsonRpcException, "UserError"):
            self.button("mail.activity", "action_o365_push_again", [activity.id])


@tagged("post_install", "-at_install")
class TestLeaveAcrossRestart(ButtonsMixin, O365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.company.resource_calendar_id.tz = "Europe/London"
        cls.user = cls._connected_user("leo_restart", tz="Europe/London")
        cls.upn = "leo_restart@contoso.example"
        cls.employee = cls.env["hr.employee"].create({"name": "Leo", "user_id": cls.user.id, "tz": "Europe/London"})
        cls.officer = new_test_user(
            cls.env, "hugo_hr", groups="base.group_user,hr_holidays.group_hr_holidays_manager", tz="Europe/London"
        )
        cls.leave_type = cls.env["hr.leave.type"].create(
            {"name": "Paid Time Off", "requires_allocation": "no", "leave_validation_type": "manager"}
        )

    def test_leave_edited_while_stopped_keeps_its_event(self):
        """S4, C2: a leave edited while sync is stopped queues no delete; after Start its event is updated."""
        leave = self.env["hr.leave"].create(
            {
                "employee_id": self.employee.id,
                "holiday_status_id": self.leave_type.id,
                "request_date_from": datetime(2031, 7, 7).date(),
                "request_date_to": datetime(2031, 7, 8).date(),
                "private_name": "Wedding",
            }
        )
        self.env.flush_all()
        pusher.push_due(self.env)
        [before] = self.mailbox_events(self.upn)
        self.authenticate("leo_restart", "leo_restart")
        self.preferences_button(self.user, "action_o365_stop_sync")
        self.authenticate("hugo_hr", "hugo_hr")  # the HR officer corrects the leave meanwhile
        self.call("hr.leave", "write", [[leave.id], {"private_name": "Wedding (family)"}])
        rows = self.env["o365.push.queue"].sudo().search([("res_model", "=", "hr.leave"), ("res_id", "=", leave.id)])
        self.assertEqual(rows.mapped("operation"), ["upsert"], "S4: no delete queued while stopped")
        self.authenticate("leo_restart", "leo_restart")
        self.preferences_button(self.user, "action_o365_start_sync")
        self.env.flush_all()
        pusher.push_due(self.env)
        [event] = self.mailbox_events(self.upn)
        self.assertEqual(event["id"], before["id"])
        self.assertEqual(event["subject"], "Paid Time Off: Wedding (family)")


@tagged("post_install", "-at_install")
class TestStopAndDisconnectNeverWait(ButtonsMixin, ConnectMixin, O365Case):
    """Path 5: Stop and Disconnect answer at once when Graph hangs; the pull job cleans up after (S4)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = cls._connected_user("sam_stop", tz="Europe/London")
        cls.upn = "sam_stop@contoso.example"

    def setUp(self):
        super().setUp()
        # A fresh subscription for this test (the emulator outlives the rolled-back database).
        account = self._account()
        with self.emulator.state.lock:
            self.emulator.state.subscriptions.clear()
        importer.Importer(self.env).subscribe(account)
        self.assertTrue(account.subscription_id)

    def _account(self):
        self.env.invalidate_all()
        return self.env["o365.sync.account"].sudo().search([("user_id", "=", self.user.id)])

    def _graph_hangs(self):
        """Every Graph call of this mailbox takes 30 s, as an unreachable service would."""
        self.emulator.state.add_fault(kind="latency", latency_ms=30000, mailbox=self.upn)
        self.emulator.state.clear_requests()

    def _timed(self, method):
        self.authenticate("sam_stop", "sam_stop")
        started = time.monotonic()
        self.preferences_button(self.user, method)
        return time.monotonic() - started

    def _subscription_ids(self):
        return {s["id"] for s in self.emulator.state.list_subscriptions()}

    def test_stop_answers_at_once_when_graph_hangs(self):
        """S4: Stop Syncing answers at once and makes no Graph call while Graph hangs; the pull job
        removes the webhook subscription afterwards, and no error is shown."""
        subscription = self._account().subscription_id
        self._graph_hangs()
        self.assertLess(self._timed("action_o365_stop_sync"), 5)
        self.assertFalse(self.emulator.state.request_stats()["requests"], "no Graph call in the request")
        account = self._account()
        self.assertEqual(account.sync_state, "stopped")
        self.assertFalse(account.last_error)
        self.assertFalse(account.subscription_id, "its notifications are refused from now on")
        self.assertEqual(account.subscription_to_remove, subscription, "left for the pull job")
        self.emulator.state.clear_faults()
        self.run_pull_job()
        self.assertNotIn(subscription, self._subscription_ids(), "S4: the job removed the subscription")
        self.assertFalse(self._account().subscription_to_remove)

    def test_disconnect_answers_at_once_and_tokens_go_after_cleanup(self):
        """S4, S2: Disconnect answers at once while Graph hangs; the pull job removes the subscription
        with the tokens it still had, then forgets them."""
        subscription = self._account().subscription_id
        self._graph_hangs()
        self.assertLess(self._timed("action_o365_disconnect"), 5)
        self.assertFalse(self.emulator.state.request_stats()["requests"], "no Graph call in the request")
        account = self._account()
        self.assertEqual((account.connection_state, account.sync_state), ("disconnected", "stopped"))
        self.emulator.state.clear_faults()
        self.run_pull_job()
        account = self._account()
        self.assertNotIn(subscription, self._subscription_ids())
        self.assertFalse(account.token_cache, "S2: the sign-in is forgotten")
        self.assertEqual(account.connection_state, "disconnected")

    def test_disconnect_when_graph_stays_down_still_forgets_tokens(self):
        """S2, S4: when Graph is still down at cleanup, the tokens are forgotten anyway (the subscription
        expires by itself)."""
        self._graph_hangs()
        self.emulator.state.clear_faults()
        self.emulator.state.add_fault(kind="status", status=503, mailbox=self.upn)
        self._timed("action_o365_disconnect")
        self.run_pull_job()
        account = self._account()
        self.assertFalse(account.token_cache)
        self.assertEqual(account.connection_state, "disconnected")
        self.assertFalse(account.subscription_to_remove)

    def test_reconnect_same_mailbox_keeps_links(self):
        """S4: Disconnect then Connect to the same mailbox keeps every link: after Start, editing a task
        pushed before updates its event; Preferences say sync is stopped until Start."""
        todo = self.env.ref("mail.mail_activity_data_todo")
        account = self._account()
        account.sync_started_at = datetime.now() - timedelta(hours=1)
        activity = self.env["mail.activity"].create(
            {
                "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                "res_id": self.user.partner_id.id,
                "activity_type_id": todo.id,
                "summary": "Plan the visit",
                "user_id": self.user.id,
                "date_deadline": datetime(2031, 8, 1).date(),
            }
        )
        self.env.flush_all()
        pusher.push_due(self.env)
        [before] = self.mailbox_events(self.upn)
        self._timed("action_o365_disconnect")
        self.run_pull_job()
        self._connect_in_browser("sam_stop", self.upn)
        account = self._account()
        self.assertEqual((account.connection_state, account.sync_state), ("connected", "stopped"))
        self.assertEqual(
            self.call("res.users", "read", [[self.user.id], ["o365_sync_state"]])[0]["o365_sync_state"], "stopped"
        )
        self.assertTrue(
            self.env["o365.event.link"]
            .sudo()
            .search([("res_model", "=", "mail.activity"), ("res_id", "=", activity.id)]),
            "S4: the link survived Disconnect/Connect",
        )
        self.preferences_button(self.user, "action_o365_start_sync")
        self.call("mail.activity", "write", [[activity.id], {"summary": "Plan the visit (moved)"}])
        self.env.flush_all()
        pusher.push_due(self.env)
        [event] = self.mailbox_events(self.upn)
        self.assertEqual((event["id"], event["subject"]), (before["id"], "Task: Plan the visit (moved)"))

    def test_connect_another_mailbox_drops_old_links(self):
        """S4: Connect to another mailbox than before: the old mailbox's links mean nothing there and go;
        nothing is deleted in either calendar."""
        other = "sam_other@contoso.example"
        if self.emulator.state.find_mailbox(other) is None:
            self.emulator.state.add_user(other, display_name="Sam Other", time_zone="Europe/London")
        account = self._account()
        self.env["o365.event.link"].sudo().create(
            {
                "account_id": account.id,
                "res_model": "res.partner",
                "res_id": self.user.partner_id.id,
                "graph_event_id": "x",
            }
        )
        self._timed("action_o365_disconnect")
        self._connect_in_browser("sam_stop", other)
        self.assertEqual(self._account().mailbox_address, other)
        self.assertFalse(self.env["o365.event.link"].sudo().search([("account_id", "=", account.id)]))


class TestStopStartKeepsLinksOrganization(TestStopStartKeepsLinks):
    """O2: the same tests, with the mailboxes connected by the organisation's application."""

    connection_mode = "organization"
