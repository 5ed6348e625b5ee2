"""Issue 28 with real concurrency: the pull against another mailbox's pull and against the push.

Like tests/test_push_concurrency.py, these cases commit a real setup and run the jobs in
threads on their own database connections (Odoo's test transactions cannot show a row
conflict). Barriers hold each job at the point where the races of the issue happened, so
a regression fails every time, not once in ten.
"""

import logging
import threading
import unittest
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from unittest.mock import patch

from odoo.tools import config

from ..engine import pull_pages
from ..engine.importer import Importer, PullRunner
from .common import ORG_DOMAIN, CommittedWorld, attendee, graph_time, shared_emulator

CUSTOMER = "customer.example"


class RaceWorld(CommittedWorld):
    """A committed world whose notification URL is this test server (Graph validates it)."""

    def configure(self):
        result = super().configure()
        with self.registry.cursor() as cr:
            params = self.env(cr)["ir.config_parameter"]
            for key, value in (
                ("org_domains", ORG_DOMAIN),
                ("public_base_url", f"http://127.0.0.1:{config['http_port']}"),
            ):
                self.saved_params[key] = params.get_param(f"o365_calendar_sync.{key}")
                params.set_param(f"o365_calendar_sync.{key}", value)
        self.created = []  # (model, ids) removed by cleanup
        return result

    def customer(self, email):
        with self.registry.cursor() as cr:
            partner = self.env(cr)["res.partner"].create({"name": email.split("@")[0].title(), "email": email})
            self.created.append(("res.partner", partner.ids))
            return partner.id

    def schedule_task_soon(self, user_id, summary):
        """A To-Do due in three days (within the pull's window: its event is read back by a new round)."""
        with self.registry.cursor() as cr:
            env = self.env(cr)
            activity = env["mail.activity"].create(
                {
                    "res_model_id": env["ir.model"]._get_id("res.partner"),
                    "res_id": env["res.users"].browse(user_id).partner_id.id,
                    "activity_type_id": env.ref("mail.mail_activity_data_todo").id,
                    "summary": summary,
                    "user_id": user_id,
                    "date_deadline": date.today() + timedelta(days=3),
                }
            )
            return activity.ids

    def account_id(self, user_id):
        with self.registry.cursor() as cr:
            return self.env(cr)["o365.sync.account"].search([("user_id", "=", user_id)]).id

    def account(self, account_id, *fields):
        with self.registry.cursor() as cr:
            account = self.env(cr)["o365.sync.account"].browse(account_id)
            return [account[f] for f in fields]

    def on_account(self, account_id, method):
        with self.registry.cursor() as cr:
            getattr(self.env(cr)["o365.sync.account"].browse(account_id), method)()

    def listening(self, account_ids):
        """Give these accounts a live subscription as Odoo records it (Graph is not asked)."""
        with self.registry.cursor() as cr:
            for account in self.env(cr)["o365.sync.account"].browse(account_ids):
                account.write(
                    {
                        "subscription_id": f"r28-listening-{account.id}",
                        "subscription_secret": "r28-secret",
                        "subscription_expires_at": datetime.now() + timedelta(days=2),
                    }
                )

    def pull(self, account_id):
        PullRunner(self.registry, parallel=1).work_on(account_id)

    def meetings(self, subject):
        with self.registry.cursor() as cr:
            env = self.env(cr)
            meetings = env["calendar.event"].with_context(active_test=False).search([("name", "=", subject)])
            self.created.append(("calendar.event", meetings.ids))
            links = env["o365.event.link"].search(
                [("res_model", "=", "calendar.event"), ("res_id", "in", meetings.ids)]
            )
            todos = [(a.user_id.id, a.calendar_event_id.id) for a in meetings.activity_ids]
            return meetings.ids, sorted((lk.account_id.id, lk.res_id) for lk in links), sorted(todos)

    def cleanup(self):
        with self.registry.cursor() as cr:
            env = self.env(cr)
            for model, ids in reversed(self.created):
                env[model].with_context(active_test=False).browse(ids).exists().unlink()
        return super().cleanup()


