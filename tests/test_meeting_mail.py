"""A10, A14, A15, B3: customers never get a wrong or duplicate email (issue 13, paths 2-4).

Driven as users drive it: Odoo users through JSON-RPC, Outlook users through the
emulator (act-as), Graph's change notifications through Odoo's controller, then the
pull and push jobs as their crons run them.
"""

from datetime import timedelta

from odoo.tests import tagged
from odoo.tests.common import JsonRpcException

from ..engine import pusher
from .common import CUSTOMER, ORG_DOMAIN, ButtonsMixin, PullCase, in_days


@tagged("post_install", "-at_install")
class TestMeetingMail(ButtonsMixin, PullCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls._connected_user("alice_mail", tz="Europe/London")
        cls.bob = cls._connected_user("bob_mail", tz="Europe/London")
        cls.alice_upn = f"alice_mail@{ORG_DOMAIN}"
        cls.bob_upn = f"bob_mail@{ORG_DOMAIN}"

    def setUp(self):
        # What earlier tests' pushes made Graph announce belongs to their (rolled back) world.
        self.drop_held_notifications()
        super().setUp()
        self.authenticate("alice_mail", "alice_mail")

    # -- helpers ---------------------------------------------------------------------------

    def run_push(self):
        self.env.flush_all()
        stats = pusher.push_due(self.env)
        self.env.invalidate_all()
        return stats

    def notifications_to(self, partner):
        self.env.flush_all()
        return (
            self.env["mail.message"]
            .sudo()
            .search([("partner_ids", "in", partner.ids), ("message_type", "=", "user_notification")])
        )

    def invitations(self, address, kind=None):
        return self.emulator.state.list_invitations(attendee=address, kind=kind)

    def create_meeting(self, name, partners, days=3, **vals):
        """Alice saves a new meeting in Odoo's form (web_save, as the form does)."""
        values = {
            "name": name,
            "user_id": self.alice.id,
            "start": (in_days(days)).strftime("%Y-%m-%d %H:%M:%S"),
            "stop": (in_days(days) + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S"),
            "description": "<p>Agenda: the renewal</p>",
            "partner_ids": [(6, 0, [self.alice.partner_id.id, *partners.ids])],
            **vals,
        }
        [record] = self.call("calendar.event", "web_save", [[], values], specification={"id": {}})
        return self.env["calendar.event"].browse(record["id"])

    # -- A14: one invitation per attendee ----------------------------------------------------

    def test_confirmed_meeting_one_invitation_and_body_link(self):
        """A14, A10: a meeting made in Odoo with a customer: saving it mails nobody from Odoo; Confirm makes
        Outlook send exactly one invitation; the event body has the description and an "Open in Odoo" link."""
        meeting = self.create_meeting("Renewal", self.carol)
        self.assertFalse(self.notifications_to(self.carol), "A14: no Odoo invitation on save")
        self.button("calendar.event", "action_o365_confirm", [meeting.id])
        self.run_push()
        self.run_push()
        self.assertEqual(len(self.invitations(f"carol@{CUSTOMER}", "request")), 1)
        self.assertFalse(self.notifications_to(self.carol), "A14: no Odoo invitation on Confirm")
        [event] = self.mailbox_events(self.alice_upn, subject="Meeting: Renewal - Customer Ltd")
        body = event["body"]["content"]
        self.assertIn("the renewal", body)
        self.assertIn(f"/odoo/calendar.event/{meeting.id}", body)
        self.assertIn("Open in Odoo", body)

    def test_edits_mail_only_through_outlook_and_only_who_changed(self):
        """A14, A11: moving a confirmed meeting and adding a customer: Odoo mails nobody; Outlook invites the
        new customer once and sends the others an update, never a second invitation."""
        meeting = self.create_meeting("Pricing", self.carol)
        self.button("calendar.event", "action_o365_confirm", [meeting.id])
        self.run_push()
        self.emulator.state.clear_invitations()
        self.call("calendar.event", "web_save", [[meeting.id], {"partner_ids": [(4, self.dave.id)]}], specification={})
        self.run_push()
        self.assertEqual(len(self.invitations(f"dave@{CUSTOMER}", "request")), 1)
        self.assertFalse(self.invitations(f"carol@{CUSTOMER}"), "attendees who did not change get nothing")
        start = in_days(4, hour=15)
        self.call(
            "calendar.event",
            "web_save",
            [
                [meeting.id],
                {
                    "start": start.strftime("%Y-%m-%d %H:%M:%S"),
                    "stop": (start + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S"),
                },
            ],
            specification={},
        )
        self.run_push()
        self.assertEqual(len(self.invitations(f"carol@{CUSTOMER}", "update")), 1)
        self.assertEqual(len(self.invitations(f"carol@{CUSTOMER}", "request")), 0)
        for partner in self.carol | self.dave:
            self.assertFalse(self.notifications_to(partner), f"A14: no Odoo mail to {partner.name}")

    def test_attendee_added_to_meeting_older_than_sync_start_invited_once_by_odoo(self):
        """A14, S3, A10 (issue 24): a meeting Alice saved before she pressed Start Syncing (she syncs meetings
        now) never goes to Outlook: S3 says nothing created before the sync start is synced, in either
        direction, and A10 pushes only a meeting that may enter her mailbox. So Outlook sends it nothing, and
        A14's "Odoo sends no mail of its own" cannot apply: a customer added to it later is invited by Odoo's
        own mail, once, and by no one else (before issue 24 Odoo held its mail back, as if Outlook sent it,
        while the push never queued it: nobody invited the customer)."""
        account = self._account(self.alice)
        account.write({"sync_state": "stopped"})
        meeting = self.create_meeting("Old visit", self.carol)
        self.assertEqual(len(self.notifications_to(self.carol)), 1, "not syncing: Odoo invites, as without sync")
        # Alice presses Start Syncing after saving the meeting (in a test the clock does not move).
        account.write({"sync_state": "running", "sync_started_at": meeting.create_date + timedelta(seconds=1)})
        self.call("calendar.event", "web_save", [[meeting.id], {"partner_ids": [(4, self.dave.id)]}], specification={})
        self.run_push()
        self.run_push()
        outlook = self.invitations(f"dave@{CUSTOMER}", "request")
        odoo = self.notifications_to(self.dave)
        self.assertEqual(len(outlook) + len(odoo), 1, f"one invitation: Outlook sent {outlook}, Odoo {odoo.ids}")
        self.assertEqual(len(odoo), 1, "S3: the meeting is not in Outlook, so Odoo invites")
        self.assertFalse(self.mailbox_events(self.alice_upn, subject="Meeting: Old visit - Customer Ltd"))
        self.assertEqual(len(self.notifications_to(self.carol)), 1, "Carol is not invited twice")

    def test_mass_confirm_sends_each_invitation_once(self):
        """A14: confirming 25 meetings at once (more than one $batch) invites each customer once per meeting;
        pushing again sends nothing more."""
        meetings = self.env["calendar.event"]
        for number in range(25):
            meetings |= self.create_meeting(f"Visit {number}", self.carol, days=3 + number)
        self.button("calendar.event", "action_o365_confirm", meetings.ids)
        self.run_push()
        self.run_push()
        requests = self.invitations(f"carol@{CUSTOMER}", "request")
        self.assertEqual(len(requests), 25)
        self.assertEqual(len({r["subject"] for r in requests}), 25)
        self.emulator.state.clear_invitations()
        self.call("calendar.event", "action_o365_confirm", [meetings.ids])
        self.run_push()
        self.assertFalse(self.invitations(f"carol@{CUSTOMER}"), "nothing re-sent for unchanged attendees")
        self.assertFalse(self.notifications_to(self.carol))

    def test_teams_meeting(self):
        """A14: the Teams meeting checkbox makes the Outlook event a Teams meeting; the join link Outlook gives
        is stored on the Odoo meeting."""
        meeting = self.create_meeting("Online demo", self.carol, o365_teams_meeting=True)
        self.button("calendar.event", "action_o365_confirm", [meeting.id])
        self.run_push()
        [event] = self.mailbox_events(self.alice_upn, subject="Meeting: Online demo - Customer Ltd")
        self.assertTrue(event["isOnlineMeeting"])
        self.assertEqual(event["onlineMeetingProvider"], "teamsForBusiness")
        # The pull reads the pushed event back (E4: no write of our own version) and keeps its join link.
        self.run_pull_cron()
        join = event["onlineMeeting"]["joinUrl"]
        self.assertTrue(join.startswith("https://teams.microsoft.com/"), join)
        self.assertEqual(self.env["calendar.event"].browse(meeting.id).videocall_location, join)
        self.assertFalse(self.env["o365.push.queue"].sudo().search([("res_id", "=", meeting.id)]), "E4")

    # -- A10: Outlook's meetings stay Outlook's ------------------------------------------------

    def _logged_from_outlook(self, subject):
        start = in_days(5)
        ev = self.outlook_create(
            self.alice_upn,
            subject,
            start=start,
            attendees=[f"carol@{CUSTOMER}"],
        )
        # Booked in London time, as Outlook does for a London mailbox.
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
        meeting = self.logged_meetings(subject)
        self.assertEqual(len(meeting), 1)
        self.emulator.state.clear_invitations()
        return meeting, ev

    def test_outlook_meeting_has_no_confirm_and_is_never_retimed(self):
        """A10, A14, B10: a meeting logged from Outlook offers no Confirm and refuses it. Alice organises it
        in Outlook, so moving it in Odoo moves her Outlook event (issue 22, B10), in its own time zone (never
        re-zoned), and Outlook sends the customer an update, never a new invitation; Odoo mails nobody."""
        meeting, ev = self._logged_from_outlook("Customer lunch")
        [values] = self.call("calendar.event", "read", [[meeting.id], ["o365_outlook_owned"]])
        self.assertTrue(values["o365_outlook_owned"], "the form hides Confirm")
        with self.assertRaisesRegex(JsonRpcException, "UserError"):
            self.button("calendar.event", "action_o365_confirm", [meeting.id])
        moved = in_days(6, hour=16)
        self.call(
            "calendar.event",
            "web_save",
            [
                [meeting.id],
                {
                    "start": moved.strftime("%Y-%m-%d %H:%M:%S"),
                    "stop": (moved + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S"),
                },
            ],
            specification={},
        )
        self.run_push()
        self.call("calendar.event", "web_save", [[meeting.id], {"location": "The Ivy"}], specification={})
        self.run_push()
        [event] = self.mailbox_events(self.alice_upn, subject="Customer lunch")
        self.assertEqual(event["location"]["displayName"], "The Ivy")
        self.assertEqual(event["originalStartTimeZone"], "Europe/London", "never re-zoned")
        in_utc = self.outlook_post(self.alice_upn, f"/me/events/{ev['id']}", method="GET")  # UTC: no Prefer
        self.assertEqual(in_utc["start"]["dateTime"][:16], moved.strftime("%Y-%m-%dT%H:%M"), "B10: moved in Outlook")
        self.assertFalse(self.invitations(f"carol@{CUSTOMER}", "request"), "A10: never re-sent")
        self.assertTrue(self.invitations(f"carol@{CUSTOMER}", "update"), "Outlook tells the customer the new time")
        self.assertFalse(self.notifications_to(self.carol), "A14: no Odoo mail")

    # -- A15: answers made in Outlook ------------------------------------------------------------

    def test_attendee_answers_show_in_odoo(self):
        """A15, E4: Bob accepts, then tentatively accepts, then declines in Outlook: the Odoo meeting's
        attendee shows each answer, and nothing is pushed back."""
        meeting = self.create_meeting("Quarterly plan", self.carol | self.bob.partner_id)
        self.button("calendar.event", "action_o365_confirm", [meeting.id])
        self.run_push()
        self.run_pull_cron()
        [copy] = self.mailbox_events(self.bob_upn, subject="Meeting: Quarterly plan - Customer Ltd")
        bob_attendee = meeting.attendee_ids.filtered(lambda a: a.partner_id == self.bob.partner_id)
        for action, state in (("accept", "accepted"), ("tentativelyAccept", "tentative"), ("decline", "declined")):
            self.outlook_post(self.bob_upn, f"/me/events/{copy['id']}/{action}", {"sendResponse": True})
            self.run_pull_cron()
            self.assertEqual(bob_attendee.state, state, action)
            self.assertFalse(
                self.env["o365.push.queue"]
                .sudo()
                .search([("res_model", "=", "calendar.event"), ("res_id", "=", meeting.id)]),
                "E4: an answer read from Outlook is not pushed back",
            )

    # -- B3: colleagues at subdomains ----------------------------------------------------------

    def test_colleague_at_subdomain_is_internal(self):
        """B3: pat@uk.contoso.example (organisation domain contoso.example) is a colleague: a meeting with
        only Pat is not logged; with Pat and a customer, it is logged on the customer only."""
        pat = self.env["res.partner"].create({"name": "Pat Colleague", "email": f"pat@uk.{ORG_DOMAIN}"})
        self.outlook_create(self.alice_upn, "Team planning", attendees=[f"pat@uk.{ORG_DOMAIN}"])
        self.outlook_create(self.alice_upn, "Joint visit", attendees=[f"pat@uk.{ORG_DOMAIN}", f"carol@{CUSTOMER}"])
        self.run_pull_cron()
        self.assertFalse(self.logged_meetings("Team planning"), "B3: internal only")
        meeting = self.logged_meetings("Joint visit")
        self.assertEqual(len(meeting), 1)
        self.assertNotIn(pat, meeting.partner_ids)
        self.assertIn(self.carol, meeting.partner_ids)
        self.assertFalse(pat.message_ids.filtered(lambda m: "Joint visit" in (m.body or "")), "not on Pat's timeline")


class TestMeetingMailOrganization(TestMeetingMail):
    """O2: the same tests, with the mailboxes connected by the organisation's application."""

    connection_mode = "organization"
