from datetime import date

from odoo.tests import new_test_user

from ..engine import pusher
from .common import O365Case

# Europe switches to summer time on Sunday 2030-03-31.
MONDAY = date(2030, 6, 3)


class TestLeaves(O365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.company.resource_calendar_id.tz = "Europe/London"
        cls.user = cls._connected_user("lea_leave", tz="Europe/London")
        cls.upn = "lea_leave@contoso.example"
        cls.employee = cls.env["hr.employee"].create(
            {"name": "Lea Leave", "user_id": cls.user.id, "tz": "Europe/London"}
        )
        cls.manager = new_test_user(
            cls.env, "mia_manager", groups="base.group_user,hr_holidays.group_hr_holidays_manager", tz="Europe/London"
        )
        LeaveType = cls.env["hr.leave.type"]
        common = {"requires_allocation": "no", "create_calendar_meeting": True}
        cls.paid = LeaveType.create({"name": "Paid Time Off", "leave_validation_type": "manager", **common})
        cls.two_step = LeaveType.create({"name": "Sabbatical", "leave_validation_type": "both", **common})
        cls.half_days = LeaveType.create(
            {"name": "Doctor", "leave_validation_type": "manager", "request_unit": "half_day", **common}
        )
        cls.hours = LeaveType.create(
            {"name": "Errand", "leave_validation_type": "manager", "request_unit": "hour", **common}
        )

    def _leave(self, leave_type=None, first=MONDAY, last=None, description="Holiday in Crete", employee=None, **extra):
        return self.env["hr.leave"].create(
            {
                "employee_id": (employee or self.employee).id,
                "holiday_status_id": (leave_type or self.paid).id,
                "request_date_from": first,
                "request_date_to": last or first,
                "private_name": description,
                **extra,
            }
        )

    def _push(self):
        # The job runs after commit on its own cursor: flush as a commit would.
        self.env.flush_all()
        pusher.push_due(self.env)

    def _events(self):
        return self.mailbox_events(self.upn)

    def _only_event(self):
        events = self._events()
        self.assertEqual(len(events), 1, [e["subject"] for e in events])
        return events[0]

    def test_submitted_multi_day_leave_is_an_all_day_out_of_office_event(self):
        """C1: a submitted leave is an all-day Out of Office event, first to last day, "<type>: <description>"."""
        self._leave(first=MONDAY, last=date(2030, 6, 5))
        self._push()
        event = self._only_event()
        self.assertEqual(event["subject"], "Paid Time Off: Holiday in Crete")
        self.assertTrue(event["isAllDay"])
        self.assertEqual(event["showAs"], "oof")
        self.assertEqual(event["originalStartTimeZone"], "Europe/London")
        # Graph renders all-day events midnight to midnight, the end exclusive.
        self.assertTrue(event["start"]["dateTime"].startswith("2030-06-03T00:00:00"), event["start"])
        self.assertTrue(event["end"]["dateTime"].startswith("2030-06-06T00:00:00"), event["end"])

    def test_leaves_around_dst_change_keep_local_times(self):
        """C1, E5: around the switch to summer time, all-day leaves keep their dates and
        hour-based leaves keep their local hours (10:00 London is 10:00 UTC before, 09:00 after)."""
        self._leave(first=date(2030, 3, 28), last=date(2030, 4, 2), description="Easter")
        self._leave(
            self.hours,
            first=date(2030, 3, 27),
            description="Before",
            request_unit_hours=True,
            request_hour_from=10.0,
            request_hour_to=11.0,
        )
        self._leave(
            self.hours,
            first=date(2030, 4, 3),
            description="After",
            request_unit_hours=True,
            request_hour_from=10.0,
            request_hour_to=11.0,
        )
        self._push()
        by_subject = {e["subject"]: e for e in self._events()}
        easter = by_subject["Paid Time Off: Easter"]
        self.assertTrue(easter["start"]["dateTime"].startswith("2030-03-28T00:00:00"), easter["start"])
        self.assertTrue(easter["end"]["dateTime"].startswith("2030-04-03T00:00:00"), easter["end"])
        self.assertTrue(by_subject["Errand: Before"]["start"]["dateTime"].startswith("2030-03-27T10:00:00"))
        self.assertTrue(by_subject["Errand: After"]["start"]["dateTime"].startswith("2030-04-03T09:00:00"))

    def test_half_day_and_hours_leaves_keep_their_times(self):
        """C1: half days and hour-based leaves are timed events at the employee's local times."""
        self._leave(self.half_days, description="Dentist", request_unit_half=True, request_date_from_period="pm")
        self._leave(
            self.hours,
            first=date(2030, 6, 4),
            description="Bank",
            request_unit_hours=True,
            request_hour_from=10.0,
            request_hour_to=12.0,
        )
        self._push()
        by_subject = {e["subject"]: e for e in self._events()}
        self.assertEqual(set(by_subject), {"Doctor: Dentist", "Errand: Bank"})
        dentist, bank = by_subject["Doctor: Dentist"], by_subject["Errand: Bank"]
        self.assertFalse(dentist["isAllDay"])
        self.assertTrue(dentist["start"]["dateTime"].startswith("2030-06-03T"), dentist["start"])
        self.assertGreaterEqual(dentist["start"]["dateTime"][11:13], "11", "an afternoon starts after noon BST")
        self.assertFalse(bank["isAllDay"])
        # 10:00-12:00 London summer time is 09:00-11:00 UTC.
        self.assertTrue(bank["start"]["dateTime"].startswith("2030-06-04T09:00:00"), bank["start"])
        self.assertTrue(bank["end"]["dateTime"].startswith("2030-06-04T11:00:00"), bank["end"])

    def test_state_changes_from_submit_to_reset(self):
        """C1, C2: submit, approve keep one event; refuse deletes it; reset to draft brings it back."""
        leave = self._leave()
        self._push()
        first_id = self._only_event()["id"]

        leave.with_user(self.manager).action_approve()
        self.assertEqual(leave.state, "validate")
        self._push()
        self.assertEqual(self._only_event()["id"], first_id, "approval updates the event, no second one")

        leave.with_user(self.manager).action_refuse()
        self._push()
        self.assertEqual(self._events(), [])

        leave.with_user(self.manager).action_reset_confirm()
        self.assertEqual(leave.state, "confirm")
        self._push()
        self.assertEqual(self._only_event()["subject"], "Paid Time Off: Holiday in Crete")

    def test_second_approval_keeps_one_event(self):
        """C1: a two-step leave stays one event through first and second approval."""
        leave = self._leave(self.two_step)
        self._push()
        first_id = self._only_event()["id"]
        leave.with_user(self.manager).action_approve()
        self.assertEqual(leave.state, "validate1")
        leave.with_user(self.manager).action_validate()
        self.assertEqual(leave.state, "validate")
        self._push()
        self.assertEqual([e["id"] for e in self._events()], [first_id])

    def test_cancelled_leave_deletes_event(self):
        """C2: a cancelled leave deletes its event."""
        leave = self._leave()
        leave.with_user(self.manager).action_approve()
        self._push()
        self._only_event()
        leave.with_user(self.user)._action_user_cancel("Plans changed")
        self.assertEqual(leave.state, "cancel")
        self._push()
        self.assertEqual(self._events(), [])

    def test_changed_dates_and_description_update_event(self):
        """C2: changed dates or description update the same event."""
        leave = self._leave()
        self._push()
        event_id = self._only_event()["id"]
        leave.write({"request_date_from": date(2030, 6, 10), "request_date_to": date(2030, 6, 11)})
        leave.write({"private_name": "Family visit"})
        self._push()
        event = self._only_event()
        self.assertEqual(event["id"], event_id)
        self.assertEqual(event["subject"], "Paid Time Off: Family visit")
        self.assertTrue(event["start"]["dateTime"].startswith("2030-06-10T00:00:00"), event["start"])
        self.assertTrue(event["end"]["dateTime"].startswith("2030-06-12T00:00:00"), event["end"])

    def test_approved_by_manager_lands_in_employee_calendar_once(self):
        """C1, S6: approval by a manager syncs to the employee's mailbox only, and Odoo's own
        leave meeting (hr_holidays) does not reach Outlook a second time."""
        manager_account = self.env["o365.sync.account"]._for_user(self.manager)
        self.assertFalse(manager_account.is_syncing())
        leave = self._leave()
        leave.with_user(self.manager).action_approve()
        self.assertTrue(leave.meeting_id, "hr_holidays made its calendar meeting for the validated leave")
        self._push()
        self.assertEqual(len(self._events()), 1)
        self.assertEqual(
            self.mailbox_events("lea_leave@contoso.example", subject="Paid Time Off: Holiday in Crete")[0]["showAs"],
            "oof",
        )

    def test_no_event_without_user_or_option(self):
        """C1: an employee without a user, or a user with holidays sync off, gets no event."""
        nobody = self.env["hr.employee"].create({"name": "No User", "tz": "Europe/London"})
        self._leave(employee=nobody)
        opted_out = self._connected_user("olaf_leave", sync_holidays=False)
        self._leave(employee=self.env["hr.employee"].create({"name": "Olaf", "user_id": opted_out.id}))
        self._push()
        self.assertEqual(self.mailbox_events("olaf_leave@contoso.example"), [])
        self.assertEqual(self._events(), [])
        self.assertFalse(self.env["o365.push.queue"].search([]))

    def test_leave_created_before_sync_start_is_not_synced(self):
        """S3, C1: a leave that existed before Start Syncing is never pushed."""
        leave = self._leave()
        self.env["o365.push.queue"].search([]).unlink()
        self.env.cr.execute(
            "UPDATE hr_leave SET create_date = create_date - interval '1 day' WHERE id = %s", [leave.id]
        )
        leave.invalidate_recordset(["create_date"])
        leave.write({"private_name": "Edited after start"})
        self._push()
        self.assertEqual(self._events(), [])


class TestLeavesOrganization(TestLeaves):
    """O2: the same tests, with the mailboxes connected by the organisation's application."""

    connection_mode = "organization"