class ErrorLog(logging.Handler):
    """ERROR records of the module's loggers while installed."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(f"{record.name}: {record.getMessage()}")


@contextmanager
def module_errors():
    handler = ErrorLog()
    logger = logging.getLogger("odoo.addons.o365_calendar_sync")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


def run_threads(*targets, timeout=120):
    errors = []

    def guarded(target):
        try:
            target()
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(repr(exc))

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return errors


class TestPullRaces(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.emulator = shared_emulator()
        cls.world = RaceWorld(config["db_name"].split(",")[0], cls.emulator, "r28race")
        cls.world.configure()
        cls.addClassCleanup(cls.world.cleanup)

    def test_parallel_pulls_log_one_meeting(self):
        """B11, B12, issue 28 item 1: an Outlook meeting of two syncing colleagues with a customer,
        pulled from both mailboxes at the same moment, is ONE Odoo meeting, linked once per
        mailbox, with one to-do for each colleague (whatever the interleaving)."""
        stamp = datetime.now().strftime("%H%M%S%f")
        (alex, alex_upn), (sam, sam_upn) = (self.world.connected_user(f"r28b{stamp}{n}") for n in "as")
        customer_email = f"r28b{stamp}@{CUSTOMER}"
        self.world.customer(customer_email)
        accounts = [self.world.account_id(alex), self.world.account_id(sam)]
        self.world.listening(accounts)  # the race is the meeting's, not the subscriptions'
        start = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(days=2)
        subject = f"Both sides {stamp}"
        with self.emulator.state.act_as(alex_upn) as outlook:
            outlook.create_event(
                {
                    "subject": subject,
                    "start": graph_time(start),
                    "end": graph_time(start + timedelta(hours=1)),
                    "attendees": [attendee(sam_upn), attendee(customer_email)],
                }
            )
        self.assertEqual(len(self.emulator.state.find_events(sam_upn, subject=subject)), 1, "Sam has his copy")

        # Both pulls read their page at once, then both look for a record of the meeting.
        pages_read = threading.Barrier(2, timeout=30)
        looked_up = threading.Barrier(2, timeout=3)
        directory, prepare = pull_pages.contact_directory, Importer.prepare_new_meeting

        def read_page(*args, **kwargs):
            pages_read.wait()
            return directory(*args, **kwargs)

        def prepare_meeting(self, *args, **kwargs):
            with suppress(threading.BrokenBarrierError):
                looked_up.wait()  # with the meeting's lock, the other pull waits for this one instead
            return prepare(self, *args, **kwargs)

        with (
            patch.object(pull_pages, "contact_directory", read_page),
            patch.object(Importer, "prepare_new_meeting", prepare_meeting),
            module_errors() as errors,
        ):
            failed = run_threads(*(lambda a=a: self.world.pull(a) for a in accounts))
        self.assertEqual(failed, [])
        self.assertEqual(errors, [])
        meetings, links, todos = self.world.meetings(subject)
        self.assertEqual(len(meetings), 1, "one Outlook meeting, one Odoo record")
        self.assertEqual(links, sorted((account, meetings[0]) for account in accounts), "one link per mailbox")
        self.assertEqual(todos, sorted([(alex, meetings[0]), (sam, meetings[0])]), "one to-do per colleague")

    def test_start_pull_racing_push_keeps_subscription(self):
        """S4, S7, E3, E7, issue 28 item 2: Stop, a task edited in Odoo meanwhile, Start: the push of
        the task and the first pull after Start run at once. The pull neither fails nor forgets the
        subscription it made at Graph: the mailbox is subscribed exactly once, and hears Outlook."""
        stamp = datetime.now().strftime("%H%M%S%f")
        user_id, upn = self.world.connected_user(f"r28s{stamp}")
        account_id = self.world.account_id(user_id)
        tasks = self.world.schedule_task_soon(user_id, f"r28 task {stamp}")
        self.world.push()
        self.world.pull(account_id)  # subscribes
        self.assertTrue(self.world.account(account_id, "subscription_id")[0])
        self.world.on_account(account_id, "_stop_sync")
        self.world.pull(account_id)  # removes the subscription (S4)
        self.world.write_tasks(tasks, f"r28 edited {stamp}")
        self.world.on_account(account_id, "_start_sync")

        pull_started, push_done = threading.Event(), threading.Event()
        delta_round = Importer.delta_round

        def held_delta_round(self, *args, **kwargs):
            # The pull has subscribed and is about to read Outlook; the push goes first.
            pull_started.set()
            push_done.wait(60)
            return delta_round(self, *args, **kwargs)

        def push_when_pull_started():
            pull_started.wait(60)
            try:
                self.world.push()
            finally:
                push_done.set()

        with patch.object(Importer, "delta_round", held_delta_round), module_errors() as errors:
            failed = run_threads(lambda: self.world.pull(account_id), push_when_pull_started)
        self.assertEqual(failed, [])
        self.assertEqual(errors, [])
        subscription_id, sync_state, last_pull_at = self.world.account(
            account_id, "subscription_id", "sync_state", "last_pull_at"
        )
        self.assertEqual(sync_state, "running")
        state = self.emulator.state
        with state.lock:
            at_graph = [s["id"] for s in state.subscriptions.values_of(state.mailbox(upn).id)]
        self.assertEqual(at_graph, [subscription_id], "subscribed exactly once, and Odoo knows it")
        self.assertTrue(last_pull_at)
        self.assertEqual(
            self.world.count("o365.event.link", [("res_model", "=", "mail.activity"), ("res_id", "in", tasks)]), 1
        )
