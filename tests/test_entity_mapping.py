"""One mapper per entity, both directions (SPEC A1-A5, A10-A15, B8, C1), without Odoo records or HTTP."""

from datetime import date, datetime
from types import SimpleNamespace

from odoo.tests import BaseCase, tagged

from ..utils.mappers.activity import Contact, activity_changes, activity_event
from ..utils.mappers.leave import leave_event_payload, leave_subject
from ..utils.mappers.meeting import (
    Attendee,
    MeetingData,
    attendee_responses,
    meeting_event,
    meeting_subject,
    pushed_meeting_changes,
)


def bound(text, time_zone="UTC"):
    return {"dateTime": text, "timeZone": time_zone}


@tagged("post_install", "-at_install")
class TestActivityMapping(BaseCase):
    def test_to_graph(self):
        """A1-A3: the kind as subject prefix, a link back, the contact and sanitised notes, busy."""
        event = activity_event(
            "phonecall",
            "Follow up",
            datetime(2030, 3, 1, 9, 0, 0, 500),
            datetime(2030, 3, 1, 9, 30),
            "https://odoo.example/mail/view?model=res.partner&res_id=7",
            Contact(name="Jane <Buyer>", company="Acme", email="jane@acme.example"),
            "<p data-oe-id='3'>Bring <script>x()</script>the offer</p>",
        )
        self.assertEqual(event["subject"], "Phone Call: Follow up")
        self.assertEqual(event["start"], bound("2030-03-01T09:00:00"))
        self.assertEqual(event["showAs"], "busy")
        body = event["body"]["content"]
        self.assertIn("Contact: Jane &lt;Buyer&gt;<br/>", body)
        self.assertIn("res_id=7", body)
        self.assertNotIn("script", body)
        self.assertNotIn("data-oe-id", body)

    def test_from_graph(self):
        """A5: a move or resize in Outlook changes only the bounds that moved."""
        event = {"start": bound("2030-03-01T10:00:00.0000000"), "end": bound("2030-03-01T10:30:00.0000000")}
        current = datetime(2030, 3, 1, 9), datetime(2030, 3, 1, 10, 30)
        self.assertEqual(activity_changes(event, *current), {"o365_start": datetime(2030, 3, 1, 10)})
        self.assertEqual(activity_changes(event, datetime(2030, 3, 1, 10), current[1]), {})
        self.assertEqual(activity_changes({}, *current), {})


