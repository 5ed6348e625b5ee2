"""E6 with real concurrency: two workers, each with its own database connection.

Odoo's test classes run inside one uncommitted transaction that every cursor
shares, so row locks and SKIP LOCKED cannot be exercised there. This case
commits a real setup (users, accounts, activities), runs the push job in two
threads on separate connections at the same moment, checks Outlook's state,
and deletes what it committed.
"""

import threading
import unittest
from unittest.mock import patch

from odoo import fields
from odoo.tools import config

from .common import (
    CommittedWorld,
    shared_emulator,
)


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
