"""Benchmark: 1,000 new Outlook events of one user (half with a matching contact) into Odoo.

Runs on real Odoo against the Graph emulator over real HTTP, like the tests:

    cd $ADDONS_DIR && $PY -m pytest -q -s -p no:warnings --odoo-config=$ODOO_CONF \
        --odoo-database=$DB --odoo-http $ADDONS_DIR/o365_calendar_sync/bench/pull_ingest.py

Prints the Graph requests, SQL queries per delta page, seconds to ingest, and the
median delay from an Outlook change to the updated Odoo record.
"""

import statistics
import time
from datetime import UTC, datetime, timedelta

from odoo.tests import tagged

from ..engine import pull_pages
from ..tests.common import CUSTOMER, ORG_DOMAIN, PullCase, attendee, graph_time

EVENTS = 1000
CHANGES = 20


@tagged("o365_bench", "-standard", "-at_install", "post_install")
class TestPullIngestBench(PullCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = cls._connected_user("bench_h6", tz="Europe/London")
        cls.upn = f"bench_h6@{ORG_DOMAIN}"

    def test_ingest_1000(self):
        state = self.emulator.state
        self.run_pull_cron()  # first round done: only new events below
        base = datetime.now(UTC).replace(tzinfo=None, microsecond=0, second=0) + timedelta(days=1)
        with state.act_as(self.upn) as outlook:
            for n in range(EVENTS):
                start = base + timedelta(hours=n)
                who = f"carol@{CUSTOMER}" if n % 2 == 0 else f"stranger{n}@unknown.example"
                outlook.create_event(
                    {
                        "subject": f"Bench {n}",
                        "start": graph_time(start),
                        "end": graph_time(start + timedelta(minutes=30)),
                        "attendees": [attendee(who)],
                    }
                )
        started = time.monotonic()
        sent = self.delivered()
        notify_seconds = time.monotonic() - started
        log = state.notification_log
        slowest = max(a["seconds"] for e in log for a in e["attempts"])
        pending = self.pending_pulls()

        original = pull_pages.PullPages.ingest_page
        per_page = []
        cr = self.env.cr

        original_directory = pull_pages.contact_directory
        directory_calls = []

        def counted_directory(env, addresses):
            before = cr.sql_log_count
            result = original_directory(env, addresses)
            directory_calls.append(cr.sql_log_count - before)
            return result

        def counted(self_, account, page, client=None):
            before = cr.sql_log_count
            result = original(self_, account, page, client)
            per_page.append((len(page), cr.sql_log_count - before))
            return result

        state.clear_requests()
        pull_pages.PullPages.ingest_page = counted
        pull_pages.contact_directory = counted_directory
        try:
            started = time.monotonic()
            self.env.invalidate_all()
            self.env["o365.sync.cron"]._cron_pull()
            ingest_seconds = time.monotonic() - started
        finally:
            pull_pages.PullPages.ingest_page = original
            pull_pages.contact_directory = original_directory
        stats = state.request_stats()
        logged = self.env["calendar.event"].search_count([("name", "=like", "Bench %")])
        self.assertEqual(logged, EVENTS // 2)

        # Outlook change -> notification -> queued pull -> Odoo record, one change at a time.
        delays = []
        events = state.find_events(self.upn)[:CHANGES]
        for n, event in enumerate(events):
            t0 = time.monotonic()
            self.outlook_update(self.upn, event["id"], {"location": {"displayName": f"Room {n}"}})
            self.delivered()
            self.env.invalidate_all()
            self.env["o365.sync.cron"]._cron_pull()
            delays.append(time.monotonic() - t0)

        queries = [q for _n, q in per_page]
        print("\n=== pull_ingest benchmark ===")
        print(f"events created in Outlook: {EVENTS} ({EVENTS // 2} with a matching contact)")
        print(
            f"notifications: {sent} posted in {len(log)} requests, {notify_seconds:.2f} s,"
            f" slowest answer {slowest:.3f} s"
        )
        print(f"queued pulls after the storm: {pending}")
        print(f"Graph requests for the pull: {stats['total']} {stats['byEndpoint']}")
        print(f"delta pages: {len(per_page)} (sizes {[n for n, _q in per_page]})")
        print(f"SQL queries per page: min {min(queries)} median {statistics.median(queries)} max {max(queries)}")
        print(
            f"contact/user lookups: {len(directory_calls)} for {len(per_page)} pages,"
            f" {max(directory_calls)} SQL query each"
        )
        print(f"SQL queries per logged meeting: {sum(queries) / max(1, logged):.1f}")
        print(f"seconds to ingest: {ingest_seconds:.2f} ({EVENTS / ingest_seconds:.0f} events/s)")
        print(f"meetings logged: {logged}")
        print(
            f"Outlook change -> Odoo record over {len(delays)} changes:"
            f" median {statistics.median(delays) * 1000:.0f} ms,"
            f" max {max(delays) * 1000:.0f} ms"
        )
