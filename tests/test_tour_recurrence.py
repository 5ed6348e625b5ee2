"""A16 in a real browser (static/tests/tours/o365_recurring_meeting_tour.js).

A weekly meeting with a customer made in Odoo's calendar form, confirmed, one occurrence
changed with "This event", a later one with "This and following events": after each step
the customer's messages (the emulator's record of what Exchange sends) and the organiser's
Outlook calendar are checked against Odoo's occurrences.
"""

from datetime import datetime, timedelta
from unittest.mock import patch

from odoo.tests import common, tagged

from ..engine import pusher
from .common import O365Case, TourBrowser

CUSTOMER = "carol@customer.example"
WINDOW = ("2000-01-01T00:00:00", "2100-01-01T00:00:00")


@tagged("post_install", "-at_install")
class TestRecurringMeetingTour(O365Case):
    browser_size = "1366x1100"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.nina = cls._connected_user("nina_tour", tz="Europe/London")
        cls.nina.groups_id |= cls.env.ref("base.group_partner_manager")
        cls.upn = "nina_tour@contoso.example"
        cls.account = cls.env["o365.sync.account"].sudo().search([("user_id", "=", cls.nina.id)])
        cls.account.sync_started_at = datetime.now() - timedelta(hours=1)  # S3: records of this test are newer
        company = cls.env["res.partner"].create({"name": "Customer Ltd", "is_company": True})
        cls.carol = cls.env["res.partner"].create({"name": "Carol Client", "email": CUSTOMER, "parent_id": company.id})

    def _tour(self, url, tour):
        with patch.object(common, "ChromeBrowser", TourBrowser):
            self.start_tour(url, tour, login="nina_tour", timeout=120)
        self.env.invalidate_all()

    def _push(self):
        self.env.flush_all()
        pusher.push_due(self.env)
        self.env.invalidate_all()

    def _kinds(self):
        return sorted(i["kind"] for i in self.emulator.state.list_invitations(attendee=CUSTOMER))

    def _matches_outlook(self, meetings):
        """The organiser's Outlook calendar holds Odoo's occurrences one for one (date, time, location)."""
        view = self.emulator.state.calendar_view(self.upn, *WINDOW)
        outlook = [(e["start"]["dateTime"][:16], e["location"]["displayName"]) for e in view]
        odoo = [(m.start.strftime("%Y-%m-%dT%H:%M"), m.location or "") for m in meetings.sorted("start")]
        self.assertEqual(outlook, odoo)

    def test_recurring_meeting_in_the_browser(self):
        """A16, A14 (browser): confirmed, the weekly meeting is one series and the customer one invitation;
        "This event" makes one exception (one update for that date); "This and following" ends the series and
        starts a new one (one invitation to it); Outlook matches Odoo's occurrences at each step; Odoo mails
        nobody."""
        self._tour("/odoo/calendar.event/new", "o365_recurring_meeting_confirm")
        meeting = self.env["calendar.event"].search([("name", "=", "Weekly account review")], limit=1)
        recurrence = meeting.recurrence_id
        self.assertEqual(len(recurrence.calendar_event_ids), 6)
        self._push()
        masters = [e for e in self.mailbox_events(self.upn) if e["type"] == "seriesMaster"]
        self.assertEqual(len(masters), 1)
        self.assertEqual(len(self.mailbox_events(self.upn)), 1, "one series, no single events")
        self.assertEqual(self._kinds(), ["request"], "one invitation for the series")
        self._matches_outlook(recurrence.calendar_event_ids)

        occurrences = recurrence.calendar_event_ids.sorted("start")
        self._tour(f"/odoo/calendar.event/{occurrences[2].id}", "o365_recurring_this_event")
        self.assertEqual(occurrences[2].location, "Room 3")
        self._push()
        self._push()
        self.assertEqual(self._kinds(), ["request", "update"], "one update, for that date")
        self._matches_outlook(recurrence.calendar_event_ids)

        self._tour(f"/odoo/calendar.event/{occurrences[3].id}", "o365_recurring_this_and_following")
        self._push()
        self._push()
        meetings = self.env["calendar.event"].search([("name", "=", "Weekly account review")])
        self.assertEqual(len(meetings), 6)
        self.assertEqual(len([e for e in self.mailbox_events(self.upn) if e["type"] == "seriesMaster"]), 2)
        self.assertEqual(self._kinds().count("request"), 2, "one invitation per series, never per date")
        self.assertNotIn("cancel", self._kinds())
        self._matches_outlook(meetings)
        self.env.flush_all()
        mails = (
            self.env["mail.message"]
            .sudo()
            .search([("partner_ids", "in", self.carol.ids), ("message_type", "=", "user_notification")])
        )
        self.assertFalse(mails, "A14: no invitation mail from Odoo")
