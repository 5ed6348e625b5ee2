"""odoo-bin, plus a thread that writes the server's own counters to a JSON file.

The latency benchmark starts real Odoo (``--workers=0``: HTTP threads and cron
threads in this one process) through this wrapper, so it can read how much CPU,
memory and SQL that server spent, which no outside tool sees per process this
precisely. Usage: ``python bench/odoo_server.py STATS_FILE [odoo-bin options]``.
"""

import json
import os
import resource
import sys
import threading
import time

os.environ["TZ"] = "UTC"  # as odoo-bin does, before anything imports time-zone data

import odoo


def write_stats(path):
    while True:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        stats = {
            "time": time.time(),
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024,
            "sql_queries": odoo.sql_db.sql_counter,
        }
        with open(path + ".tmp", "w") as f:
            json.dump(stats, f)
        os.replace(path + ".tmp", path)
        time.sleep(0.1)


if __name__ == "__main__":
    stats_path = sys.argv.pop(1)
    threading.Thread(target=write_stats, args=(stats_path,), daemon=True, name="bench-stats").start()
    odoo.cli.main()
