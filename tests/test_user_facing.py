"""Issue 23, items 1-9: what a user and an administrator meet in the browser. No crash, no
contradiction, Odoo 18's words, the state where they look. The browser side of the same items
is tests/test_tour_ui.py."""

import json
from datetime import date, datetime, timedelta

from lxml import etree

from odoo.tests import new_test_user, tagged
from odoo.tools.misc import format_datetime
from odoo.tools.safe_eval import safe_eval

from .common import CUSTOMER, ORG_DOMAIN, PullCase, PushCase

# The buttons of the Calendar tab and what they do (views/res_users_views.xml).
START, STOP, CONNECT = "action_o365_start_sync", "action_o365_stop_sync", "action_o365_connect"


def visible(node, values):
    """True when neither the node nor any of its parents is invisible for these field values."""
    while node is not None:
        expr = node.get("invisible")
        if expr and safe_eval(expr, dict(values)):
            return False
        node = node.getparent()
    return True


@tagged("post_install", "-at_install")
class TestUserFacing(PushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = new_test_user(cls.env, "ivy_ui_admin", groups="base.group_user,base.group_system")

    # -- item 1: Pause all sync from the health list ------------------------------------------

    def _call_button(self, method, ids):
        """The web client's call for a button of the health list (its header sends the selection)."""
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": 1,
            "params": {"model": "o365.sync.account", "method": method, "args": [ids], "kwargs": {"context": {}}},
        }
        answer = self.url_open(
            f"/web/dataset/call_button/o365.sync.account/{method}",
            data=json.dumps(payload),
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(answer.status_code, 200)
        return answer.json()

    def test_pause_and_resume_buttons_of_the_health_list(self):
        """S7, issue 23 item 1: Pause all sync and Resume all sync, pressed in Connected Users (the web
        client sends the selected rows, or none), pause and resume everyone; no "takes 1 positional
        argument" crash. The list offers the one that applies."""
        self.authenticate("ivy_ui_admin", "ivy_ui_admin")
        Account = self.env["o365.sync.account"]
        answer = self._call_button("action_pause_all_sync", [])
        self.assertNotIn("error", answer, answer.get("error"))
        self.assertTrue(Account.sync_paused())
        self.assertEqual(self._account(self.alice).health_state, "paused")
        self.assertEqual(Account.with_user(self.admin).o365_health_list_info()["paused"], True)

        answer = self._call_button("action_resume_all_sync", [self._account(self.alice).id])
        self.assertNotIn("error", answer, answer.get("error"))
        self.assertFalse(Account.sync_paused())
        self.assertEqual(Account.with_user(self.admin).o365_health_list_info()["paused"], False)

        arch = etree.fromstring(
            Account.get_view(self.env.ref("o365_calendar_sync.o365_sync_account_view_list").id)["arch"]
        )
        header = {b.get("name"): b.get("invisible") for b in arch.iterfind("header/button")}
        for paused in (False, True):
            context = {"context": {"o365_sync_paused": paused}}
            shown = [
                name
                for name in ("action_pause_all_sync", "action_resume_all_sync")
                if not safe_eval(header[name], context)
            ]
            self.assertEqual(shown, ["action_resume_all_sync" if paused else "action_pause_all_sync"])

    # -- item 3: the Calendar tab shows one state, with the one button that fixes it -------------

    def _calendar_tab(self, user):
        """(state fields shown, buttons shown) on the user's own Calendar tab, as it renders for them."""
        me = user.with_user(user)
        view = self.env.ref("base.view_users_form_simple_modif")
        arch = etree.fromstring(me.get_view(view.id, "form")["arch"])
        page = arch.find(".//page[@name='o365_calendar_page']")
        names = {node.get("name") for node in arch.iter("field") if node.get("name", "").startswith("o365_")}
        values = me.read(sorted(names))[0]
        shown_states = [
            node.get("name")
            for node in page.iter("field")
            if node.get("name") in ("o365_health_state", "o365_sync_state", "o365_connection_state")
            and visible(node, values)
        ]
        buttons = [(node.get("name"), node.get("string")) for node in page.iter("button") if visible(node, values)]
        self.assertNotIn("Preferences tab first", etree.tostring(page, encoding="unicode"))
        return me.o365_health_state, shown_states, buttons

    def test_calendar_tab_shows_one_state_and_one_button(self):
        """S3, S7, issue 23 item 3: in every state the Calendar tab shows one state (connection and
        sync together) and the one button that fixes it: a refused sign-in while sync runs says
        "Reconnect needed" with Reconnect, never a "Running" sync and Stop Syncing next to it."""
        account = self._account(self.alice)
        self.assertEqual(self._calendar_tab(self.alice), ("syncing", ["o365_health_state"], [(STOP, "Stop Syncing")]))

        account.write({"last_error": "Outlook refused the event's content."})
        self.assertEqual(self._calendar_tab(self.alice), ("failing", ["o365_health_state"], [(STOP, "Stop Syncing")]))
        account.write({"last_error": False})

        # No live change notification for a while (issue 28's 'late'): the user reads the issue's words.
        subscription = account.sudo().subscription_id
        account.sudo().write({"subscription_id": False})
        self.assertEqual(self._calendar_tab(self.alice), ("late", ["o365_health_state"], [(STOP, "Stop Syncing")]))
        self.assertEqual(
            dict(self.env["res.users"]._fields["o365_health_state"].selection)["late"], "Outlook changes delayed"
        )
        account.sudo().write({"subscription_id": subscription})

        account.write({"connection_state": "reconnect", "last_error": "Reconnect needed."})
        self.assertEqual(account.sync_state, "running", "sync resumes by itself once the user reconnects")
        self.assertEqual(self._calendar_tab(self.alice), ("reconnect", ["o365_health_state"], [(CONNECT, "Reconnect")]))

        account.write({"connection_state": "connected", "last_error": False})
        self.env["ir.config_parameter"].sudo().set_param("o365_calendar_sync.sync_paused", "1")
        self.assertEqual(self._calendar_tab(self.alice), ("paused", ["o365_health_state"], []))
        self.env["ir.config_parameter"].sudo().set_param("o365_calendar_sync.sync_paused", False)

        account._stop_sync()
        self.assertEqual(self._calendar_tab(self.alice), ("stopped", ["o365_health_state"], [(START, "Start Syncing")]))

        newcomer = new_test_user(self.env, "nia_ui", groups="base.group_user", email=f"nia_ui@{ORG_DOMAIN}")
        self.assertEqual(
            self._calendar_tab(newcomer), ("disconnected", ["o365_health_state"], [(CONNECT, "Connect Microsoft 365")])
        )

    def test_preferences_tab_says_reconnect(self):
        """S7, issue 23 item 6: a refused sign-in offers Reconnect on the Preferences tab too (Odoo 18's
        words), not Connect."""
        self._account(self.alice).write({"connection_state": "reconnect", "last_error": "Reconnect needed."})
        me = self.alice.with_user(self.alice)
        arch = etree.fromstring(me.get_view(self.env.ref("base.view_users_form_simple_modif").id, "form")["arch"])
        group = arch.find(".//group[@name='o365_connection']")
        values = me.read(["o365_connection_state", "o365_connected_by", "o365_organization_mode", "o365_sync_state"])[0]
        shown = [node.get("string") for node in group.iter("button") if visible(node, values)]
        self.assertIn("Reconnect", shown)
        self.assertNotIn("Connect Microsoft 365", shown)

    # -- item 7: words for the administrator in the health view --------------------------------

    def test_health_view_speaks_to_the_administrator(self):
        """S7, issue 23 item 7: a user's refused sign-in reads, in the health view, as what it means for
        the administrator (only the user can reconnect), not the user's "Reconnect: My Profile…"; the
        user keeps their words. A disconnected row names no connection."""
        account = self._account(self.alice)
        account.flag_reconnect_needed(Exception("invalid_grant: AADSTS70000"))
        self.assertIn("My Profile > Preferences > Reconnect", account.last_error_words)
        admin_words = account.with_user(self.admin).last_error_admin_words
        self.assertIn("only they can reconnect", admin_words)
        self.assertNotIn("your sign-in", admin_words)
        arch = etree.fromstring(
            self.env["o365.sync.account"].get_view(self.env.ref("o365_calendar_sync.o365_sync_account_view_list").id)[
                "arch"
            ]
        )
        self.assertEqual(arch.find(".//field[@name='last_error_admin_words']").get("string"), "Last Error")
        # A mailbox the organisation's application lost: the user asks an administrator, who reads what to do.
        account.write({"connected_by": "organization"})
        account.mailbox_out_of_reach({"status": 403, "body": {"error": {"code": "ErrorAccessDenied", "message": "x"}}})
        self.assertIn("Ask your administrator", account.last_error_words)
        admin_words = account.with_user(self.admin).last_error_admin_words
        self.assertIn("add it to the application's scope", admin_words)
        self.assertNotIn("ask your administrator", admin_words.lower())
        connected_by = arch.find(".//field[@name='connected_by']")
        self.assertTrue(safe_eval(connected_by.get("invisible"), {"connection_state": "disconnected"}))
        self.assertFalse(safe_eval(connected_by.get("invisible"), {"connection_state": "connected"}))

    # -- item 8: stale or odd details ------------------------------------------------------

    def test_recovery_clears_last_error_at(self):
        """S3, issue 23 item 8: once the error is gone, so is "Last Error At"."""
        account = self._account(self.alice)
        account.write({"last_error": "Something went wrong."})
        self.assertTrue(account.last_error_at)
        account.write({"last_error": False})
        self.assertFalse(account.last_error_at)

    def test_waiting_time_in_odoo_date_format(self):
        """E2, issue 23 item 8: "Waiting" gives the next try in Odoo's date and time format of the user's
        language, as every date field shows it (not babel's short "12/6/26, 3:12 AM")."""
        task = self.schedule(self.todo_type, "Retried later", date_deadline=date(2031, 10, 12))
        self.env.flush_all()
        row = self.queue_rows(task)
        row.write({"last_error": "Outlook is busy.", "next_attempt_at": datetime(2031, 10, 12, 15, 4, 5)})
        task.invalidate_recordset()
        expected = format_datetime(self.env, datetime(2031, 10, 12, 15, 4, 5), dt_format=False)
        self.assertIn(expected, task.o365_sync_message)
        self.assertIn("10/12/2031", task.o365_sync_message)
        self.assertNotIn("10/12/31,", task.o365_sync_message)

    def test_push_queue_empty_message_does_not_ask_to_remove_a_removed_filter(self):
        """Issue 23 item 8: the Push Queue's empty page says what the filter shows, whatever is set."""
        action = self.env.ref("o365_calendar_sync.o365_push_queue_action")
        self.assertNotIn("Remove the filter", action.help)
        self.assertIn("With a problem", action.help)

    # -- item 9: un-Odoo-like details -------------------------------------------------------

    def test_start_users_wizard_field_has_a_label_and_a_placeholder(self):
        """O1, issue 23 item 9: the Start Syncing Users dialog labels its users field and says what to do."""
        Wizard = self.env["o365.sync.start.users"]
        arch = etree.fromstring(
            Wizard.get_view(self.env.ref("o365_calendar_sync.o365_sync_start_users_view_form").id)["arch"]
        )
        field = arch.find(".//field[@name='user_ids']")
        self.assertEqual(field.getparent().tag, "group", "a field in a group gets its label")
        self.assertTrue(field.get("placeholder"))

    def test_calendar_popover_says_on_outlook(self):
        """Issue 23 item 9: the Calendar view's popover carries the meeting's place in Outlook."""
        arch = etree.fromstring(
            self.env["calendar.event"].get_view(self.env.ref("calendar.view_calendar_event_calendar").id, "calendar")[
                "arch"
            ]
        )
        self.assertIsNotNone(arch.find(".//field[@name='o365_sync_message']"))

    def test_chatter_activity_data_carries_the_sync_state(self):
        """S3, issue 23 item 9: the data the chatter's activity line is drawn from carries the badge
        (static/src/activity/activity_badge.xml shows it)."""
        task = self.schedule(self.todo_type, "Chatter badge", date_deadline=date(2031, 10, 13))
        self.run_push()
        data = task.with_user(self.alice).activity_format()
        activity = next(a for a in data["mail.activity"] if a["id"] == task.id)
        self.assertEqual((activity["o365_sync_status"], activity["o365_sync_message"]), ("synced", "On Outlook"))

    # -- item 4: Grant admin consent saves and goes on in one press ------------------------------

    def test_grant_admin_consent_needs_one_press(self):
        """O1, issue 23 item 4: Grant admin consent on a settings page with unsaved changes saves them
        and goes on to Microsoft's page in one press (no "save your changes?" stop)."""
        arch = etree.fromstring(self.env["res.config.settings"].get_view(view_type="form")["arch"])
        button = arch.find(".//button[@name='action_o365_grant_admin_consent']")
        self.assertEqual(button.get("noSaveDialog"), "true")


@tagged("post_install", "-at_install")
class TestUserFacingLeaves(PushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.company.resource_calendar_id.tz = "Europe/London"
        cls.employee = cls.env["hr.employee"].create({"name": "Alice Push", "user_id": cls.alice.id})
        cls.leave_type = cls.env["hr.leave.type"].create(
            {"name": "Paid Time Off", "leave_validation_type": "manager", "requires_allocation": "no"}
        )

    def test_leave_shows_its_sync_state(self):
        """C1, issue 23 item 2: a leave request shows where it stands with Outlook, as activities and
        meetings do: the form's badge, and the state itself for its employee (waiting, then on Outlook)."""
        leave = self.env["hr.leave"].create(
            {
                "employee_id": self.employee.id,
                "holiday_status_id": self.leave_type.id,
                "request_date_from": date(2031, 6, 2),
                "request_date_to": date(2031, 6, 3),
                "private_name": "Family visit",
            }
        )
        mine = leave.with_user(self.alice)
        self.assertEqual(mine.o365_sync_status, "waiting")
        self.run_push()
        mine.invalidate_recordset()
        self.assertEqual((mine.o365_sync_status, mine.o365_sync_message), ("synced", "On Outlook"))
        Leave = self.env["hr.leave"].with_user(self.alice)
        for view in ("hr_holidays.hr_leave_view_form", "hr_holidays.hr_leave_view_form_dashboard_new_time_off"):
            arch = etree.fromstring(Leave.get_view(self.env.ref(view).id, "form")["arch"])
            badges = [node for node in arch.iter("div") if "o365_sync_badge" in (node.get("class") or "")]
            self.assertEqual(len(badges), 1, f"{view} shows the badge")
            self.assertTrue(visible(badges[0], {"id": leave.id, "o365_sync_status": "synced"}))
            self.assertFalse(visible(badges[0], {"id": leave.id, "o365_sync_status": "none"}))


@tagged("post_install", "-at_install")
class TestUserFacingOutlookMeetings(PullCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls._connected_user("alice_ui23", tz="Europe/Paris")
        cls.alice_upn = f"alice_ui23@{ORG_DOMAIN}"

    def test_teams_link_organiser_and_note_time_of_a_meeting_booked_in_outlook(self):
        """B8, A14, issue 23 items 5, 8 and 9: a Teams meeting booked in Outlook keeps its join link as
        the Odoo meeting's Videocall URL (a colleague joins from Odoo); its organiser attends it
        (accepted, not "Needs Action"); the contact's note gives the time in the organiser's zone, in
        Odoo's date format, not in UTC."""
        start = (datetime.now() + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
        ev = self.outlook_create(
            self.alice_upn,
            "Teams pricing call",
            start=start,
            attendees=[f"carol@{CUSTOMER}"],
            isOnlineMeeting=True,
            onlineMeetingProvider="teamsForBusiness",
        )
        join_url = ev["onlineMeeting"]["joinUrl"]
        self.assertTrue(join_url)
        self.run_pull_cron()
        meeting = self.meeting_of(self.alice, ev)
        self.assertTrue(meeting, "meeting logged")
        self.assertEqual(meeting.videocall_location, join_url)
        organiser = meeting.attendee_ids.filtered(lambda a: a.partner_id == self.alice.partner_id)
        self.assertEqual(organiser.state, "accepted")
        self.assertEqual(meeting.o365_sync_message, "On Outlook")
        note = self.carol.message_ids.filtered(lambda m: f"calendar.event/{meeting.id}" in (m.body or ""))
        self.assertTrue(note)
        self.assertNotIn(" UTC", note.body)
        local = format_datetime(self.env, meeting.start, tz="Europe/Paris", dt_format=False)
        self.assertIn(f"{local} (Europe/Paris)", note.body)
