"""B10 from Odoo's side: edits of a meeting logged from Outlook (issue 22).

The syncing user organises it in Outlook: Odoo's edits update the Outlook event (times in
its own zone, only what changed, attendees added and removed). Someone else organises it
(a customer's invitation): its time, attendees and description are read-only in Odoo, with
one line saying who organises it. Driven through JSON-RPC as the form does.
"""

from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tests.common import JsonRpcException

from ..engine import pusher
from .common import CUSTOMER, ButtonsMixin, PullCase, attendee, graph_time, in_days


@tagged("post_install", "-at_install")
class TestLoggedMeetingEdits(ButtonsMixin, PullCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls._connected_user("alice_b10", tz="Europe/London")
        cls.alice_upn = cls.alice.email

    def setUp(self):
        self.drop_held_notifications()
        super().setUp()
        self.authenticate("alice_b10", "alice_b10")

    def run_push(self):
        self.env.flush_all()
        stats = pusher.push_due(self.env)
        self.env.invalidate_all()
        return stats

    def invitations(self, address, kind=None):
        return self.emulator.state.list_invitations(attendee=address, kind=kind)

    def save(self, meeting, values):
        self.call("calendar.event", "web_save", [[meeting.id], values], specification={})
        self.env.invalidate_all()

    def read_meeting(self, meeting, *names):
        [values] = self.call("calendar.event", "read", [[meeting.id], list(names)])
        return values

    def _booked_by_alice(self):
        """Alice books a meeting with Carol (and someone Odoo has no contact for) at 15:00 London time."""
        start = in_days(6, hour=15)
        ev = self.outlook_create(
            self.alice_upn,
            "Pricing call",
            start=start,
            attendees=[f"carol@{CUSTOMER}", "stranger@elsewhere.example"],
            body={"contentType": "html", "content": "<p>Prices</p>"},
        )
        ev = self.outlook_update(
            self.alice_upn,
            ev["id"],
            {
                "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "Europe/London"},
                "end": {
                    "dateTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
                    "timeZone": "Europe/London",
                },
            },
        )
        self.run_pull_cron()
        [meeting] = self.logged_meetings("Pricing call")
        self.emulator.state.clear_invitations()
        return meeting, ev

    def _outlook(self, ev):
        """Alice's event as Graph answers (times in UTC, without a Prefer header)."""
        return self.outlook_post(self.alice_upn, f"/me/events/{ev['id']}", method="GET")

    def test_organiser_edits_in_odoo_update_the_outlook_meeting(self):
        """B10, E4, E5: Alice organised the meeting in Outlook; moving it from 15:00 to 16:00 and editing its
        description in Odoo's form update her Outlook event (same time zone, Outlook tells the customer), the
        badge waits until then and says On Outlook after; adding Dave and removing Carol in Odoo invites Dave and
        cancels for Carol, and the attendee Odoo has no contact for stays; reading it back changes nothing."""
        meeting, ev = self._booked_by_alice()
        note = self.read_meeting(meeting, "o365_outlook_note", "o365_outlook_readonly")
        self.assertFalse(note["o365_outlook_readonly"])
        self.assertIn("Booked in Outlook by Alice B10, who organises it", note["o365_outlook_note"])

        moved = meeting.start + timedelta(hours=1)
        self.save(
            meeting,
            {
                "start": moved.strftime("%Y-%m-%d %H:%M:%S"),
                "stop": (moved + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S"),
                "description": "<p>Prices for next year</p>",
            },
        )
        self.assertEqual(
            self.read_meeting(meeting, "o365_sync_status")["o365_sync_status"], "waiting", "never green before"
        )
        self.run_push()
        event = self._outlook(ev)
        self.assertEqual(event["originalStartTimeZone"], "Europe/London", "E5: not re-zoned")
        self.assertEqual(event["start"]["dateTime"][:16], moved.strftime("%Y-%m-%dT%H:%M"), "one hour later")
        self.assertIn("Prices for next year", event["body"]["content"])
        self.assertEqual(self.read_meeting(meeting, "o365_sync_status")["o365_sync_status"], "synced")
        self.assertTrue(self.invitations(f"carol@{CUSTOMER}"), "Outlook tells the customer about the new time")

        self.emulator.state.clear_invitations()
        self.save(meeting, {"partner_ids": [(3, self.carol.id), (4, self.dave.id)]})
        self.run_push()
        event = self._outlook(ev)
        self.assertEqual(
            {a["emailAddress"]["address"] for a in event["attendees"]},
            {f"dave@{CUSTOMER}", "stranger@elsewhere.example"},
        )
        self.assertTrue(self.invitations(f"dave@{CUSTOMER}", "request"))
        self.assertTrue(self.invitations(f"carol@{CUSTOMER}", "cancel"))
        self.assertFalse(self.invitations("stranger@elsewhere.example"), "only those added or removed are mailed")

        written = meeting.write_date
        self.run_pull_cron()
        self.assertFalse(self.env["o365.push.queue"].sudo().search([("res_id", "=", meeting.id)]), "E4")
        self.assertEqual(meeting.write_date, written, "E4: nothing written back")

    def test_someone_elses_meeting_is_read_only_where_outlook_owns_it(self):
        """B10, B9: a customer invites Alice; the logged meeting says in one line who organises it, refuses a
        new time, attendees or description from Odoo (nothing reaches Outlook, no green badge on a different
        event), and still takes a new location."""
        start = in_days(4, hour=11)
        with self.emulator.state.act_as(self.alice_upn) as outlook:
            outlook.receive_invitation(
                {"name": "Carol Client", "address": f"carol@{CUSTOMER}"},
                {
                    "subject": "Carol's demo",
                    "start": graph_time(start),
                    "end": graph_time(start + timedelta(minutes=30)),
                    "attendees": [attendee(self.alice_upn)],
                },
            )
        self.run_pull_cron()
        [meeting] = self.logged_meetings("Carol's demo")
        note = self.read_meeting(meeting, "o365_outlook_note", "o365_outlook_readonly")
        self.assertTrue(note["o365_outlook_readonly"])
        self.assertEqual(
            note["o365_outlook_note"],
            f"Booked in Outlook by carol@{CUSTOMER}, who organises it: its time, attendees and description can "
            "only be changed in their Outlook, and Odoo follows.",
        )
        moved = meeting.start + timedelta(hours=2)
        for values in (
            {
                "start": moved.strftime("%Y-%m-%d %H:%M:%S"),
                "stop": (moved + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S"),
            },
            {"description": "<p>Changed in Odoo</p>"},
            {"partner_ids": [(4, self.dave.id)]},
        ):
            with self.assertRaisesRegex(JsonRpcException, "UserError"):
                self.save(meeting, values)
            with self.assertRaisesRegex(UserError, "only be changed in their Outlook"):
                meeting.with_user(self.alice).write(values)
        self.assertEqual(meeting.start, start)
        self.save(meeting, {"location": "Customer Ltd, room 3"})
        self.run_push()
        [event] = self.mailbox_events(self.alice_upn, subject="Carol's demo")
        self.assertEqual(event["location"]["displayName"], "Customer Ltd, room 3")
        self.assertEqual(event["start"]["dateTime"][:16], start.strftime("%Y-%m-%dT%H:%M"))
        self.assertEqual(self.read_meeting(meeting, "o365_sync_status")["o365_sync_status"], "synced")

    def _customers_past_meeting(self, subject):
        """Carol invited Alice to a meeting that ended an hour ago; the pull logged it with Alice's to-do."""
        start = fields.Datetime.now().replace(microsecond=0) - timedelta(hours=2)
        with self.emulator.state.act_as(self.alice_upn) as outlook:
            outlook.receive_invitation(
                {"name": "Carol Client", "address": f"carol@{CUSTOMER}"},
                {
                    "subject": subject,
                    "start": graph_time(start),
                    "end": graph_time(start + timedelta(hours=1)),
                    "body": {"contentType": "html", "content": "<p>Carol's agenda</p>"},
                    "attendees": [attendee(self.alice_upn)],
                },
            )
        self.run_pull_cron()
        [meeting] = self.logged_meetings(subject)
        self.assertTrue(meeting.o365_outlook_readonly)
        [todo] = meeting.activity_ids.filtered(lambda activity: activity.user_id == self.alice)
        return meeting, todo

    def test_done_to_do_of_a_customers_meeting_keeps_its_body(self):
        """B13, B10, A7: Alice marks done, with feedback, the to-do of a meeting a customer organised, and the
        auto-close job closes another one's. Odoo's calendar would append the feedback to the meeting's
        description, which is the organiser's: both close without an error, the feedback is on the contact's
        timeline, the description stays Carol's and nothing is queued for Outlook."""
        meeting, todo = self._customers_past_meeting("Carol's review")
        self.call("mail.activity", "action_feedback", [[todo.id]], feedback="Agreed on the prices")
        self.env.invalidate_all()
        self.assertFalse(todo.exists(), "done")
        self.assertIn("Carol's agenda", meeting.description)
        self.assertNotIn("Agreed on the prices", meeting.description)
        self.assertTrue(self.carol.message_ids.filtered(lambda m: "Agreed on the prices" in (m.body or "")))

        other, _todo = self._customers_past_meeting("Carol's workshop")
        self.assertGreaterEqual(self.env["calendar.event"]._cron_close_ended_meetings(), 1)
        self.assertFalse(other.activity_ids, "B13: closed by the job")
        self.assertIn("Carol's agenda", other.description)
        queued = self.env["o365.push.queue"].sudo().search([("res_model", "=", "calendar.event")])
        self.assertFalse(queued.filtered(lambda item: item.res_id in (meeting | other).ids), "nothing for Outlook")
