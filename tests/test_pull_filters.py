"""Which Outlook events are logged, and on which dates (SPEC B4-B7, E5), over real HTTP."""

from datetime import UTC, date, datetime, timedelta

from odoo.tests import tagged

from .common import CUSTOMER, ORG_DOMAIN, PullCase, attendee


def next_dst_sunday(zone_rule_months=(3, 10)):
    """The next last-Sunday-of-March/October (EU change days) at least a week away."""
    today = datetime.now(UTC).date() + timedelta(days=7)
    candidates = []
    for year in (today.year, today.year + 1):
        for month in zone_rule_months:
            last = date(year, month + 1, 1) - timedelta(days=1)
            candidates.append(last - timedelta(days=(last.weekday() + 1) % 7))
    return min(d for d in candidates if d > today)


def local(moment, zone):
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": zone}


@tagged("post_install", "-at_install")
class TestPullFilters(PullCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls._connected_user("alice_f6", tz="Europe/London")
        cls.kiri = cls._connected_user("kiri_f6", tz="Pacific/Auckland")
        cls.alice_upn = f"alice_f6@{ORG_DOMAIN}"
        cls.kiri_upn = f"kiri_f6@{ORG_DOMAIN}"

    def test_private_events_excluded_and_transitions(self):
        """B4: private events are not logged; made non-private later still not; a logged one made private stays."""
        secret = self.outlook_create(
            self.alice_upn, "Private chat", attendees=[f"carol@{CUSTOMER}"], sensitivity="private"
        )
        self.run_pull_cron()
        self.assertFalse(self.logged_meetings("Private chat"))
        self.outlook_update(self.alice_upn, secret["id"], {"sensitivity": "normal"})
        self.run_pull_cron()
        self.assertFalse(self.logged_meetings("Private chat"), "private made non-private: still not logged")

        public = self.outlook_create(self.alice_upn, "Open chat", attendees=[f"carol@{CUSTOMER}"])
        self.run_pull_cron()
        meeting = self.meeting_of(self.alice, public)
        self.assertTrue(meeting.active)
        self.outlook_update(
            self.alice_upn, public["id"], {"sensitivity": "private", "location": {"displayName": "Cafe"}}
        )
        self.run_pull_cron()
        self.assertTrue(meeting.active, "non-private made private: the logged meeting stays")
        self.assertEqual(meeting.location, "Cafe")

    def test_recurring_events_not_synced(self):
        """B5: series masters, occurrences and exceptions are not synced."""
        start = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(days=1)
        series = self.outlook_create(
            self.alice_upn,
            "Weekly customer call",
            start=start,
            attendees=[f"carol@{CUSTOMER}"],
            recurrence={
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [start.strftime("%A").lower()]},
                "range": {"type": "numbered", "startDate": start.date().isoformat(), "numberOfOccurrences": 4},
            },
        )
        self.assertEqual(series["type"], "seriesMaster")
        self.run_pull_cron()
        self.assertFalse(self.logged_meetings("Weekly customer call"))

    def test_all_day_on_right_dates_in_user_zone(self):
        """B6, E5: an all-day event is logged as an all-day meeting on the mailbox's dates (Auckland, UTC+13)."""
        day = datetime.now(UTC).date() + timedelta(days=10)
        ev = self.outlook_post(
            self.kiri_upn,
            "/me/events",
            {
                "subject": "Customer workshop",
                "isAllDay": True,
                "start": {"dateTime": f"{day.isoformat()}T00:00:00", "timeZone": "Pacific/Auckland"},
                "end": {
                    "dateTime": f"{(day + timedelta(days=2)).isoformat()}T00:00:00",
                    "timeZone": "Pacific/Auckland",
                },
                "attendees": [attendee(f"carol@{CUSTOMER}")],
            },
        )
        self.run_pull_cron()
        meeting = self.meeting_of(self.kiri, ev)
        self.assertTrue(meeting.allday)
        self.assertEqual(meeting.start_date, day)
        self.assertEqual(meeting.stop_date, day + timedelta(days=1), "two days, Graph's end being exclusive")
        self.assertEqual(meeting.activity_ids.date_deadline, day)

    def test_categories_exclude_and_transitions(self):
        """B7: excluded category keeps it out; moved to an allowed one it is logged; logged then excluded stays."""
        self.account(self.alice).write({"exclude_categories": "Red category"})
        ev = self.outlook_create(
            self.alice_upn, "Red meeting", attendees=[f"carol@{CUSTOMER}"], categories=["Red category"]
        )
        self.run_pull_cron()
        self.assertFalse(self.logged_meetings("Red meeting"))
        self.outlook_update(self.alice_upn, ev["id"], {"categories": ["Blue category"]})
        self.run_pull_cron()
        meeting = self.meeting_of(self.alice, ev)
        self.assertTrue(meeting, "moved to an allowed category: logged then")
        self.outlook_update(self.alice_upn, ev["id"], {"categories": ["red CATEGORY"]})
        self.run_pull_cron()
        self.assertTrue(meeting.active, "moved into an excluded category: stays logged")

    def test_categories_include(self):
        """B7: with include categories, only events in one of them are logged."""
        self.account(self.alice).write({"include_categories": "Green category"})
        self.outlook_create(self.alice_upn, "No category", attendees=[f"carol@{CUSTOMER}"])
        ev = self.outlook_create(
            self.alice_upn, "Green one", attendees=[f"carol@{CUSTOMER}"], categories=["Green category"]
        )
        self.run_pull_cron()
        self.assertFalse(self.logged_meetings("No category"))
        self.assertTrue(self.meeting_of(self.alice, ev))

    def test_dst_change_week(self):
        """E5: the week of a daylight-saving change: 09:00 London before and after land on the right UTC hours."""
        sunday = next_dst_sunday()
        zone = "Europe/London"
        spring = sunday.month == 3
        before = datetime.combine(sunday - timedelta(days=2), datetime.min.time()).replace(hour=9)
        after = datetime.combine(sunday + timedelta(days=1), datetime.min.time()).replace(hour=9)
        across = datetime.combine(sunday - timedelta(days=1), datetime.min.time()).replace(hour=23)
        made = {}
        for name, start, hours in (("Before DST", before, 1), ("After DST", after, 1), ("Across DST", across, 4)):
            made[name] = self.outlook_post(
                self.alice_upn,
                "/me/events",
                {
                    "subject": name,
                    "start": local(start, zone),
                    "end": local(start + timedelta(hours=hours), zone),
                    "attendees": [attendee(f"carol@{CUSTOMER}")],
                },
            )
        made["DST day"] = self.outlook_post(
            self.alice_upn,
            "/me/events",
            {
                "subject": "DST day",
                "isAllDay": True,
                "start": {"dateTime": f"{sunday.isoformat()}T00:00:00", "timeZone": zone},
                "end": {"dateTime": f"{(sunday + timedelta(days=1)).isoformat()}T00:00:00", "timeZone": zone},
                "attendees": [attendee(f"carol@{CUSTOMER}")],
            },
        )
        self.run_pull_cron()
        # Winter: London = UTC; summer: UTC+1.
        winter, summer = timedelta(0), timedelta(hours=1)
        first_offset, second_offset = (winter, summer) if spring else (summer, winter)
        self.assertEqual(self.meeting_of(self.alice, made["Before DST"]).start, before - first_offset)
        self.assertEqual(self.meeting_of(self.alice, made["After DST"]).start, after - second_offset)
        across_meeting = self.meeting_of(self.alice, made["Across DST"])
        self.assertEqual(across_meeting.start, across - first_offset)
        # 4 wall-clock hours across the change: 3 real hours in spring, 5 in autumn.
        self.assertEqual(across_meeting.stop - across_meeting.start, timedelta(hours=3 if spring else 5))
        day = self.meeting_of(self.alice, made["DST day"])
        self.assertTrue(day.allday)
        self.assertEqual((day.start_date, day.stop_date), (sunday, sunday))


class TestPullFiltersOrganization(TestPullFilters):
    """O2: the same tests, with the mailboxes connected by the organisation's application."""

    connection_mode = "organization"
