"""Outlook -> Odoo over real HTTP: the user acts in Outlook (emulator act-as), Graph
notifies Odoo's controller, the queued pull runs, the meeting shows in Odoo."""

import logging
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import tagged

from ..models import calendar_event_outlook
from .common import CUSTOMER, ORG_DOMAIN, PullCase, attendee, graph_time


@tagged("post_install", "-at_install")
class TestPullPipeline(PullCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls._connected_user("alice_h6", tz="Europe/London")
        cls.bob = cls._connected_user("bob_h6", tz="Europe/London")
        cls.alice_upn = f"alice_h6@{ORG_DOMAIN}"
        cls.bob_upn = f"bob_h6@{ORG_DOMAIN}"

    def test_start_creates_subscription(self):
        """E3, S4: Start Syncing subscribes (validated by Graph against Odoo's controller); Stop removes it."""
        account = self.account(self.alice)
        self.assertFalse(account.last_error)
        subs = [s for s in self.emulator.state.list_subscriptions() if s["id"] == account.subscription_id]
        self.assertEqual(len(subs), 1)
        self.assertTrue(subs[0]["notificationUrl"].endswith("/o365_calendar_sync/notifications"))
        self.assertTrue(subs[0]["lifecycleNotificationUrl"].endswith("/o365_calendar_sync/notifications/lifecycle"))
        account._stop_sync()
        self.assertFalse(account.subscription_id, "its notifications are refused from the Stop on")
        self.run_pull_job()  # S4: the job removes it, not the user's request
        self.assertFalse([s for s in self.emulator.state.list_subscriptions() if s["id"] == subs[0]["id"]])
        self.assertFalse(account.subscription_id)

    def test_meeting_with_contact_logged(self):
        """B1, B2, B8, B11, E3: a meeting with a customer booked in Outlook is logged on the contact's timeline."""
        body = "<p>Agenda: <b>prices</b></p><script>alert('x')</script>"
        ev = self.outlook_create(
            self.alice_upn,
            "Quote review",
            attendees=[f"Carol@{CUSTOMER.upper()}", f"dave@{CUSTOMER}", self.bob_upn],
            location={"displayName": "Customer HQ"},
            body={"contentType": "html", "content": body},
        )
        self.assertFalse(self.pending_pulls())
        self.delivered()
        self.assertEqual(self.pending_pulls(self.account(self.alice)), 1, "the notification queued a pull")
        self.run_pull_cron()
        meeting = self.meeting_of(self.alice, ev)
        self.assertTrue(meeting, "meeting logged")
        self.assertEqual(meeting.user_id, self.alice)
        self.assertEqual(
            set(meeting.partner_ids.ids),
            {self.carol.id, self.dave.id, self.alice.partner_id.id, self.bob.partner_id.id},
        )
        self.assertEqual(meeting.o365_company_id, self.customer_co)
        self.assertEqual(meeting.location, "Customer HQ")
        self.assertIn("prices", meeting.description)
        self.assertNotIn("script", meeting.description)
        self.assertEqual(meeting.privacy, "public")
        self.assertEqual(meeting.start, datetime.strptime(ev["start"]["dateTime"][:19], "%Y-%m-%dT%H:%M:%S"))
        self.assertEqual(meeting.stop - meeting.start, timedelta(hours=1))
        # B11: organiser and internal attendee both have it in their to-do list.
        self.assertEqual(set(meeting.activity_ids.user_id.ids), {self.alice.id, self.bob.id})
        self.assertEqual(set(meeting.activity_ids.activity_type_id.mapped("category")), {"meeting"})
        # B1: on each matching contact's timeline.
        for contact in self.carol | self.dave:
            self.assertTrue(
                contact.message_ids.filtered(lambda m, mid=meeting.id: f"calendar.event/{mid}" in (m.body or "")),
                f"{contact.name}'s timeline shows the meeting",
            )
        # E4: logging it pushes nothing back (no second event in the organiser's calendar).
        if "o365.push.queue" in self.env:
            self.env["o365.sync.cron"]._cron_push()
        self.assertEqual(len(self.mailbox_events(self.alice_upn, subject="Quote review")), 1)
        # B12: Bob's copy of the same meeting does not make a second record.
        self.assertEqual(len(self.logged_meetings("Quote review")), 1)
        bob_copy = self.mailbox_events(self.bob_upn, subject="Quote review")
        self.assertEqual(len(bob_copy), 1)
        self.assertEqual(self.meeting_of(self.bob, bob_copy[0]), meeting)

    def test_unmatched_and_internal_events_not_logged(self):
        """B2, B3: no matching contact, or every participant internal: nothing logged, no contact created."""
        partners_before = self.env["res.partner"].search_count([])
        self.outlook_create(self.alice_upn, "Stranger call", attendees=["nobody@unknown.example"])
        self.outlook_create(self.alice_upn, "Team sync", attendees=[self.bob_upn])
        self.run_pull_cron()
        self.assertFalse(self.logged_meetings("Stranger call"))
        self.assertFalse(self.logged_meetings("Team sync"))
        self.assertEqual(self.env["res.partner"].search_count([]), partners_before)

    def test_company_only_when_shared(self):
        """B8: company stays empty when the contacts belong to different companies."""
        ev = self.outlook_create(self.alice_upn, "Mixed", attendees=[f"carol@{CUSTOMER}", "erin@other.example"])
        self.run_pull_cron()
        meeting = self.meeting_of(self.alice, ev)
        self.assertTrue(meeting)
        self.assertFalse(meeting.o365_company_id)

    def test_outlook_edits_update_meeting(self):
        """B10, E4: time, attendees added, location and body edited in Outlook update the Odoo meeting."""
        ev = self.outlook_create(self.alice_upn, "Moving meeting", attendees=[f"carol@{CUSTOMER}"])
        self.run_pull_cron()
        meeting = self.meeting_of(self.alice, ev)
        new_start = datetime.now(UTC).replace(tzinfo=None, microsecond=0, second=0) + timedelta(days=5)
        self.outlook_update(
            self.alice_upn,
            ev["id"],
            {
                "start": graph_time(new_start),
                "end": graph_time(new_start + timedelta(hours=2)),
                "attendees": [attendee(f"carol@{CUSTOMER}"), attendee(f"dave@{CUSTOMER}")],
                "location": {"displayName": "Room 2"},
                "body": {"contentType": "html", "content": "<p>New agenda</p>"},
            },
        )
        self.run_pull_cron()
        self.assertEqual(meeting.start, new_start)
        self.assertEqual(meeting.stop, new_start + timedelta(hours=2))
        self.assertIn(self.dave, meeting.partner_ids)
        self.assertEqual(meeting.location, "Room 2")
        self.assertIn("New agenda", meeting.description)
        # E4: the same version read again (a new round replays it) writes nothing.
        write_date = meeting.write_date
        self.account(self.alice).sudo().delta_link = False
        self.env["o365.pull.request"].sudo().enqueue(self.account(self.alice).ids, "pull")
        self.run_pull_cron()
        self.assertEqual(meeting.write_date, write_date)
        self.assertEqual(len(self.logged_meetings("Moving meeting")), 1)

    def test_cancel_in_outlook_archives_with_note(self):
        """B14: a logged meeting deleted in Outlook is cancelled in Odoo with a note on the contact's timeline."""
        ev = self.outlook_create(self.alice_upn, "Doomed meeting", attendees=[f"carol@{CUSTOMER}", self.bob_upn])
        self.run_pull_cron()
        meeting = self.meeting_of(self.alice, ev)
        self.assertTrue(meeting.active)
        self.outlook_delete(self.alice_upn, ev["id"])
        self.run_pull_cron()
        self.assertFalse(meeting.active, "archived, not deleted")
        self.assertTrue(meeting.exists())
        self.assertFalse(meeting.activity_ids)
        notes = self.carol.message_ids.filtered(lambda m: "cancelled in Outlook" in (m.body or ""))
        self.assertEqual(len(notes), 1, "one cancellation note on the contact's timeline")

    def test_attendee_declining_keeps_meeting(self):
        """B12, B14: an internal attendee declining drops only their copy; the meeting stays for the others."""
        ev = self.outlook_create(self.alice_upn, "Decline me", attendees=[f"carol@{CUSTOMER}", self.bob_upn])
        self.run_pull_cron()
        meeting = self.meeting_of(self.alice, ev)
        bob_copy = self.mailbox_events(self.bob_upn, subject="Decline me")[0]
        self.outlook_post(self.bob_upn, f"/me/events/{bob_copy['id']}/decline", {"sendResponse": True})
        self.run_pull_cron()
        self.assertTrue(meeting.active)
        self.assertEqual(meeting.activity_ids.user_id, self.alice)

    def test_contact_invites_user(self):
        """B9: a meeting a contact invites the user to is logged on that contact's timeline, user = invitee."""
        start = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(days=3)
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
        meeting = self.logged_meetings("Carol's demo")
        self.assertEqual(len(meeting), 1)
        self.assertEqual(meeting.user_id, self.alice)
        self.assertIn(self.carol, meeting.partner_ids)
        self.assertTrue(
            self.carol.message_ids.filtered(
                lambda m: "Carol&#x27;s demo" in (m.body or "") or "Carol's demo" in (m.body or "")
            )
        )

    def test_auto_close_ended_meetings(self):
        """B13: the daily job marks done the sync-created to-dos once the meeting ended; the timeline shows it done."""
        start = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(hours=3)
        ev = self.outlook_create(self.alice_upn, "Yesterday's visit", start=start, attendees=[f"carol@{CUSTOMER}"])
        self.run_pull_cron()
        meeting = self.meeting_of(self.alice, ev)
        self.assertTrue(meeting.activity_ids)
        closed = self.env["calendar.event"]._cron_close_ended_meetings()
        self.assertGreaterEqual(closed, 1)
        self.assertFalse(meeting.activity_ids)
        done = self.carol.message_ids.filtered(lambda m: m.mail_activity_type_id.category == "meeting")
        self.assertTrue(done, "the contact's timeline shows the done meeting")

    def test_auto_close_goes_on_past_a_refused_to_do(self):
        """B13: a to-do Odoo refuses to close (an error of another module, say) is named in one WARNING line and
        leaves the others to be closed."""
        start = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(hours=3)
        first = self.outlook_create(self.alice_upn, "Morning visit", start=start, attendees=[f"carol@{CUSTOMER}"])
        second = self.outlook_create(self.alice_upn, "Noon visit", start=start, attendees=[f"dave@{CUSTOMER}"])
        self.run_pull_cron()
        refused, closed = self.meeting_of(self.alice, first), self.meeting_of(self.alice, second)
        Activity = type(self.env["mail.activity"])
        original = Activity.action_feedback

        def action_feedback(activities, *args, **kwargs):
            if activities.calendar_event_id == refused:
                raise UserError("Another module refuses")  # pylint: disable=translation-required
            return original(activities, *args, **kwargs)

        with (
            patch.object(Activity, "action_feedback", action_feedback),
            self.assertLogs(calendar_event_outlook._logger, logging.WARNING) as logged,
        ):
            self.env["calendar.event"]._cron_close_ended_meetings()
        self.assertTrue(refused.activity_ids, "left open")
        self.assertFalse(closed.activity_ids, "closed all the same")
        [line] = [line for line in logged.output if "was not closed" in line]
        self.assertIn(f"ended meeting {refused.id}", line)
        self.assertIn("Another module refuses", line)

    def test_created_before_sync_start_not_logged(self):
        """S3: an event created before the user's sync start is never logged, even when edited later."""
        account = self.account(self.alice)
        self.outlook_create(self.alice_upn, "Old booking", attendees=[f"carol@{CUSTOMER}"])
        self.run_pull_cron()
        self.assertTrue(self.logged_meetings("Old booking"))
        ev2 = self.outlook_create(self.bob_upn, "Bob old booking", attendees=[f"carol@{CUSTOMER}"])
        self.delivered()
        # Bob starts syncing again a second later (Odoo keeps the sync start to the second): his older
        # event stays out.
        bob_account = self.account(self.bob)
        bob_account._stop_sync()
        self.run_pull_job()  # right after Stop commits: the old subscription goes
        bob_account.sudo().write({"sync_started_at": False})
        bob_account._start_sync()
        # The test's transaction started before the event was made; Start is pressed a second later.
        bob_account.sudo().sync_started_at = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)
        self.outlook_update(self.bob_upn, ev2["id"], {"location": {"displayName": "moved"}})
        self.run_pull_cron()
        self.assertFalse(self.logged_meetings("Bob old booking"))
        self.assertTrue(account.last_success_at)


class TestPullPipelineOrganization(TestPullPipeline):
    """O2: the same tests, with the mailboxes connected by the organisation's application."""

    connection_mode = "organization"
