"""E6 with real concurrency: two workers, each with its own database connection.

Odoo's test classes run inside one uncommitted transaction that every cursor
shares, so row locks and SKIP LOCKED cannot be exercised there. This case
commits a real setup (users, accounts, activities), runs the push job in two
threads on separate connections at the same moment, checks Outlook's state,
and deletes what it committed.
"""

import threading
import unittest
from datetime import date, timedelta
from unittest.mock import patch
from urllib.parse import parse_qsl, urlsplit

import requests

from odoo import SUPERUSER_ID, api, fields
from odoo.modules.registry import Registry
from odoo.tools import config

from ..engine import pusher
from ..utils.auth import MicrosoftLogin, OrganizationLogin
from .common import (
    APPLICATION_PERMISSIONS,
    CALLBACK_PATH,
    CLIENT_ID,
    CLIENT_SECRET,
    ORG_DOMAIN,
    TENANT,
    shared_emulator,
)

PARAMS = ("client_id", "client_secret", "tenant", "login_endpoint", "graph_endpoint", "ca_bundle", "connection_mode")


class CommittedWorld:
    """Committed users, accounts and activities against an emulator; removed by ``cleanup``."""

    def __init__(self, dbname, emulator, prefix, connection_mode="user"):
        self.registry = Registry(dbname)
        self.emulator = emulator
        self.prefix = prefix
        self.connection_mode = connection_mode  # "organization": the application connects mailboxes (O1)
        self.user_ids, self.saved_params = [], {}

    def env(self, cr):
        return api.Environment(cr, SUPERUSER_ID, {})

    def configure(self):
        state = self.emulator.state
        state.reset()
        state.register_app(CLIENT_ID, CLIENT_SECRET, application_permissions=APPLICATION_PERMISSIONS)
        state.grant_admin_consent(CLIENT_ID)
        OrganizationLogin.forget_all()  # the emulator was reset: no application token survives it
        values = {
            "connection_mode": self.connection_mode,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "tenant": TENANT,
            "login_endpoint": self.emulator.base_url,
            "graph_endpoint": self.emulator.graph_url,
            "ca_bundle": self.emulator.ca_path,
        }
        with self.registry.cursor() as cr:
            params = self.env(cr)["ir.config_parameter"]
            for key in PARAMS:
                self.saved_params[key] = params.get_param(f"o365_calendar_sync.{key}")
                params.set_param(f"o365_calendar_sync.{key}", values[key])

    def connected_user(self, login):
        upn = f"{login}@{ORG_DOMAIN}"
        self.emulator.state.add_user(upn, display_name=login.title())
        with self.registry.cursor() as cr:
            env = self.env(cr)
            user = env["res.users"].create({"name": login.title(), "login": login, "email": upn, "tz": "UTC"})
            self.user_ids.append(user.id)
            account = env["o365.sync.account"]._for_user(user)
            if self.connection_mode == "organization":
                assert account._connect_through_organization()[account] is None
                account.sudo().write(
                    {"sync_state": "running", "sync_started_at": fields.Datetime.now() - timedelta(hours=1)}
                )
                return user.id, upn
            login_session = MicrosoftLogin(env["o365.config"].azure_app())
            flow = login_session.begin(redirect_uri=f"http://127.0.0.1:8069{CALLBACK_PATH}", login_hint=upn)
            form = dict(parse_qsl(urlsplit(flow["auth_uri"]).query), login=upn, consent="accept")
            answer = requests.post(
                flow["auth_uri"].split("?")[0],
                data=form,
                allow_redirects=False,
                timeout=10,
                verify=self.emulator.ca_path,
            )
            login_session.complete(flow, dict(parse_qsl(urlsplit(answer.headers["Location"]).query)))
            account.sudo().write(
                {
                    "token_cache": login_session.serialized_cache(),
                    "connection_state": "connected",
                    "mailbox_address": upn,
                    "sync_state": "running",
                    "sync_started_at": fields.Datetime.now() - timedelta(hours=1),
                }
            )
        return user.id, upn

    def schedule_tasks(self, user_id, count, summary="Task"):
        with self.registry.cursor() as cr:
            env = self.env(cr)
            partner = env["res.users"].browse(user_id).partner_id
            todo = env.ref("mail.mail_activity_data_todo")
            # One create per activity: Odoo's batch create subscribes the same follower twice.
            activities = env["mail.activity"]
            for values in [
                {
                    "res_model_id": env["ir.model"]._get_id("res.partner"),
                    "res_id": partner.id,
                    "activity_type_id": todo.id,
                    "summary": f"{summary} {i}",
                    "user_id": user_id,
                    "date_deadline": date(2032, 1, 1) + timedelta(days=i % 300),
                }
                for i in range(count)
            ]:
                activities |= env["mail.activity"].create(values)
            return activities.ids

    def write_tasks(self, activity_ids, summary):
        with self.registry.cursor() as cr:
            activities = self.env(cr)["mail.activity"].browse(activity_ids)
            for activity in activities:
                activity.write({"summary": f"{summary} {activity.id}"})

    def push(self):
        with self.registry.cursor() as cr:
            return pusher.push_due(self.env(cr), cursor_factory=self.registry.cursor)

    def count(self, model, domain):
        with self.registry.cursor() as cr:
            return self.env(cr)[model].search_count(domain)

    def cleanup(self):
        with self.registry.cursor() as cr:
            env = self.env(cr)
            users = env["res.users"].browse(self.user_ids).exists()
            accounts = env["o365.sync.account"].search([("user_id", "in", users.ids)])
            env["mail.activity"].with_context(o365_activity_done=True).search([("user_id", "in", users.ids)]).unlink()
            env["o365.push.queue"].search([("account_id", "in", accounts.ids)]).unlink()
            env["o365.event.link"].search([("account_id", "in", accounts.ids)]).unlink()
            accounts.unlink()
            for user in users:
                user.write({"active": False, "login": f"{user.login}-removed"})
            params = env["ir.config_parameter"]
            for key, value in self.saved_params.items():
                params.set_param(f"o365_calendar_sync.{key}", value or False)


