"""A10, A14, S4 in a real browser (static/tests/tours/o365_meetings_lifecycle_tour.js).

Outlook's side is played through the emulator and the sync jobs run as their crons
would, between the tours; what customers receive is read from the emulator's record
of the mail Exchange sends, and from Odoo's own mail.
"""

from datetime import UTC, datetime, timedelta
from unittest.mock import patch

from odoo.tests import common, tagged

from ..engine import pusher
from .common import O365Case, TourBrowser, run_pull_requests

CUSTOMER = "carol@customer.example"


@tagged("post_install", "-at_install")
class TestMeetingTours(O365Case):
    browser_size = "1366x1100"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mia = cls._connected_user("mia_tour", tz="Europe/London")
        cls.mia.groups_id |= cls.env.ref("base.group_partner_manager")  # a salesperson: works on contacts
        cls.upn = "mia_tour@contoso.example"
        cls.account = cls.env["o365.sync.account"].sudo().search([("user_id", "=", cls.mia.id)])
        # Records made by this test's transaction count as made after the sync start (S3).
        cls.account.sync_started_at = datetime.now() - timedelta(hours=1)
        company = cls.env["res.partner"].create({"name": "Customer Ltd", "is_company": True})
        cls.carol = cls.env["res.partner"].create({"name": "Carol Client", "email": CUSTOMER, "parent_id": company.id})

    def _tour(self, url, tour):
        with patch.object(common, "ChromeBrowser", TourBrowser):
            self.start_tour(url, tour, login="mia_tour", timeout=120)
        self.env.invalidate_all()

    def _pull(self):
        self.env["o365.pull.request"].enqueue(self.account.ids, "pull")
        self.env.flush_all()
        run_pull_requests(self.account)
        self.env.invalidate_all()

    def _push(self):
        self.env.flush_all()
        pusher.push_due(self.env)
        self.env.invalidate_all()

    def _odoo_notifications_to_carol(self):
        self.env.flush_all()
        return (
            self.env["mail.message"]
            .sudo()
            .search([("partner_ids", "in", self.carol.ids), ("message_type", "=", "user_notification")])
        )

    def test_outlook_meeting_no_confirm(self):
        """A10 (browser): a meeting booked in Outlook with a customer, opened in Odoo, offers no Confirm."""
        start = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(days=2)
        self.outlook(self.upn).post(
            f"{self.emulator.graph_url}/me/events",
            json={
                "subject": "Lunch with Carol",
                "start": {"dateTime": start.isoformat(), "timeZone": "UTC"},
                "end": {"dateTime": (start + timedelta(hours=1)).isoformat(), "timeZone": "UTC"},
                "attendees": [{"emailAddress": {"address": CUSTOMER}, "type": "required"}],
            },
            timeout=10,
        ).raise_for_status()
        self._pull()
        meeting = self.env["calendar.event"].search([("name", "=", "Lunch with Carol")])
        self.assertTrue(meeting.o365_logged)
        self._tour(f"/odoo/calendar.event/{meeting.id}", "o365_outlook_meeting_has_no_confirm")

    def test_meeting_confirmed_in_browser_one_invitation(self):
        """A14, A10 (browser): a meeting with a customer saved and confirmed in Odoo: Odoo mails nobody,
        Outlook sends one invitation, and the event body links back to the meeting."""
        self._tour("/odoo/calendar.event/new", "o365_confirm_meeting_with_customer")
        meeting = self.env["calendar.event"].search([("name", "=", "Renewal talk")])
        self.assertTrue(meeting.o365_confirmed)
        self._push()
        self._push()
        invitations = self.emulator.state.list_invitations(attendee=CUSTOMER)
        self.assertEqual([i["kind"] for i in invitations], ["request"], "one invitation, from Outlook")
        self.assertFalse(self._odoo_notifications_to_carol(), "A14: no invitation mail from Odoo")
        [event] = self.mailbox_events(self.upn, subject="Meeting: Renewal talk - Customer Ltd")
        self.assertIn(f"/odoo/calendar.event/{meeting.id}", event["body"]["content"])
        self.assertIn("Open in Odoo", event["body"]["content"])

    def test_stop_start_then_edit_old_task(self):
        """S4 (browser): Stop then Start from Preferences, then editing a task pushed before the stop
        updates its Outlook event (the same event: nothing deleted)."""
        task = self.env["mail.activity"].create(
            {
                "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                "res_id": self.carol.id,
                "activity_type_id": self.env.ref("mail.mail_activity_data_todo").id,
                "summary": "Call back Carol",
                "user_id": self.mia.id,
                "date_deadline": (datetime.now() + timedelta(days=3)).date(),
            }
        )
        self._push()
        [before] = self.mailbox_events(self.upn, subject="Task: Call back Carol")
        self._tour("/odoo/microsoft-365-preferences", "o365_stop_then_start")
        self.assertGreater(self.account.sync_started_at, task.create_date, "the start moved: the task is older")
        self._tour(f"/odoo/res.partner/{self.carol.id}", "o365_edit_old_task")
        self._push()
        [event] = self.mailbox_events(self.upn)
        self.assertEqual(event["id"], before["id"], "the same event, never deleted")
        self.assertEqual(event["subject"], "Task: Call back Carol about the renewal")
