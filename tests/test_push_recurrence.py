"""Recurring meetings made in Odoo reach Outlook as ONE series (SPEC A16, issue 25)."""

from datetime import date, datetime

from graph_emulator.events import to_immutable
from odoo.exceptions import UserError
from odoo.tests import tagged

from ..engine import importer
from ..utils.mappers import recurrence as rec_mapper
from .common import PushCase, attendee

WINDOW = ("2030-01-01T00:00:00", "2040-01-01T00:00:00")


@tagged("post_install", "-at_install")
class TestPushRecurrence(PushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bob = cls._push_user("bob_rec")
        cls.bob_upn = cls.bob.email
        cls.alice.tz = "Europe/London"

    def _series(self, start=datetime(2031, 11, 4, 9, 0), hours=1, **rule):
        """A recurring meeting of alice with bob and the customer (a Tuesday, 09:00 UTC = 09:00 London)."""
        values = {
            "rrule_type": "weekly",
            "tue": True,
            "end_type": "count",
            "count": 6,
            "event_tz": "Europe/London",
            **rule,
        }
        meeting = self.env["calendar.event"].create(
            {
                "name": "Account review",
                "user_id": self.alice.id,
                "start": start,
                "stop": start.replace(hour=start.hour + hours),
                "location": "Acme HQ",
                "partner_ids": [(6, 0, [self.alice.partner_id.id, self.bob.partner_id.id, self.contact.id])],
                "recurrency": True,
                **values,
            }
        )
        self.assertTrue(meeting.recurrence_id, "Odoo made a recurrence")
        return meeting

    def _occurrences(self, recurrence):
        return recurrence.calendar_event_ids.filtered("active").sorted("start")

    def _outlook_view(self, upn=None):
        """The organiser's calendar view (occurrences and exceptions, no masters) as Outlook shows it."""
        return self.emulator.state.calendar_view(upn or self.alice_upn, *WINDOW)

    def _masters(self, upn=None):
        return [e for e in self.mailbox_events(upn or self.alice_upn) if e["type"] == "seriesMaster"]

    def _starts(self, events):
        return [e["start"]["dateTime"][:16] for e in events]

    def _odoo_starts(self, recurrence):
        return [m.start.strftime("%Y-%m-%dT%H:%M") for m in self._occurrences(recurrence)]

    def test_confirm_makes_one_series_one_invitation(self):
        """A16, A10, A14: a weekly meeting of 6 Tuesdays, confirmed from one occurrence, is ONE series in the
        organiser's Outlook whose occurrences match Odoo's one for one; each attendee gets ONE invitation; every
        Odoo occurrence says 'On Outlook'."""
        meeting = self._series()
        recurrence = meeting.recurrence_id
        self.assertEqual(len(self._occurrences(recurrence)), 6)
        self._occurrences(recurrence)[2].action_o365_confirm()
        self.assertTrue(all(self._occurrences(recurrence).mapped("o365_confirmed")), "the whole series is confirmed")
        self.run_push()
        [master] = self._masters()
        self.assertEqual(len(self.mailbox_events(self.alice_upn)), 1, "no single events beside the series")
        self.assertEqual(master["subject"], "Meeting: Account review - Acme Ltd")
        pattern, rng = master["recurrence"]["pattern"], master["recurrence"]["range"]
        self.assertEqual((pattern["type"], pattern["daysOfWeek"], pattern["interval"]), ("weekly", ["tuesday"], 1))
        self.assertEqual((rng["type"], rng["numberOfOccurrences"], rng["startDate"]), ("numbered", 6, "2031-11-04"))
        self.assertEqual(rng["recurrenceTimeZone"], "Europe/London", "A16 item 6: the organiser's zone, not UTC")
        self.assertEqual(master["originalStartTimeZone"], "Europe/London")
        self.assertEqual(self._starts(self._outlook_view()), self._odoo_starts(recurrence))
        for upn in ("jane@acme.example", self.bob_upn):
            self.assertEqual(len(self.emulator.state.list_invitations(attendee=upn)), 1, f"one invitation: {upn}")
            self.assertEqual(len(self.emulator.state.list_invitations(attendee=upn, kind="request")), 1)
        self.assertEqual(len(self._masters(self.bob_upn)), 1, "bob's copy is the series too")
        link = self.link_of(recurrence, self.alice)
        self.assertEqual(link.graph_event_id, master["id"])
        self.assertEqual(set(self._occurrences(recurrence).mapped("o365_sync_status")), {"synced"})
        self.assertFalse(self.queue_rows(), "nothing left to push")
        # Confirming again (another occurrence) sends nothing twice.
        self._occurrences(recurrence)[0].action_o365_confirm()
        self.assertFalse(self.queue_rows())

    def test_patterns_and_ranges_match_odoo(self):
        """A16: daily with an interval, weekly on several days, monthly by date, monthly on the last weekday,
        yearly; a count, an end date and no end: Outlook's occurrences are Odoo's (first 10 for no end)."""
        cases = [
            (
                {"rrule_type": "daily", "interval": 2, "count": 5},
                {"type": "daily", "interval": 2},
                {"type": "numbered", "numberOfOccurrences": 5},
            ),
            (
                {
                    "rrule_type": "weekly",
                    "mon": True,
                    "thu": True,
                    "end_type": "end_date",
                    "until": date(2031, 12, 4),
                    "start": datetime(2031, 11, 6, 9, 0),
                },
                {"type": "weekly", "daysOfWeek": ["monday", "thursday"]},
                {"type": "endDate", "endDate": "2031-12-04"},
            ),
            (
                {"rrule_type": "monthly", "month_by": "date", "day": 4, "count": 4},
                {"type": "absoluteMonthly", "dayOfMonth": 4},
                {"type": "numbered", "numberOfOccurrences": 4},
            ),
            (
                {
                    "rrule_type": "monthly",
                    "month_by": "day",
                    "byday": "-1",
                    "weekday": "FRI",
                    "count": 5,
                    "start": datetime(2031, 11, 28, 9, 0),
                },
                {"type": "relativeMonthly", "daysOfWeek": ["friday"], "index": "last"},
                {"type": "numbered", "numberOfOccurrences": 5},
            ),
            (
                {"rrule_type": "yearly", "end_type": "end_date", "until": date(2034, 12, 31)},
                {"type": "absoluteYearly", "month": 11, "dayOfMonth": 4},
                {"type": "endDate", "endDate": "2034-12-31"},
            ),
            (
                {
                    "rrule_type": "monthly",
                    "month_by": "day",
                    "byday": "2",
                    "weekday": "TUE",
                    "end_type": "forever",
                    "start": datetime(2031, 11, 11, 9, 0),
                },
                {"type": "relativeMonthly", "daysOfWeek": ["tuesday"], "index": "second"},
                # Odoo 18 stores "forever" as its rrule reads back: 720 repetitions (MAX_RECURRENT_EVENT),
                # so Outlook gets exactly Odoo's 720 (a rule still saying "forever" maps to noEnd: below).
                {"type": "numbered", "numberOfOccurrences": 720},
            ),
        ]
        for rule, want_pattern, want_range in cases:
            with self.subTest(rule=rule):
                self._clear()
                rule = {"tue": False, **rule}
                meeting = self._series(**rule)
                recurrence = meeting.recurrence_id
                meeting.action_o365_confirm()
                self.run_push()
                [master] = self._masters()
                pattern, rng = master["recurrence"]["pattern"], master["recurrence"]["range"]
                self.assertEqual({k: pattern[k] for k in want_pattern}, want_pattern)
                self.assertEqual({k: rng[k] for k in want_range}, want_range)
                outlook, odoo = self._starts(self._outlook_view()), self._odoo_starts(recurrence)
                if len(odoo) > 100:
                    self.assertEqual(outlook[:10], odoo[:10])
                else:
                    self.assertEqual(outlook, odoo)
                self.assertEqual(len(self.emulator.state.list_invitations(attendee="jane@acme.example")), 1)
                recurrence.calendar_event_ids.unlink()
                self.env["o365.push.queue"].sudo().search([]).unlink()

    def test_rule_mapping_no_end_and_week_start(self):
        """A16: a rule still saying "forever" is Outlook's noEnd; weeks start on the language's first day, so a
        fortnightly rule counts its weeks as Odoo does; monthly on the 31st and yearly on 29 February are not
        expressible (A16 item 5)."""
        rule = rec_mapper.RuleData(
            rrule_type="weekly",
            first_date=date(2031, 11, 4),
            interval=2,
            end_type="forever",
            weekdays=["tue", "fri"],
            week_start=6,
            zone="Europe/London",
        )
        self.assertEqual(
            rec_mapper.series_recurrence(rule),
            {
                "pattern": {
                    "interval": 2,
                    "type": "weekly",
                    "daysOfWeek": ["tuesday", "friday"],
                    "firstDayOfWeek": "sunday",
                },
                "range": {"startDate": "2031-11-04", "recurrenceTimeZone": "Europe/London", "type": "noEnd"},
            },
        )
        late = rec_mapper.RuleData(rrule_type="monthly", first_date=date(2031, 10, 31), day=31)
        self.assertEqual(rec_mapper.inexpressible(late), [rec_mapper.DAY_OF_MONTH_TOO_LATE])
        leap = rec_mapper.RuleData(rrule_type="yearly", first_date=date(2032, 2, 29))
        self.assertEqual(rec_mapper.inexpressible(leap), [rec_mapper.LEAP_DAY_YEARLY])
        with self.assertRaises(rec_mapper.Inexpressible):
            rec_mapper.series_recurrence(leap)

    def _clear(self):
        state = self.emulator.state
        with state.lock:
            for mailbox in state.mailboxes.values():
                mailbox.events.clear()
            state.invitations.clear()

    def test_daylight_saving_keeps_local_time(self):
        """A16 item 6, E5: a weekly 09:00 London meeting across the end of British Summer Time stays at 09:00
        London in Outlook, as in Odoo (08:00 UTC in summer, 09:00 UTC in winter)."""
        meeting = self._series(start=datetime(2031, 10, 14, 8, 0), count=4)
        recurrence = meeting.recurrence_id
        meeting.action_o365_confirm()
        self.run_push()
        view = self.emulator.state.calendar_view(self.alice_upn, *WINDOW, prefs={"timezone": "Europe/London"})
        self.assertEqual({e["start"]["dateTime"][11:16] for e in view}, {"09:00"})
        self.assertEqual(self._starts(self._outlook_view()), self._odoo_starts(recurrence))
        self.assertEqual(
            self._odoo_starts(recurrence),
            ["2031-10-14T08:00", "2031-10-21T08:00", "2031-10-28T09:00", "2031-11-04T09:00"],
        )

    def test_rule_outlook_cannot_hold_is_refused(self):
        """A16 item 5: monthly on the 31st (Odoo skips short months, Outlook does not) is refused at Confirm with
        a plain message naming the part; nothing is queued or confirmed."""
        meeting = self._series(
            start=datetime(2031, 10, 31, 9, 0), tue=False, rrule_type="monthly", month_by="date", day=31, count=3
        )
        with self.assertRaisesRegex(UserError, "29th, 30th or 31st"):
            meeting.action_o365_confirm()
        self.assertFalse(self.queue_rows())
        self.assertFalse(any(meeting.recurrence_id.calendar_event_ids.mapped("o365_confirmed")))

    def test_rule_change_changes_range_not_series(self):
        """A16: the rule changed in Odoo (6 -> 4 occurrences, all events) changes the series' range: the same
        series, 4 occurrences, one update per attendee, no cancellation and no new invitation."""
        meeting = self._series()
        meeting.action_o365_confirm()
        self.run_push()
        [master] = self._masters()
        self.emulator.state.clear_invitations()
        meeting.write({"count": 4, "recurrence_update": "all_events"})
        recurrence = meeting.recurrence_id
        self.assertEqual(len(self._occurrences(recurrence)), 4)
        self.run_push()
        [after] = self._masters()
        self.assertEqual(after["id"], master["id"], "the same series")
        self.assertEqual(after["recurrence"]["range"]["numberOfOccurrences"], 4)
        self.assertEqual(self._starts(self._outlook_view()), self._odoo_starts(recurrence))
        invitations = self.emulator.state.list_invitations(attendee="jane@acme.example")
        self.assertEqual([i["kind"] for i in invitations], ["update"])
        self.assertEqual(self.link_of(recurrence, self.alice).graph_event_id, master["id"])

    def test_all_events_edit_changes_master(self):
        """A16: "all events" (location) changes the master: one update per attendee, the same series."""
        meeting = self._series()
        meeting.action_o365_confirm()
        self.run_push()
        [master] = self._masters()
        self.emulator.state.clear_invitations()
        meeting.write({"location": "Room 7", "recurrence_update": "all_events"})
        self.run_push()
        [after] = self._masters()
        self.assertEqual(after["id"], master["id"])
        self.assertEqual(after["location"]["displayName"], "Room 7")
        self.assertEqual(len(self._outlook_view()), 6)
        self.assertEqual(
            [i["kind"] for i in self.emulator.state.list_invitations(attendee="jane@acme.example")], ["update"]
        )

    def test_this_and_following_splits_series(self):
        """A16: "this and following events" from the 4th occurrence, moved to 14:00: the old series ends the day
        before, a new series of 3 starts there at the new time; Outlook's occurrences are Odoo's."""
        meeting = self._series()
        recurrence = meeting.recurrence_id
        meeting.action_o365_confirm()
        self.run_push()
        [old_master] = self._masters()
        fourth = self._occurrences(recurrence)[3]
        fourth.write(
            {
                "start": datetime(2031, 11, 25, 14, 0),
                "stop": datetime(2031, 11, 25, 15, 0),
                "recurrence_update": "future_events",
            }
        )
        self.run_push()
        masters = self._masters()
        self.assertEqual(len(masters), 2, "the old series and a new one")
        old = next(m for m in masters if m["id"] == old_master["id"])
        new = next(m for m in masters if m["id"] != old_master["id"])
        self.assertEqual(old["recurrence"]["range"]["type"], "endDate")
        # Odoo ends the old rule at the start of the split's week, less a day: no date of the old series is lost.
        self.assertTrue("2031-11-18" <= old["recurrence"]["range"]["endDate"] < "2031-11-25")
        self.assertEqual(new["recurrence"]["range"]["startDate"], "2031-11-25")
        events = self.env["calendar.event"].search(
            [("id", "in", (recurrence | fourth.recurrence_id).calendar_event_ids.ids)]
        )
        odoo = sorted(m.start.strftime("%Y-%m-%dT%H:%M") for m in events)
        self.assertEqual(self._starts(self._outlook_view()), odoo)
        self.assertEqual(odoo[3:], ["2031-11-25T14:00", "2031-12-02T14:00", "2031-12-09T14:00"])
        self.assertEqual(self.link_of(fourth.recurrence_id, self.alice).graph_event_id, new["id"])

    def test_delete_series_removes_it(self):
        """A16: deleting the series in Odoo ("all events") deletes it in Outlook: one cancellation each."""
        meeting = self._series()
        meeting.action_o365_confirm()
        self.run_push()
        self.emulator.state.clear_invitations()
        meeting.action_mass_deletion("all_events")
        self.run_push()
        self.assertEqual(self.mailbox_events(self.alice_upn), [])
        self.assertEqual(
            [i["kind"] for i in self.emulator.state.list_invitations(attendee="jane@acme.example")], ["cancel"]
        )

    def test_this_event_makes_an_exception(self):
        """A16: "this event" (time and location of the 3rd occurrence) makes that Outlook occurrence an exception
        of the same series; the other dates are untouched; each attendee gets one update (for that date), no
        update of the whole series."""
        meeting = self._series()
        recurrence = meeting.recurrence_id
        meeting.action_o365_confirm()
        self.run_push()
        [master] = self._masters()
        self.emulator.state.clear_invitations()
        third = self._occurrences(recurrence)[2]
        third.write(
            {
                "start": datetime(2031, 11, 18, 11, 0),
                "stop": datetime(2031, 11, 18, 12, 0),
                "location": "Room 3",
                "recurrence_update": "self_only",
            }
        )
        self.assertEqual(third.recurrence_id, recurrence, "still an occurrence of the series in Odoo")
        self.run_push()
        self.assertFalse(self.queue_rows(), "pushed")
        [after] = self._masters()
        self.assertEqual(after["id"], master["id"], "the same series")
        view = self._outlook_view()
        self.assertEqual(self._starts(view), self._odoo_starts(recurrence))
        [exception] = [e for e in view if e["type"] == "exception"]
        self.assertEqual(exception["location"]["displayName"], "Room 3")
        self.assertEqual(exception["start"]["dateTime"][:16], "2031-11-18T11:00")
        self.assertEqual({e["location"]["displayName"] for e in view if e["type"] == "occurrence"}, {"Acme HQ"})
        for upn in ("jane@acme.example", self.bob_upn):
            invitations = self.emulator.state.list_invitations(attendee=upn)
            self.assertEqual([i["kind"] for i in invitations], ["update"], upn)
            self.assertEqual(invitations[0]["eventId"], exception["id"], "an update of that date only")
        self.assertEqual(self.link_of(third, self.alice).graph_event_id, to_immutable(exception["id"]))
        self.assertEqual(third.o365_sync_status, "synced")

        # A12 per occurrence: Outlook moves that occurrence; it comes back to that Odoo occurrence only.
        link = self.link_of(third, self.alice)
        answer = self.outlook(self.alice_upn).patch(
            f"{self.emulator.graph_url}/me/events/{link.graph_event_id}",
            json={
                "start": {"dateTime": "2031-11-18T15:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2031-11-18T16:00:00", "timeZone": "UTC"},
            },
            timeout=10,
        )
        self.assertEqual(answer.status_code, 200, answer.text)
        third._o365_apply_outlook_change(link, answer.json())
        self.env.flush_all()
        self.assertEqual(third.start, datetime(2031, 11, 18, 15, 0))
        self.assertEqual(self._occurrences(recurrence)[3].start, datetime(2031, 11, 25, 9, 0), "others untouched")
        self.assertFalse(self.queue_rows(), "E4: not pushed back")

        # "All events" then: the series changes (one update for it plus one for the edited date, GRAPH_FACTS §11), and
        # the edited date gets Odoo's new values too (Outlook keeps an exception's own): one more update.
        self.emulator.state.clear_invitations()
        meeting.write({"name": "Account review (new agenda)", "recurrence_update": "all_events"})
        self.run_push()
        [after] = self._masters()
        self.assertEqual(after["subject"], "Meeting: Account review (new agenda) - Acme Ltd")
        view = self._outlook_view()
        self.assertEqual(len([e for e in view if e["type"] == "exception"]), 1, "exception kept")
        self.assertEqual({e["subject"] for e in view}, {"Meeting: Account review (new agenda) - Acme Ltd"})
        self.assertEqual(self._starts(view), self._odoo_starts(recurrence))
        kinds = [i["kind"] for i in self.emulator.state.list_invitations(attendee="jane@acme.example")]
        self.assertEqual(kinds, ["update", "update", "update"])
        self.assertNotIn("request", kinds)

    def test_delete_one_occurrence_cancels_that_date(self):
        """A16: deleting one occurrence in Odoo cancels that date only: one cancellation per attendee, the series
        stays with its other dates (the master lists the date in cancelledOccurrences)."""
        meeting = self._series()
        recurrence = meeting.recurrence_id
        meeting.action_o365_confirm()
        self.run_push()
        self.emulator.state.clear_invitations()
        self._occurrences(recurrence)[3].unlink()
        self.run_push()
        self.assertFalse(self.queue_rows())
        [master] = self._masters()
        self.assertEqual(len(master["cancelledOccurrences"]), 1)
        self.assertTrue(master["cancelledOccurrences"][0].endswith(".2031-11-25"))
        self.assertEqual(self._starts(self._outlook_view()), self._odoo_starts(recurrence))
        self.assertEqual(len(self._outlook_view()), 5)
        for upn in ("jane@acme.example", self.bob_upn):
            self.assertEqual([i["kind"] for i in self.emulator.state.list_invitations(attendee=upn)], ["cancel"])

    def test_archive_occurrence_then_series(self):
        """A16: archiving one occurrence ("this event") cancels that date; archiving all of them removes the
        series."""
        meeting = self._series(count=3)
        recurrence = meeting.recurrence_id
        meeting.action_o365_confirm()
        self.run_push()
        self._occurrences(recurrence)[1].action_mass_archive("self_only")
        self.run_push()
        self.assertEqual(len(self._outlook_view()), 2)
        self.assertEqual(self._starts(self._outlook_view()), self._odoo_starts(recurrence))
        meeting.action_mass_archive("all_events")
        self.run_push()
        self.assertEqual(self.mailbox_events(self.alice_upn), [])

    def test_series_deleted_in_outlook_stays_in_odoo(self):
        """A16, A6: the series deleted in Outlook leaves the Odoo meetings, no longer sent there."""
        meeting = self._series(count=3)
        recurrence = meeting.recurrence_id
        meeting.action_o365_confirm()
        self.run_push()
        link = self.link_of(recurrence, self.alice)
        self.outlook_delete(self.alice_upn, link.graph_event_id)
        recurrence._o365_apply_outlook_removal(link)
        self.assertFalse(any(self._occurrences(recurrence).mapped("o365_confirmed")))
        meeting.write({"location": "Room 9", "recurrence_update": "all_events"})
        self.run_push()
        self.assertEqual(self.mailbox_events(self.alice_upn), [], "not sent again")

    def test_outlook_moves_one_occurrence_then_the_series(self):
        """A16, A12, E4: Outlook moves one occurrence (and adds an attendee to it): that Odoo occurrence only
        follows; Outlook moves the whole series to 10:30 London: every future Odoo occurrence follows, on its own
        date; subject and notes stay Odoo's; nothing is pushed back; the series is never logged as meetings (B5)."""
        meeting = self._series()
        recurrence = meeting.recurrence_id
        meeting.action_o365_confirm()
        self.run_push()
        account = self._account(self.alice)
        master_id = self.link_of(recurrence, self.alice).graph_event_id
        outlook = self.outlook(self.alice_upn)
        outlook.headers["Prefer"] = 'IdType="ImmutableId"'
        base = f"{self.emulator.graph_url}/me/events"
        window = {"startDateTime": "2031-11-01T00:00:00Z", "endDateTime": "2031-12-31T00:00:00Z", "$top": 50}
        second = outlook.get(f"{base}/{master_id}/instances", params=window, timeout=10).json()["value"][1]
        moved = outlook.patch(
            f"{base}/{second['id']}",
            json={
                "subject": "Renamed in Outlook",
                "start": {"dateTime": "2031-11-12T13:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2031-11-12T14:00:00", "timeZone": "UTC"},
                "attendees": [*second["attendees"], attendee("tom@acme.example")],
            },
            timeout=10,
        ).json()
        tom = self.env["res.partner"].create({"name": "Tom", "email": "tom@acme.example"})
        importer.Importer(self.env).ingest_page(account, [moved])
        self.env.flush_all()
        occurrences = self._occurrences(recurrence)
        self.assertEqual(occurrences[1].start, datetime(2031, 11, 12, 13, 0))
        self.assertIn(tom, occurrences[1].partner_ids)
        self.assertEqual(occurrences[1].name, "Account review", "A12: the subject stays Odoo's")
        self.assertEqual([m.start.hour for m in occurrences - occurrences[1]], [9] * 5, "the others untouched")
        self.assertNotIn(tom, occurrences[2].partner_ids)
        self.assertFalse(self.queue_rows(), "E4: nothing pushed back")
        self.assertFalse(self.env["calendar.event"].search([("o365_logged", "=", True)]), "B5: nothing logged")

        master = outlook.patch(
            f"{base}/{master_id}",
            json={
                "start": {"dateTime": "2031-11-04T10:30:00", "timeZone": "Europe/London"},
                "end": {"dateTime": "2031-11-04T11:30:00", "timeZone": "Europe/London"},
            },
            timeout=10,
        ).json()
        importer.Importer(self.env).ingest_page(account, [master])
        self.env.flush_all()
        self.assertEqual(self._odoo_starts(recurrence), self._starts(self._outlook_view()))
        self.assertEqual({m.start.strftime("%H:%M") for m in self._occurrences(recurrence)}, {"10:30"})
        self.assertFalse(self.queue_rows(), "E4: nothing pushed back")

    def test_single_meeting_created_in_organiser_zone(self):
        """A16 item 6, E5: a single meeting made in Odoo is created in the organiser's zone (Outlook no longer says
        "created in zone UTC"), at the same instant."""
        meeting = self.env["calendar.event"].create(
            {
                "name": "One-off",
                "user_id": self.alice.id,
                "start": datetime(2031, 7, 1, 8, 0),
                "stop": datetime(2031, 7, 1, 9, 0),
                "partner_ids": [(6, 0, [self.alice.partner_id.id, self.contact.id])],
            }
        )
        meeting.action_o365_confirm()
        self.run_push()
        [event] = self.mailbox_events(self.alice_upn)
        self.assertEqual(event["originalStartTimeZone"], "Europe/London")
        self.assertEqual(event["start"]["dateTime"][:16], "2031-07-01T08:00", "08:00 UTC = 09:00 in London summer")
        [local] = self.emulator.state.calendar_view(self.alice_upn, *WINDOW, prefs={"timezone": "Europe/London"})
        self.assertEqual(local["start"]["dateTime"][:16], "2031-07-01T09:00")

    def test_series_answers_show_on_every_occurrence(self):
        """A16, A15: a colleague accepts the whole series in Outlook; the organiser's series carries the answer and
        every Odoo occurrence shows it; nothing is pushed back (E4)."""
        meeting = self._series(count=3)
        recurrence = meeting.recurrence_id
        meeting.action_o365_confirm()
        self.run_push()
        [copy] = self._masters(self.bob_upn)
        self.emulator.state.act_as(self.bob_upn).respond(copy["id"], "accept")
        [master] = self._masters()
        importer.Importer(self.env).ingest_page(self._account(self.alice), [master])
        self.env.flush_all()
        states = {
            m.attendee_ids.filtered(lambda a: a.partner_id == self.bob.partner_id).state
            for m in self._occurrences(recurrence)
        }
        self.assertEqual(states, {"accepted"})
        self.assertFalse(self.queue_rows(), "E4: nothing pushed back")

    def test_occurrence_edited_before_its_series_reached_outlook(self):
        """A16, E1: "this event" saved before the series' create went out waits for the series (never a single
        event of its own), then becomes that date's exception."""
        meeting = self._series(count=3)
        recurrence = meeting.recurrence_id
        meeting.action_o365_confirm()
        second = self._occurrences(recurrence)[1]
        second.write({"location": "Room 2", "recurrence_update": "self_only"})
        self.run_push()
        self.time_travel()
        self.run_push()
        self.assertFalse(self.queue_rows())
        self.assertEqual(len(self.mailbox_events(self.alice_upn)), 2, "the series and its one exception")
        [exception] = [e for e in self._outlook_view() if e["type"] == "exception"]
        self.assertEqual(exception["location"]["displayName"], "Room 2")
        self.assertEqual(self._starts(self._outlook_view()), self._odoo_starts(recurrence))
        self.assertEqual(len(self.emulator.state.list_invitations(attendee="jane@acme.example", kind="request")), 1)

    def test_first_occurrence_deleted_then_series_edited(self):
        """A16: deleting the first occurrence cancels that date; a later "all events" change keeps the series where
        it was made (its master's start and count), so Outlook still holds exactly Odoo's occurrences."""
        meeting = self._series(count=4)
        recurrence = meeting.recurrence_id
        second = self._occurrences(recurrence)[1]
        meeting.action_o365_confirm()
        self.run_push()
        self._occurrences(recurrence)[0].unlink()
        self.run_push()
        second.write({"location": "Room 5", "recurrence_update": "all_events"})
        self.run_push()
        recurrence = second.recurrence_id
        self.assertEqual(len(self._occurrences(recurrence)), 3)
        self.assertEqual(self._starts(self._outlook_view()), self._odoo_starts(recurrence))
        self.assertEqual({e["location"]["displayName"] for e in self._outlook_view()}, {"Room 5"})

    def test_deleting_every_occurrence_deletes_the_series(self):
        """A16: deleting the last occurrences of a series (one by one, then the rest) leaves no empty series in
        Outlook: the series is deleted."""
        meeting = self._series(count=3)
        recurrence = meeting.recurrence_id
        meeting.action_o365_confirm()
        self.run_push()
        self._occurrences(recurrence)[0].unlink()
        self.run_push()
        self.assertEqual(len(self._outlook_view()), 2)
        self._occurrences(recurrence).unlink()
        self.run_push()
        self.assertEqual(self.mailbox_events(self.alice_upn), [])