class TestPushConcurrency(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.emulator = shared_emulator()
        cls.world = CommittedWorld(config["db_name"].split(",")[0], cls.emulator, "h5conc")
        cls.world.configure()
        cls.addClassCleanup(cls.world.cleanup)

    def test_two_workers_never_push_twice(self):
        """E6: two workers running the push job at once (separate connections) push every change exactly
        once, mailbox by mailbox (advisory lock) and row by row (FOR UPDATE SKIP LOCKED)."""
        stamp = fields.Datetime.now().strftime("%H%M%S%f")
        mailboxes = [self.world.connected_user(f"h5conc{stamp}{n}") for n in range(3)]
        tasks = {upn: self.world.schedule_tasks(uid, 30) for uid, upn in mailboxes}
        self.emulator.state.clear_requests()

        barrier, results, errors = threading.Barrier(2), [], []

        def worker():
            try:
                barrier.wait(10)
                results.append(self.world.push())
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        self.assertEqual(errors, [])
        self.assertEqual(sum(r["pushed"] for r in results), 90)

        posts = [r for r in self.emulator.state.request_stats()["requests"] if r["method"] == "POST" and r["inBatch"]]
        self.assertEqual(len(posts), 90, "one create per activity: no double push")
        statuses = {r["status"] for r in self.emulator.state.request_stats()["requests"]}
        self.assertNotIn(429, statuses, "Graph's per-mailbox concurrency limit was respected")
        for upn, ids in tasks.items():
            events = self.emulator.state.events_raw(upn)
            self.assertEqual(len(events), 30)
            self.assertEqual(len({e["subject"] for e in events}), 30)
            self.assertEqual(
                self.world.count("o365.event.link", [("res_model", "=", "mail.activity"), ("res_id", "in", ids)]), 30
            )

    def test_round_trips_of_different_mailboxes_overlap(self):
        """E6: one run of the push job overlaps the Graph round trips of different mailboxes (a bounded
        pool of mailboxes in flight), never more than one $batch at a time per mailbox; the emulator's
        request log shows the overlap (a mailbox-after-mailbox job never has two batches in flight)."""
        stamp = fields.Datetime.now().strftime("%H%M%S%f")
        mailboxes = [self.world.connected_user(f"h5ovl{stamp}{n}") for n in range(6)]
        for uid, _upn in mailboxes:
            self.world.schedule_tasks(uid, 1)
        state = self.emulator.state
        state.clear_requests()
        state.add_fault(kind="latency", latency_ms=300, count=None)
        self.addCleanup(state.clear_faults)
        stats = self.world.push()
        self.assertEqual(stats["pushed"], 6)
        batches = [
            (r["time"], r["time"] + r["ms"] / 1000, r["mailbox"])
            for r in state.request_stats()["requests"]
            if r["path"].endswith("$batch")
        ]
        self.assertEqual(len(batches), 6)

        def most_in_flight(intervals):
            edges = sorted([(start, 1) for start, _end in intervals] + [(end, -1) for _start, end in intervals])
            in_flight = peak = 0
            for _moment, step in edges:
                in_flight += step
                peak = max(peak, in_flight)
            return peak

        self.assertGreaterEqual(most_in_flight([(s, e) for s, e, _m in batches]), 3, "mailboxes overlap")
        for _uid, upn in mailboxes:
            mailbox_id = state.find_mailbox(upn).id
            mine = [(s, e) for s, e, m in batches if m in (mailbox_id, upn)]
            self.assertEqual(len(mine), 1)

    def test_run_is_time_boxed_and_wakes_its_cron_for_the_rest(self):
        """E6: a push run stops taking mailboxes at its deadline (a fraction of Odoo's cron time limit,
        which covers every cron a worker runs in one pass), commits what it did, and wakes its cron
        again at once for the rest; the next runs finish it, nothing pushed twice."""
        stamp = fields.Datetime.now().strftime("%H%M%S%f")
        mailboxes = [self.world.connected_user(f"h5box{stamp}{n}") for n in range(4)]
        for uid, _upn in mailboxes:
            self.world.schedule_tasks(uid, 1)
        state = self.emulator.state
        state.add_fault(kind="latency", latency_ms=400, count=None)
        self.addCleanup(state.clear_faults)
        self._set_param("push_parallel_mailboxes", "1")
        self.addCleanup(self._set_param, "push_parallel_mailboxes", False)
        with self.world.registry.cursor() as cr:
            cron_id = self.world.env(cr).ref("o365_calendar_sync.ir_cron_o365_push").id
            cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", [cron_id])
        budget = patch("odoo.addons.o365_calendar_sync.engine.pusher.run_time_budget", return_value=0.5)
        with budget, self.world.registry.cursor() as cr:
            first = self.world.env(cr)["o365.sync.cron"]._cron_push()
        self.assertGreaterEqual(first["mailboxes"], 1)
        self.assertGreater(first["mailboxes_left"], 0, "stopped at the deadline")
        with self.world.registry.cursor() as cr:
            cr.execute(
                "SELECT count(*) FROM ir_cron_trigger WHERE cron_id = %s AND call_at <= now() at time zone 'UTC'",
                [cron_id],
            )
            self.assertEqual(cr.fetchone()[0], 1, "its cron is woken again at once")
        total = first["pushed"]
        for _run in range(4):
            total += self.world.push()["pushed"]
        self.assertEqual(total, 4, "every mailbox's change pushed once")
        for _uid, upn in mailboxes:
            self.assertEqual(len(state.events_raw(upn)), 1)

    def _set_param(self, key, value):
        with self.world.registry.cursor() as cr:
            self.world.env(cr)["ir.config_parameter"].set_param(f"o365_calendar_sync.{key}", value)


class TestPushConcurrencyOrganization(unittest.TestCase):
    """O2, E6: the same guarantees when the organisation's application connects the mailboxes and their
    changes share $batch requests."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.emulator = shared_emulator()
        cls.world = CommittedWorld(config["db_name"].split(",")[0], cls.emulator, "h5org", "organization")
        cls.world.configure()
        cls.addClassCleanup(cls.world.cleanup)

    test_two_workers_never_push_twice = TestPushConcurrency.test_two_workers_never_push_twice
