"""Plain-Python filters and mapping (SPEC B2-B8, E5), without Odoo records or HTTP."""

from datetime import date, datetime

from odoo.tests import BaseCase, tagged

from ..utils.mappers import meeting_policy as f
from ..utils.mappers.meeting import Directory, event_times, meeting_values

ORG = ["contoso.example"]


def event(**values):
    base = {
        "id": "e1",
        "type": "singleInstance",
        "sensitivity": "normal",
        "createdDateTime": "2030-01-02T10:00:00.1234567Z",
        "organizer": {"emailAddress": {"address": "alice@contoso.example"}},
        "attendees": [{"emailAddress": {"address": "Carol@Customer.Example"}}],
        "start": {"dateTime": "2030-03-01T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2030-03-01T10:00:00.0000000", "timeZone": "UTC"},
        "categories": [],
    }
    base.update(values)
    return base


@tagged("post_install", "-at_install")
class TestPullUtils(BaseCase):
    def decide(self, ev, contacts=("carol@customer.example",), categories=("all", []), start=None):
        return f.decide(
            ev,
            sync_started_at=start or datetime(2030, 1, 1),
            org_domains=ORG,
            category_filter=categories,
            known_contacts=set(contacts),
        )

    def test_filters(self):
        """B2-B5, B7, S3: each reason to keep an event out, and the normalised contact match."""
        self.assertEqual(self.decide(event()), (True, None))
        self.assertEqual(self.decide(event(), contacts=()), (False, f.SKIP_NO_CONTACT))
        internal = event(attendees=[{"emailAddress": {"address": "bob@CONTOSO.example"}}])
        self.assertEqual(self.decide(internal), (False, f.SKIP_INTERNAL))
        self.assertEqual(self.decide(event(sensitivity="private")), (False, f.SKIP_PRIVATE))
        self.assertEqual(self.decide(event(type="occurrence")), (False, f.SKIP_RECURRING))
        self.assertEqual(self.decide(event(), start=datetime(2030, 1, 3)), (False, f.SKIP_BEFORE_START))
        self.assertEqual(self.decide(event(isCancelled=True)), (False, f.SKIP_CANCELLED))
        red = event(categories=["Red Category"])
        self.assertEqual(self.decide(red, categories=("exclude", ["red category"])), (False, f.SKIP_CATEGORY))
        self.assertEqual(self.decide(red, categories=("include", ["Red category"])), (True, None))
        self.assertEqual(self.decide(event(), categories=("include", ["Red category"])), (False, f.SKIP_CATEGORY))

    def test_times_all_day_and_dst(self):
        """B6, E5: all-day bounds are dates (exclusive end); local times convert across the DST change."""
        allday = event(
            isAllDay=True,
            start={"dateTime": "2030-03-31T00:00:00.0000000", "timeZone": "UTC"},
            end={"dateTime": "2030-04-02T00:00:00.0000000", "timeZone": "UTC"},
        )
        times = event_times(allday, "Pacific/Auckland")
        self.assertEqual((times.start_date, times.stop_date), (date(2030, 3, 31), date(2030, 4, 1)))
        # A converted (non-midnight) bound is brought back to the mailbox's day.
        shifted = event(
            isAllDay=True,
            start={"dateTime": "2030-03-30T11:00:00", "timeZone": "UTC"},
            end={"dateTime": "2030-03-31T11:00:00", "timeZone": "UTC"},
        )
        self.assertEqual(event_times(shifted, "Pacific/Auckland").start_date, date(2030, 3, 31))
        london = event(
            start={"dateTime": "2030-03-31T09:00:00", "timeZone": "GMT Standard Time"},
            end={"dateTime": "2030-03-31T10:00:00", "timeZone": "Europe/London"},
        )
        self.assertEqual(event_times(london, "Europe/London").start, datetime(2030, 3, 31, 8, 0))

    def test_meeting_values(self):
        """B8: organiser as user, partners, common company, sanitised body."""
        directory = Directory(
            contacts={"carol@customer.example": 11, "dave@customer.example": 12},
            users={"alice@contoso.example": (2, 3)},
            companies={11: 50, 12: 50},
        )
        ev = event(
            attendees=[
                {"emailAddress": {"address": "carol@customer.example"}},
                {"emailAddress": {"address": "dave@customer.example"}},
            ],
            body={"contentType": "html", "content": "<p onclick='x()'>Hi</p><script>bad()</script>"},
            location={"displayName": "HQ"},
        )
        values = meeting_values(ev, mailbox_zone="UTC", owner_user_id=99, org_domains=ORG, directory=directory)
        self.assertEqual(values.organizer_user_id, 2)
        self.assertEqual(values.partner_ids, (3, 11, 12))
        self.assertEqual(values.company_id, 50)
        self.assertEqual(values.location, "HQ")
        self.assertNotIn("script", values.description)
        self.assertNotIn("onclick", values.description)
        directory.companies[12] = 51
        values = meeting_values(ev, mailbox_zone="UTC", owner_user_id=99, org_domains=ORG, directory=directory)
        self.assertIsNone(values.company_id)
