from datetime import datetime

from odoo.tests import tagged

from .common import PushCase


@tagged("post_install", "-at_install")
class TestPushMeetings(PushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bob = cls._push_user("bob_meet")
        cls.bob_upn = cls.bob.email
        cls.other = cls.env["res.partner"].create(
            {"name": "Tom Other", "email": "tom@acme.example", "parent_id": cls.company.id}
        )

    def _meeting(self, **vals):
        return self.env["calendar.event"].create(
            {
                "name": "Quarterly review",
                "user_id": self.alice.id,
                "start": datetime(2031, 11, 3, 10, 0),
                "stop": datetime(2031, 11, 3, 11, 0),
                "location": "Acme HQ",
                "description": "<p>Agenda</p>",
                "partner_ids": [(6, 0, [self.alice.partner_id.id, self.bob.partner_id.id, self.contact.id])],
                **vals,
            }
        )

    def test_confirm_pushes_with_attendees_and_invitations(self):
        """A10, A13: only a confirmed meeting is pushed, to the organiser, with every attendee; Graph invites
        them; organiser and internal attendees get it in their to-do list."""
        meeting = self._meeting()
        self.run_push()
        self.assertEqual(self.mailbox_events(self.alice_upn), [], "not before Confirm")
        meeting.action_o365_confirm()
        self.run_push()
        [event] = self.mailbox_events(self.alice_upn, subject="Meeting: Quarterly review - Acme Ltd")
        self.assertEqual(event["location"]["displayName"], "Acme HQ")
        self.assertIn("Agenda", event["body"]["content"])
        self.assertEqual(
            {a["emailAddress"]["address"] for a in event["attendees"]}, {self.bob_upn, "jane@acme.example"}
        )
        self.assertTrue(self.emulator.state.list_invitations(attendee="jane@acme.example", kind="request"))
        self.assertTrue(self.emulator.state.list_invitations(attendee=self.bob_upn, kind="request"))
        self.assertTrue(self.mailbox_events(self.bob_upn, ical_uid=event["iCalUId"]), "copy in bob's calendar")
        self.assertEqual(set(meeting.activity_ids.user_id.ids), {self.alice.id, self.bob.id})

    def test_erp_edits_update_confirmed_meeting(self):
        """A11: subject, location, description, times and attendee changes update the event; Graph sends
        invitations and cancellations."""
        meeting = self._meeting()
        meeting.action_o365_confirm()
        self.run_push()
        self.emulator.state.clear_invitations()
        meeting.write(
            {
                "name": "Annual review",
                "location": "Online",
                "description": "<p>New agenda</p>",
                "start": datetime(2031, 11, 4, 14, 0),
                "stop": datetime(2031, 11, 4, 15, 30),
                "partner_ids": [(3, self.contact.id), (4, self.other.id)],
            }
        )
        self.run_push()
        [event] = self.mailbox_events(self.alice_upn)
        self.assertEqual(event["subject"], "Meeting: Annual review - Acme Ltd")
        self.assertEqual(event["location"]["displayName"], "Online")
        self.assertIn("New agenda", event["body"]["content"])
        self.assertTrue(event["start"]["dateTime"].startswith("2031-11-04T14:00:00"))
        self.assertTrue(event["end"]["dateTime"].startswith("2031-11-04T15:30:00"))
        self.assertTrue(self.emulator.state.list_invitations(attendee="tom@acme.example", kind="request"))
        self.assertTrue(self.emulator.state.list_invitations(attendee="jane@acme.example", kind="cancel"))

        meeting.unlink()
        self.run_push()
        self.assertEqual(self.mailbox_events(self.alice_upn), [], "A7/A11: a removed meeting is cancelled")

    def test_outlook_edits_flow_back_partly(self):
        """A12, E4: start, end, location and added attendees come back; subject and notes do not."""
        meeting = self._meeting()
        meeting.action_o365_confirm()
        self.run_push()
        link = self.link_of(meeting, self.alice)
        [event] = self.mailbox_events(self.alice_upn)
        attendees = [*event["attendees"], {"emailAddress": {"address": "tom@acme.example"}, "type": "required"}]
        answer = self.outlook(self.alice_upn).patch(
            f"{self.emulator.graph_url}/me/events/{link.graph_event_id}",
            json={
                "subject": "Changed in Outlook",
                "body": {"contentType": "html", "content": "Outlook notes"},
                "location": {"displayName": "Room 2"},
                "start": {"dateTime": "2031-11-05T09:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2031-11-05T10:00:00", "timeZone": "UTC"},
                "attendees": attendees,
            },
            timeout=10,
            verify=self.emulator.ca_path,
        )
        self.assertEqual(answer.status_code, 200, answer.text)
        meeting._o365_apply_outlook_change(link, answer.json())
        self.env.flush_all()
        self.assertEqual(meeting.start, datetime(2031, 11, 5, 9, 0))
        self.assertEqual(meeting.stop, datetime(2031, 11, 5, 10, 0))
        self.assertEqual(meeting.location, "Room 2")
        self.assertIn(self.other, meeting.partner_ids)
        self.assertEqual(meeting.name, "Quarterly review")
        self.assertNotIn("Outlook notes", meeting.description)
        self.assertFalse(self.queue_rows(meeting), "E4: not pushed back")

    def test_outlook_logged_meeting_edited_in_odoo(self):
        """B10 (Odoo to Outlook): a meeting logged from the organiser's Outlook is updated there, no prefix."""
        answer = self.outlook(self.alice_upn).post(
            f"{self.emulator.graph_url}/me/events",
            json={
                "subject": "Lunch",
                "start": {"dateTime": "2031-12-01T12:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2031-12-01T13:00:00", "timeZone": "UTC"},
                "attendees": [{"emailAddress": {"address": "jane@acme.example"}, "type": "required"}],
            },
            timeout=10,
            verify=self.emulator.ca_path,
        )
        event = answer.json()
        meeting = self.env["calendar.event"].create(
            {
                "name": "Lunch",
                "user_id": self.alice.id,
                "start": datetime(2031, 12, 1, 12, 0),
                "stop": datetime(2031, 12, 1, 13, 0),
                "partner_ids": [(6, 0, [self.alice.partner_id.id, self.contact.id])],
            }
        )
        self.env["o365.event.link"].create(
            {
                "account_id": self._account(self.alice).id,
                "res_model": "calendar.event",
                "res_id": meeting.id,
                "graph_event_id": event["id"],
                "change_key": event["changeKey"],
                "origin": "outlook",
            }
        )
        meeting.write({"location": "Bistro", "name": "Lunch with Jane"})
        self.run_push()
        [stored] = self.mailbox_events(self.alice_upn)
        self.assertEqual(stored["subject"], "Lunch with Jane")
        self.assertEqual(stored["location"]["displayName"], "Bistro")
        self.assertEqual(self.link_of(meeting, self.alice).change_key, stored["changeKey"], "E4")


class TestPushMeetingsOrganization(TestPushMeetings):
    """O2: the same tests, with the mailboxes connected by the organisation's application."""

    connection_mode = "organization"
