"""Issue 23 in a real browser (items 1, 2, 3, 5 and 9's chatter line): headless Chromium runs the
tours of static/tests/tours/o365_ui_tour.js against the emulator. tests/test_user_facing.py holds
the same items' server-side tests."""

from datetime import date, timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import common, new_test_user, tagged

from ..engine import pusher
from .common import O365Case, TourBrowser, run_pull_requests


@tagged("post_install", "-at_install")
class TestTourUi(O365Case):
    browser_size = "1366x900"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tom = cls._connected_user("tom_ui")
        cls.tom.write({"name": "Tom Tour", "groups_id": [(4, cls.env.ref("base.group_partner_manager").id)]})
        cls.tom_upn = cls.tom.email
        cls.account = cls.env["o365.sync.account"]._for_user(cls.tom)
        cls.account.sync_started_at = fields.Datetime.now() - timedelta(
            hours=1
        )  # records of this transaction are newer
        cls.customer = cls.env["res.partner"].create(
            {"name": "Northwind Traders", "is_company": True, "email": "buyer@northwind.example"}
        )
        cls.admin_user = new_test_user(
            cls.env, "ada_ui", groups="base.group_user,base.group_system", email="ada_ui@contoso.example"
        )

    def _tour(self, url, tour, login):
        with patch.object(common, "ChromeBrowser", TourBrowser):
            self.start_tour(url, tour, login=login, timeout=120)

    def _push(self):
        self.env.flush_all()
        pusher.push_due(self.env)
        self.env.invalidate_all()

    def test_admin_pauses_and_resumes_all_sync(self):
        """S7, issue 23 items 1 and 9: Connected Users > Pause all sync pauses everyone (no crash), then
        offers Resume all sync instead; Resume brings everyone back."""
        self._tour("/odoo/action-o365_calendar_sync.action_o365_sync_account", "o365_ui_pause_all", "ada_ui")
        self.env.invalidate_all()
        self.assertTrue(self.env["o365.sync.account"].sync_paused())
        self._tour("/odoo/action-o365_calendar_sync.action_o365_sync_account", "o365_ui_resume_all", "ada_ui")
        self.assertFalse(self.env["o365.sync.account"].sync_paused())

    def test_leave_request_shows_it_is_on_outlook(self):
        """C1, issue 23 item 2: the employee's leave request says "On Outlook" once pushed."""
        self.env.company.resource_calendar_id.tz = "Europe/London"
        employee = self.env["hr.employee"].create({"name": "Tom Tour", "user_id": self.tom.id})
        leave_type = self.env["hr.leave.type"].create(
            {"name": "Paid Time Off", "leave_validation_type": "manager", "requires_allocation": "no"}
        )
        leave = self.env["hr.leave"].create(
            {
                "employee_id": employee.id,
                "holiday_status_id": leave_type.id,
                "request_date_from": date(2031, 6, 2),
                "request_date_to": date(2031, 6, 3),
                "private_name": "Family visit",
            }
        )
        self._push()
        self.assertEqual(leave.o365_sync_status, "synced")
        self._tour(f"/odoo/action-hr_holidays.hr_leave_action_my/{leave.id}", "o365_ui_leave_badge", "tom_ui")

    def test_calendar_tab_one_state(self):
        """S3, S7, issue 23 item 3: the Calendar tab says "Syncing" once with Stop Syncing; a refused
        sign-in while sync runs says "Reconnect needed" with Reconnect alone, no "Running" beside it."""
        self._tour("/odoo", "o365_ui_syncing_tab", "tom_ui")
        self.account.write({"connection_state": "reconnect", "last_error": "Reconnect needed."})
        self.assertEqual(self.account.sync_state, "running")
        self._tour("/odoo", "o365_ui_reconnect_tab", "tom_ui")

    def test_teams_meeting_booked_in_outlook_can_be_joined_from_odoo(self):
        """B8, A14, issue 23 item 5: a Teams meeting Tom books in Outlook with a customer is logged with
        its join link as the Videocall URL."""
        event = self.outlook_create(
            self.tom_upn,
            "Teams call with Northwind",
            attendees=["buyer@northwind.example"],
            isOnlineMeeting=True,
            onlineMeetingProvider="teamsForBusiness",
        )
        self.env["o365.pull.request"].enqueue(self.account.ids, "pull")
        self.env.flush_all()
        run_pull_requests(self.account)
        meeting = self.meeting_of(self.tom, event)
        self.assertEqual(meeting.videocall_location, event["onlineMeeting"]["joinUrl"])
        self._tour(f"/odoo/calendar.event/{meeting.id}", "o365_ui_teams_link", "tom_ui")

    def test_chatter_line_shows_the_activity_on_outlook(self):
        """A1, issue 23 item 9: the activity's line in the customer's chatter says "On Outlook"."""
        call = self.env["mail.activity"].create(
            {
                "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                "res_id": self.customer.id,
                "activity_type_id": self.env.ref("mail.mail_activity_data_call").id,
                "summary": "Chatter call",
                "user_id": self.tom.id,
            }
        )
        self._push()
        self.assertEqual(call.o365_sync_status, "synced")
        self._tour(f"/odoo/action-base.action_partner_form/{self.customer.id}", "o365_ui_chatter_badge", "tom_ui")
