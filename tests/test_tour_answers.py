"""A17 in a real browser (static/tests/tours/o365_answers_tour.js)."""

from datetime import datetime, time
from unittest.mock import patch

import requests

from odoo.tests import common, tagged

from .common import PushCase, TourBrowser


@tagged("post_install", "-at_install")
class TestAnswerTour(PushCase):
    browser_size = "1366x1100"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bob = cls._push_user("bob_tour_answers")
        cls.bob_upn = cls.bob.email

    def test_colleague_declines_in_odoo_and_outlook_shows_it(self):
        """A17 (browser): Bob declines Alice's confirmed meeting with the calendar's "No" in Odoo; after the
        push, the organiser's event on the emulator's calendar page (Outlook) shows Bob as declined."""
        today_noon = datetime.combine(datetime.now().date(), time(12, 0))  # in this week's calendar
        meeting = self.env["calendar.event"].create(
            {
                "name": "Contract review",
                "user_id": self.alice.id,
                "start": today_noon,
                "stop": today_noon.replace(hour=13),
                "partner_ids": [(6, 0, [self.alice.partner_id.id, self.bob.partner_id.id, self.contact.id])],
            }
        )
        meeting.action_o365_confirm()
        self.run_push()
        [event] = self.emulator.state.events_raw(self.alice_upn)  # the ids the emulator's page takes

        with patch.object(common, "ChromeBrowser", TourBrowser):
            self.start_tour("/odoo/calendar", "o365_colleague_declines_in_odoo", login="bob_tour_answers", timeout=120)
        self.run_push()

        page = requests.get(
            f"{self.emulator.http_base_url}/_emulator/ui/event",
            params={"id": event["id"], "mailbox": self.alice_upn},
            timeout=10,
        )
        self.assertEqual(page.status_code, 200)
        bob_line = next(line for line in page.text.split("<tr>") if self.bob_upn in line)
        self.assertIn('class="pill declined"', bob_line, "Outlook's page shows Bob's answer")
