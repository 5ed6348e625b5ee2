"""The one Graph event reader (SPEC B2-B8, A5, A12, A14, A15, E5, E6), without Odoo records or HTTP."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from odoo.tests import BaseCase, tagged

from ..utils.graph_event import GraphEvent, mailbox_zone, parse_stamp, to_utc, unreadable, zone


def bound(text, time_zone="UTC"):
    return {"dateTime": text, "timeZone": time_zone}


@tagged("post_install", "-at_install")
class TestGraphEvent(BaseCase):
    def test_zone_table(self):
        """E5: one table for Windows and IANA names, any case; empty is UTC; unknown is None (the caller decides)."""
        self.assertEqual(zone("GMT Standard Time"), ZoneInfo("Europe/London"))
        self.assertEqual(zone("gmt standard time"), ZoneInfo("Europe/London"))
        self.assertEqual(zone("W. Europe Standard Time"), ZoneInfo("Europe/Berlin"))
        self.assertEqual(zone("Europe/Paris"), ZoneInfo("Europe/Paris"))
        self.assertEqual(zone("Coordinated Universal Time"), ZoneInfo("UTC"))
        self.assertIs(zone(""), UTC)
        self.assertIs(zone(None), UTC)
        self.assertIsNone(zone("Mars/Olympus"))
        self.assertIsNone(zone("../../etc/passwd"))
        # A mailbox's own zone never stops the sync: unknown reads as UTC.
        self.assertIs(mailbox_zone("Mars/Olympus"), UTC)

    def test_timestamps(self):
        """E5: Graph's seven-digit fractions, trailing Z, any zone of the table; to the second in UTC."""
        self.assertEqual(to_utc(bound("2030-03-31T09:00:00.0000000", "GMT Standard Time")), datetime(2030, 3, 31, 8))
        self.assertEqual(to_utc(bound("2030-01-15T09:00:00.9999999", "Europe/London")), datetime(2030, 1, 15, 9))
        self.assertEqual(to_utc(bound("2030-07-01T09:00:00", "W. Europe Standard Time")), datetime(2030, 7, 1, 7))
        self.assertIsNone(to_utc(None))
        self.assertIsNone(to_utc({"timeZone": "UTC"}))
        with self.assertRaisesRegex(ValueError, "unknown time zone"):
            to_utc(bound("2030-03-31T09:00:00", "Mars/Olympus"))
        with self.assertRaises(ValueError):
            to_utc(bound("2026-02-30T25:61:00.0000000"))
        self.assertEqual(parse_stamp("2030-01-02T10:00:00.1234567Z"), datetime(2030, 1, 2, 10, 0, 0, 123456))
        self.assertIsNone(parse_stamp("tomorrow"))
        self.assertIsNone(parse_stamp(None))

    def test_unreadable_names_the_bound(self):
        """E6, issue 8: the log line says which bound is broken and why; all-day bounds need no known zone."""
        good = {"start": bound("2030-03-01T09:00:00"), "end": bound("2030-03-01T10:00:00")}
        self.assertIsNone(unreadable(good))
        self.assertEqual(unreadable({**good, "start": None}), "it has no start")
        self.assertIn("its end 'not a date'", unreadable({**good, "end": bound("not a date", "Mars/Olympus")}))
        self.assertIn(
            "time zone 'Mars/Olympus'", unreadable({**good, "end": bound("2030-03-01T10:00:00", "Mars/Olympus")})
        )
        all_day = {"isAllDay": True, "start": bound("2030-03-01T00:00:00", "Mars/Olympus"), "end": good["end"]}
        self.assertIsNone(unreadable(all_day))

    def test_all_day_dates(self):
        """B6, A12, GRAPH_FACTS §1.3: exclusive end; a converted bound is brought back to the mailbox's day."""
        event = GraphEvent(
            {"isAllDay": True, "start": bound("2030-03-31T00:00:00.0000000"), "end": bound("2030-04-02T00:00:00")}
        )
        self.assertEqual(event.all_day_dates(), (date(2030, 3, 31), date(2030, 4, 1)))
        self.assertEqual(event.all_day_dates("Pacific/Auckland"), (date(2030, 3, 31), date(2030, 4, 1)))
        shifted = GraphEvent({"start": bound("2030-03-30T11:00:00"), "end": bound("2030-03-31T11:00:00")})
        self.assertEqual(shifted.all_day_dates("Pacific/Auckland"), (date(2030, 3, 31), date(2030, 3, 31)))

    def test_people_place_and_link(self):
        """B2, A12, A14, A15: normalised addresses once each, answers, the place, the Teams link."""
        event = GraphEvent(
            {
                "organizer": {"emailAddress": {"address": "Alice@Contoso.Example"}},
                "attendees": [
                    {"emailAddress": {"address": "Carol@Customer.Example"}, "status": {"response": "accepted"}},
                    {"emailAddress": {"address": "carol@customer.example"}},
                    {"emailAddress": {"address": "not an address"}, "status": {"response": "declined"}},
                    {"emailAddress": {}},
                ],
                "responseStatus": {"response": "tentativelyAccepted"},
                "location": {"displayName": "  "},
                "locations": [{"displayName": "Room 1"}, {"displayName": ""}, {"displayName": "Room 2"}],
                "onlineMeeting": {"joinUrl": "https://teams.example/join"},
            }
        )
        self.assertEqual(event.organizer, "alice@contoso.example")
        self.assertEqual(event.attendees, ("carol@customer.example",))
        self.assertEqual(event.attendee_answers, {"carol@customer.example": "accepted"})
        self.assertEqual(event.own_answer, "tentativelyAccepted")
        self.assertEqual(event.location, "Room 1, Room 2")
        self.assertEqual(event.online_meeting_url, "https://teams.example/join")
        self.assertEqual(GraphEvent({"onlineMeetingUrl": "https://x.example"}).online_meeting_url, "https://x.example")
        self.assertEqual(GraphEvent({"onlineMeeting": "odd"}).online_meeting_url, "")

    def test_kind_and_read_only(self):
        """B4, B5, E4: tombstones, cancellations, series and privacy; the reader never changes the event."""
        self.assertTrue(GraphEvent({"@removed": {"reason": "deleted"}}).is_removed)
        self.assertTrue(GraphEvent({"isCancelled": True}).is_cancelled)
        self.assertTrue(GraphEvent({"type": "occurrence"}).is_recurring)
        self.assertTrue(GraphEvent({"seriesMasterId": "m"}).is_recurring)
        self.assertFalse(GraphEvent({}).is_recurring)
        self.assertEqual(GraphEvent({"sensitivity": "Private"}).sensitivity, "private")
        data = {"id": "e1", "subject": "  Hi  "}
        event = GraphEvent(data)
        data["subject"] = "changed"
        self.assertEqual(event.subject, "Hi")
        with self.assertRaises(AttributeError):
            event.subject = "x"
        with self.assertRaises(TypeError):
            event._data["id"] = "e2"  # pylint: disable=protected-access
