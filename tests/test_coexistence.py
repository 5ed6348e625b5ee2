"""S6: no record reaches Outlook twice, next to hr_holidays and Odoo's own microsoft_calendar.

microsoft_calendar is not a dependency. These tests run with or without it: where
it is installed (``need_sync_m`` exists on calendar.event) they check its marker,
where it is not they check that the guard stays out of the way.
"""

from datetime import date, datetime

from odoo.tests import new_test_user, tagged

from ..engine import pusher
from ..models.o365_calendar_sync import SYNC_CONTEXT
from .common import O365Case

MONDAY = date(2031, 6, 2)


@tagged("post_install", "-at_install")
class TestCoexistence(O365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.upn = "cora_s6@contoso.example"
        cls.user = cls._connected_user("cora_s6", tz="Europe/London")
        cls.employee = cls.env["hr.employee"].create({"name": "Cora", "user_id": cls.user.id, "tz": "Europe/London"})
        cls.other = new_test_user(cls.env, "otto_s6", groups="base.group_user", tz="Europe/London")
        cls.other_employee = cls.env["hr.employee"].create({"name": "Otto", "user_id": cls.other.id})
        cls.leave_type = cls.env["hr.leave.type"].create(
            {
                "name": "Vacation S6",
                "requires_allocation": "no",
                "leave_validation_type": "manager",
                "create_calendar_meeting": True,
            }
        )
        cls.Event = cls.env["calendar.event"]
        cls.ms_installed = "need_sync_m" in cls.Event._fields

    def _validated_leave(self, employee):
        leave = self.env["hr.leave"].create(
            {
                "employee_id": employee.id,
                "holiday_status_id": self.leave_type.id,
                "request_date_from": MONDAY,
                "request_date_to": MONDAY,
                "private_name": "Beach",
            }
        )
        leave.action_approve()
        if leave.state != "validate":
            leave.action_validate()
        self.assertTrue(leave.meeting_id, "hr_holidays made its meeting")
        return leave

    def _push(self):
        self.env.flush_all()
        pusher.push_due(self.env)

    def test_leave_reaches_outlook_once(self):
        """S6: a validated leave is one Outlook event (option C); its hr_holidays meeting is not pushed again."""
        leave = self._validated_leave(self.employee)
        meeting = leave.meeting_id
        self.assertTrue(meeting._o365_synced_elsewhere())
        # Even confirming the leave's meeting for Outlook sends nothing more.
        meeting.with_user(self.user).action_o365_confirm()
        self._push()
        self._push()
        events = self.mailbox_events(self.upn)
        self.assertEqual(len(events), 1, [e["subject"] for e in events])
        self.assertEqual(events[0]["subject"], "Vacation S6: Beach")
        self.assertFalse(
            self.env["o365.event.link"]
            .sudo()
            .search([("res_model", "=", "calendar.event"), ("res_id", "=", meeting.id)])
        )
        if self.ms_installed:
            self.assertFalse(meeting.need_sync_m, "microsoft_calendar must not push the leave meeting either")

    def test_leave_of_user_not_connected_is_left_to_microsoft_calendar(self):
        """S6: a leave meeting of a user this module does not sync is not taken from microsoft_calendar."""
        leave = self._validated_leave(self.other_employee)
        if self.ms_installed:
            self.assertTrue(leave.meeting_id.need_sync_m)
        else:
            self.assertNotIn("need_sync_m", leave.meeting_id._fields)

    def test_events_owned_here_are_kept_from_microsoft_calendar(self):
        """S6: meetings linked to Outlook by this module, or created by its pipeline, are never marked for
        microsoft_calendar, whatever is written to them later; other events are left alone."""
        values = {"name": "S6 meeting", "start": datetime(2031, 6, 3, 9), "stop": datetime(2031, 6, 3, 10)}
        logged = self.Event.with_context(**{SYNC_CONTEXT: True}).create(dict(values, name="Logged"))
        linked = self.Event.create(dict(values, name="Linked"))
        plain = self.Event.create(dict(values, name="Plain"))
        account = self.env["o365.sync.account"]._for_user(self.user)
        self.env["o365.event.link"].sudo().create(
            {"account_id": account.id, "res_model": "calendar.event", "res_id": linked.id, "graph_event_id": "AAMk-s6"}
        )
        (logged | linked | plain).write({"name": "Renamed", "location": "Room 6"})
        self.assertEqual(set((logged | linked | plain).mapped("name")), {"Renamed"})
        if self.ms_installed:
            self.assertFalse(logged.need_sync_m)
            self.assertFalse(linked.need_sync_m)
            self.assertTrue(plain.need_sync_m, "events this module does not own stay microsoft_calendar's")
            self.assertEqual(
                self.Event.search([("need_sync_m", "=", True), ("id", "in", (logged | linked).ids)]), self.Event
            )
        else:
            self.assertFalse(self.Event._o365_microsoft_calendar_installed())

    def test_meeting_push_skips_microsoft_calendar_events(self):
        """S6: this module's meeting push leaves alone what microsoft_calendar already synced."""
        event = self.Event.create(
            {
                "name": "Pushed by microsoft_calendar",
                "user_id": self.user.id,
                "start": datetime(2031, 6, 4, 9),
                "stop": datetime(2031, 6, 4, 10),
            }
        )
        if self.ms_installed:
            event.write({"microsoft_id": "ms-owned-id", "need_sync_m": False})
            self.assertTrue(event._o365_synced_elsewhere())
            event.with_user(self.user).action_o365_confirm()
            self._push()
            self.assertFalse(self.mailbox_events(self.upn, subject="Meeting: Pushed by microsoft_calendar"))
        else:
            # Without microsoft_calendar the same meeting is ours to push once confirmed.
            self.assertFalse(event._o365_synced_elsewhere())
            event.with_user(self.user).action_o365_confirm()
            self._push()
            self._push()
            events = [e for e in self.mailbox_events(self.upn) if "Pushed by microsoft_calendar" in e["subject"]]
            self.assertEqual(len(events), 1, [e["subject"] for e in self.mailbox_events(self.upn)])