@tagged("post_install", "-at_install")
class TestMeetingMapping(BaseCase):
    def test_to_graph(self):
        """A10, A11, A14: subject with the company, all-day end exclusive, attendees, Teams."""
        self.assertEqual(meeting_subject("Kick-off", "Acme"), "Meeting: Kick-off - Acme")
        self.assertEqual(meeting_subject("Kick-off", ""), "Meeting: Kick-off")
        data = MeetingData(
            subject="Meeting: Kick-off",
            start=datetime(2030, 3, 1),
            end=datetime(2030, 3, 2),
            all_day=True,
            attendees=[Attendee("Jane", "jane@acme.example"), Attendee("", "", optional=True)],
            open_url="https://odoo.example/m/1",
            online=True,
        )
        event = meeting_event(data)
        self.assertEqual((event["start"], event["end"]), (bound("2030-03-01T00:00:00"), bound("2030-03-03T00:00:00")))
        self.assertEqual(
            event["attendees"], [{"emailAddress": {"address": "jane@acme.example", "name": "Jane"}, "type": "required"}]
        )
        self.assertTrue(event["isOnlineMeeting"])
        self.assertIn("Open in Odoo", event["body"]["content"])

    def test_pushed_meeting_changed_in_outlook(self):
        """A12, A14: time, place, Teams link and added attendees flow back; nothing when unchanged."""
        meeting = SimpleNamespace(
            allday=False,
            start=datetime(2030, 3, 1, 9),
            stop=datetime(2030, 3, 1, 10),
            start_date=None,
            stop_date=None,
            location="HQ",
            videocall_location=False,
        )
        same = {"start": bound("2030-03-01T09:00:00.0000000"), "end": bound("2030-03-01T10:00:00.0000000")}
        self.assertEqual(pushed_meeting_changes(same, meeting, {"jane@acme.example"}), ({}, set()))
        moved = {
            "start": bound("2030-03-01T11:00:00"),
            "end": bound("2030-03-01T12:00:00"),
            "location": {"displayName": "Room 7"},
            "attendees": [{"emailAddress": {"address": "Jane@Acme.Example"}}, {"emailAddress": {"address": "x@y.ex"}}],
            "onlineMeeting": {"joinUrl": "https://teams.example/j"},
        }
        values, added = pushed_meeting_changes(moved, meeting, {"jane@acme.example"})
        self.assertEqual(
            values,
            {
                "allday": False,
                "start": datetime(2030, 3, 1, 11),
                "stop": datetime(2030, 3, 1, 12),
                "location": "Room 7",
                "videocall_location": "https://teams.example/j",
            },
        )
        self.assertEqual(added, {"x@y.ex"})
        all_day = {"isAllDay": True, "start": bound("2030-03-04T00:00:00"), "end": bound("2030-03-06T00:00:00")}
        values, _added = pushed_meeting_changes(all_day, meeting, set())
        self.assertEqual(values, {"allday": True, "start_date": date(2030, 3, 4), "stop_date": date(2030, 3, 5)})

    def test_attendee_answers(self):
        """A15: the organiser's copy gives everyone's answer; an attendee's copy gives the owner's."""
        organizer_copy = {
            "isOrganizer": True,
            "attendees": [{"emailAddress": {"address": "Jane@Acme.Example"}, "status": {"response": "declined"}}],
            "responseStatus": {"response": "organizer"},
        }
        self.assertEqual(attendee_responses(organizer_copy, "alice@contoso.example"), {"jane@acme.example": "declined"})
        own_copy = {"isOrganizer": False, "responseStatus": {"response": "accepted"}}
        self.assertEqual(attendee_responses(own_copy, "Bob@Contoso.Example"), {"bob@contoso.example": "accepted"})


@tagged("post_install", "-at_install")
class TestLeaveMapping(BaseCase):
    def test_to_graph(self):
        """C1: whole days are all-day in the mailbox's zone (end exclusive); hours keep UTC; out of office."""
        self.assertEqual(leave_subject("Paid Time Off", "  "), "Paid Time Off")
        self.assertEqual(leave_subject("Paid Time Off", "Ski trip"), "Paid Time Off: Ski trip")
        days = leave_event_payload(
            subject="Paid Time Off",
            url="https://odoo.example/l/1",
            whole_days=True,
            first_day=date(2030, 3, 4),
            last_day=date(2030, 3, 5),
            start_utc=datetime(2030, 3, 4, 7),
            end_utc=datetime(2030, 3, 5, 16),
            time_zone="W. Europe Standard Time",
        )
        self.assertEqual(days["start"], bound("2030-03-04T00:00:00", "W. Europe Standard Time"))
        self.assertEqual(days["end"], bound("2030-03-06T00:00:00", "W. Europe Standard Time"))
        self.assertEqual((days["isAllDay"], days["showAs"], days["isReminderOn"]), (True, "oof", False))
        hours = leave_event_payload(
            subject="Paid Time Off",
            url="https://odoo.example/l/1",
            whole_days=False,
            first_day=date(2030, 3, 4),
            last_day=date(2030, 3, 4),
            start_utc=datetime(2030, 3, 4, 7, 30),
            end_utc=datetime(2030, 3, 4, 11),
            time_zone="W. Europe Standard Time",
        )
        self.assertEqual((hours["start"], hours["end"]), (bound("2030-03-04T07:30:00"), bound("2030-03-04T11:00:00")))
        self.assertFalse(hours["isAllDay"])
