"""Push throughput: 1,000 activity changes of one user against the Graph emulator.

Usage (from the repository root, after `source tools/env.sh`):
    $PY bench/push_throughput.py -d o365_h5 [-n 1000]
Commits a throw-away user and its activities in that database, measures the
push job, prints the numbers, and removes what it made.
"""

import argparse
import platform
import sys
import time

import odoo
from odoo.tools import config


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument("-n", "--changes", type=int, default=1000)
    parser.add_argument("-c", "--config", default=None)
    args = parser.parse_args()
    config.parse_config(["-c", args.config] if args.config else [])
    config["db_name"] = args.database
    odoo.service.server.load_server_wide_modules()

    from odoo.addons.o365_calendar_sync.tests.common import CommittedWorld, shared_emulator

    emulator = shared_emulator()
    world = CommittedWorld(args.database, emulator, "bench")
    world.configure()
    try:
        user_id, upn = world.connected_user(f"bench{int(time.time())}")
        started = time.perf_counter()
        ids = world.schedule_tasks(user_id, args.changes, summary="Bench")
        save_s = time.perf_counter() - started
        for label, action in (("create", None), ("update", "Bench edited")):
            if action:
                world.write_tasks(ids, action)
            emulator.state.clear_requests()
            started = time.perf_counter()
            stats = world.push()
            push_s = time.perf_counter() - started
            requests_ = emulator.state.request_stats()["requests"]
            http = [r for r in requests_ if not r["inBatch"]]
            items = [r for r in requests_ if r["inBatch"]]
            print(
                f"{label}: {stats['pushed']} changes pushed in {push_s:.2f}s = "
                f"{stats['pushed'] / push_s:.1f} pushes/s; "
                f"{len(http)} HTTP requests to Graph ({len(http) / max(stats['pushed'], 1):.3f} per change), "
                f"{len(items)} Graph operations inside $batch"
            )
        print(f"saving {args.changes} activities (queueing included): {save_s:.2f}s")
        assert len(emulator.state.events_raw(upn)) == args.changes, "every change arrived exactly once"
        print(
            f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
            f"python {sys.version.split()[0]}"
        )
    finally:
        world.cleanup()
        emulator.stop()


if __name__ == "__main__":
    main()
