"""A17: answers given in Odoo reach the attendee's Outlook copy and the organiser's event."""

from datetime import datetime

from odoo.tests import tagged

from .common import PushCase


@tagged("post_install", "-at_install")
class TestAnswersFromOdoo(PushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bob = cls._push_user("bob_answers")
        cls.bob_upn = cls.bob.email

    def _confirmed_meeting(self):
        """Alice's ERP meeting with Bob and a customer, confirmed and in Outlook: (meeting, organiser's event)."""
        meeting = self.env["calendar.event"].create(
            {
                "name": "Contract review",
                "user_id": self.alice.id,
                "start": datetime(2031, 10, 6, 9, 0),
                "stop": datetime(2031, 10, 6, 10, 0),
                "partner_ids": [(6, 0, [self.alice.partner_id.id, self.bob.partner_id.id, self.contact.id])],
            }
        )
        meeting.action_o365_confirm()
        self.run_push()
        [event] = self.mailbox_events(self.alice_upn)
        [copy] = self.mailbox_events(self.bob_upn, ical_uid=event["iCalUId"])
        self.assertEqual(copy["responseStatus"]["response"], "notResponded")
        return meeting, event

    def _answer_as_bob(self, meeting, status):
        """Bob answers in Odoo's calendar (the popover's Accept / Decline / Maybe), through JSON-RPC."""
        self.authenticate("bob_answers", "bob_answers")
        self.make_jsonrpc_request(
            "/web/dataset/call_kw/calendar.event/change_attendee_status",
            {
                "model": "calendar.event",
                "method": "change_attendee_status",
                "args": [[meeting.id], status, False],
                "kwargs": {},
            },
        )
        self.env.invalidate_all()

    def _organiser_sees(self, upn):
        [event] = self.mailbox_events(self.alice_upn)
        return next(a["status"]["response"] for a in event["attendees"] if a["emailAddress"]["address"] == upn)

    def _pull_both(self):
        accounts = self._account(self.alice) | self._account(self.bob)
        self.env["o365.pull.request"].sudo().enqueue(accounts.ids, "pull")
        self.run_pull_job()

    def test_decline_in_odoo_reaches_outlook_without_a_loop(self):
        """A17, E1, E4: Bob declines Alice's confirmed meeting in Odoo: the answer is queued in his save (no
        Graph call there), the push job declines his Outlook copy with sendResponse (the organiser is told and
        her event shows it), and reading the change back from both mailboxes writes and pushes nothing."""
        meeting, event = self._confirmed_meeting()
        bob_account = self._account(self.bob)
        self.emulator.state.clear_invitations()
        with self.trap_sync_queue() as trap:
            self._answer_as_bob(meeting, "declined")
        self.assertEqual(trap.graph_calls, 0, "E1: nothing waits for Graph in Bob's request")
        trap.assert_pushed(meeting, "answer", account=bob_account)
        trap.flush()

        self.assertEqual(self._organiser_sees(self.bob_upn), "declined")
        [response] = self.emulator.state.list_invitations(kind="response")
        self.assertEqual(response["response"], "declined")
        self.assertFalse(self.mailbox_events(self.bob_upn, ical_uid=event["iCalUId"]), "declined: left his calendar")
        self.assertFalse(self.queue_rows())

        written = meeting.write_date
        self.emulator.state.clear_requests()
        self._pull_both()
        self.assertFalse(self.queue_rows(), "E4: the answer read back queues nothing")
        self.assertEqual(meeting.write_date, written, "E4: and writes nothing on the meeting")
        attendee = meeting.attendee_ids.filtered(lambda a: a.partner_id == self.bob.partner_id)
        self.assertEqual(attendee.state, "declined")
        self.run_push()
        self.assertFalse([r for r in self.graph_requests() if r["method"] != "GET"], "no second push")

    def test_accept_then_maybe_follow_in_outlook(self):
        """A17: Accept, then Maybe, given in Odoo: Bob's copy and the organiser's event follow each answer."""
        meeting, event = self._confirmed_meeting()
        self._answer_as_bob(meeting, "accepted")
        self.run_push()
        [copy] = self.mailbox_events(self.bob_upn, ical_uid=event["iCalUId"])
        self.assertEqual(copy["responseStatus"]["response"], "accepted")
        self.assertEqual(self._organiser_sees(self.bob_upn), "accepted")

        self._answer_as_bob(meeting, "tentative")
        self.run_push()
        [copy] = self.mailbox_events(self.bob_upn, ical_uid=event["iCalUId"])
        self.assertEqual(copy["responseStatus"]["response"], "tentativelyAccepted")
        self.assertEqual(self._organiser_sees(self.bob_upn), "tentativelyAccepted")

    def test_only_answers_of_syncing_attendees_who_do_not_organise(self):
        """A17: the organiser's own answer, a customer's, and that of a colleague whose sync is stopped or
        of a meeting not in Outlook, queue nothing."""
        meeting, _event = self._confirmed_meeting()
        attendees = {a.partner_id: a for a in meeting.attendee_ids}
        with self.trap_sync_queue() as trap:
            attendees[self.alice.partner_id].do_accept()
            attendees[self.contact].do_decline()
        trap.assert_nothing_queued()
        self._account(self.bob)._stop_sync()
        with self.trap_sync_queue() as trap:
            attendees[self.bob.partner_id].with_user(self.bob).do_accept()
        self.assertFalse(trap.pushed(meeting, "answer"))
        self._account(self.bob)._start_sync()
        draft = meeting.copy({"name": "Not confirmed"})
        with self.trap_sync_queue() as trap:
            draft.attendee_ids.filtered(lambda a: a.partner_id == self.bob.partner_id).with_user(self.bob).do_accept()
        self.assertFalse(trap.pushed(draft, "answer"), "not in Outlook: no invitation to answer")
