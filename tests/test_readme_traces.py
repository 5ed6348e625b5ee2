"""README.rst's "Reading the code: four traces" lists the files the code really enters.

Each test plays one trace with a profiler on (this thread and the threads started meanwhile,
such as Odoo's HTTP request threads) and compares the module's Python files entered with the
numbered list the README gives for that trace (in reading order there, so the order is not
compared), and the count in its heading. Odoo's own files, the tests and the emulator are not counted. When the
code moves, the failure prints the list as measured: copy it into the README and say in one
clause what each new file does there.
"""

import contextlib
import logging
import os
import re
import sys
import threading
from datetime import date, datetime, timedelta

from odoo.tests import new_test_user, tagged

from ..models import o365_sync_account_graph
from .common import CUSTOMER, ORG_DOMAIN, PullCase, PushCase

MODULE = os.path.realpath(os.path.join(os.path.dirname(__file__), ".."))
NOT_COUNTED = ("tests/", "graph_emulator/")


class FilesEntered:
    """A profiler: the module's Python files whose code runs, in the order of their first call."""

    def __init__(self):
        self.files, self._known = [], {}

    def _file_of(self, filename):
        known = self._known.get(filename)
        if known is None:
            real = os.path.realpath(filename)
            known = os.path.relpath(real, MODULE) if real.startswith(MODULE + os.sep) and real.endswith(".py") else ""
            known = "" if known.startswith(NOT_COUNTED) else known
            self._known[filename] = known
        return known

    def __call__(self, frame, event, _arg):
        if event == "call":
            name = self._file_of(frame.f_code.co_filename)
            # A logging filter (the sign-in code redactor on werkzeug's access log) runs on
            # whatever logs at the run's log level: it is no step of the trace.
            if name and name not in self.files and not isinstance(frame.f_locals.get("self"), logging.Filter):
                self.files.append(name)

    def __enter__(self):
        threading.setprofile(self)
        sys.setprofile(self)
        return self

    def __exit__(self, *_exc):
        sys.setprofile(None)
        threading.setprofile(None)


def readme_trace(title):
    """(count in the heading, files listed) of the README trace whose title is ``title``."""
    with open(os.path.join(MODULE, "README.rst"), encoding="utf-8") as readme:
        text = readme.read()
    heading = re.search(rf"^\* \*\*{re.escape(title)}\*\* \((\d+) files", text, re.MULTILINE)
    assert heading, f"README.rst has no trace titled {title!r}"
    listed = []
    for line in text[heading.end() :].splitlines()[1:]:
        if line.startswith("* ") or (line and not line.startswith(" ")):
            break  # the next trace, or the next section
        item = re.match(r"\s+\d+\. ``([^`]+)``", line)
        if item:
            listed.append(item.group(1))
    return int(heading.group(1)), listed


class TraceCheck:
    @contextlib.contextmanager
    def trace(self):
        """Profile the block with Odoo's caches cold, as after a restart: the files a trace enters
        must not depend on which tests ran before it (Odoo's runner and pytest order them apart)."""
        self.env.registry.clear_all_caches()
        o365_sync_account_graph._access_tokens.clear()  # the access tokens a worker keeps, too
        with FilesEntered() as entered:
            yield entered

    def assert_trace(self, title, entered):
        count, listed = readme_trace(title)
        measured = "\n".join(f"  {n}. ``{name}``" for n, name in enumerate(entered.files, 1))
        # The README orders its list for reading; the set and the count must be the code's.
        self.assertEqual(len(listed), len(set(listed)), f"README trace {title!r} lists a file twice")
        self.assertEqual(
            sorted(listed),
            sorted(entered.files),
            f"README trace {title!r}: the code enters (first call first):\n{measured}",
        )
        self.assertEqual(count, len(listed), f"README trace {title!r}: the count in its heading")


@tagged("post_install", "-at_install")
class TestReadmePushTraces(PushCase, TraceCheck):
    def _cron_push(self):
        """The push cron's run, after the commit that woke it (flushed, as a commit would)."""
        self.env.flush_all()
        self.env["o365.sync.cron"]._cron_push()
        self.env.invalidate_all()

    def test_task_reaching_outlook(self):
        """A1, E1: README trace "A task reaching Outlook": the save, then the push cron's run."""
        with self.trace() as entered:
            task = self.schedule(self.todo_type, "Create a quote", date_deadline=date(2031, 3, 5))
            self._cron_push()
        self.assertTrue(self.link_of(task, self.alice), "the task reached Outlook")
        self.assert_trace("A task reaching Outlook", entered)

    def test_recurring_meeting_reaching_outlook(self):
        """A16: README trace "A recurring meeting reaching Outlook": Confirm, then the push cron's run."""
        start = datetime(2031, 11, 4, 9, 0)
        meeting = self.env["calendar.event"].create(
            {
                "name": "Account review",
                "user_id": self.alice.id,
                "start": start,
                "stop": start + timedelta(hours=1),
                "partner_ids": [(6, 0, [self.alice.partner_id.id, self.contact.id])],
                "recurrency": True,
                "rrule_type": "weekly",
                "tue": True,
                "end_type": "count",
                "count": 6,
                "event_tz": "Europe/London",
            }
        )
        self.env.flush_all()
        with self.trace() as entered:
            meeting.action_o365_confirm()
            self._cron_push()
        masters = [e for e in self.mailbox_events(self.alice_upn) if e["type"] == "seriesMaster"]
        self.assertEqual(len(masters), 1, "the series reached Outlook")
        self.assert_trace("A recurring meeting reaching Outlook", entered)

    def test_refused_leave(self):
        """C2: README trace "A refused leave": the refusal, then the push cron's run deletes the event."""
        employee = self.env["hr.employee"].create({"name": "Alice", "user_id": self.alice.id, "tz": "Europe/London"})
        manager = new_test_user(self.env, "mia_trace", groups="base.group_user,hr_holidays.group_hr_holidays_manager")
        leave_type = self.env["hr.leave.type"].create(
            {"name": "Paid Time Off", "leave_validation_type": "manager", "requires_allocation": "no"}
        )
        leave = self.env["hr.leave"].create(
            {
                "employee_id": employee.id,
                "holiday_status_id": leave_type.id,
                "request_date_from": date(2031, 3, 3),
                "request_date_to": date(2031, 3, 4),
                "private_name": "Holiday in Crete",
            }
        )
        leave.with_user(manager).action_approve()
        self._cron_push()
        self.assertTrue(self.link_of(leave, self.alice), "the leave is in Outlook before the refusal")
        with self.trace() as entered:
            leave.with_user(manager).action_refuse()
            self._cron_push()
        self.assertFalse(self.link_of(leave, self.alice), "the refusal removed the event")
        self.assert_trace("A refused leave", entered)


@tagged("post_install", "-at_install")
class TestReadmePullTrace(PullCase, TraceCheck):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls._connected_user("alice_trace", tz="Europe/London")
        cls.alice_upn = f"alice_trace@{ORG_DOMAIN}"

    def test_outlook_meeting_reaching_a_contact(self):
        """B1, E3: README trace "An Outlook meeting reaching a contact": Graph's notification reaches
        the controller (Odoo's HTTP thread), then the pull cron's run logs the meeting."""
        event = self.outlook_create(self.alice_upn, "Quote review", attendees=[f"carol@{CUSTOMER}"])
        with self.trace() as entered:
            self.delivered()
            self.env.invalidate_all()
            self.run_pull_job()
        self.assertTrue(self.meeting_of(self.alice, event), "the meeting is logged")
        self.assert_trace("An Outlook meeting reaching a contact", entered)
