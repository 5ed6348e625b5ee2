"""How a run of the push or the pull job goes: which mailboxes, how many at once, for how
long (SPEC E1, E3, E6, E7). The jobs themselves are ``PushRunner`` (engine/pusher.py) and
``PullRunner`` (engine/importer.py); this is the loop they share. One run:

1. **claim** the mailboxes of this shard that have due work, the longest waiting first,
   so the tail is never starved;
2. work on each mailbox in a bounded pool of threads, so that the Graph round trips of
   different mailboxes overlap (one request at a time per mailbox, well under Graph's
   4 concurrent requests per mailbox), each under the mailbox's advisory lock (utils/locks.py; another
   worker or server on it already: skip) and in transactions of its own, so a killed
   run loses at most the round in flight;
3. stop taking mailboxes at the run's deadline, well under Odoo's cron time limit, and
   wake the cron again for what is left (engine/cron.py).

Several shard crons split the mailboxes (``account id % shards``, utils/crons.py), so that
more cron threads and more Odoo servers each take a shard and add throughput.
"""

import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from odoo import SUPERUSER_ID, api
from odoo.tools import config

from ..utils.crons import wake_cron_in
from ..utils.locks import is_race, job_cursor

_logger = logging.getLogger(__name__)

# A mailbox whose run lost a race (utils/locks.py) is taken again this soon, by a trigger
# of its shard's cron: well within the minute, never left for the 15-minute safety net.
RACE_RETRY_SECONDS = 20


def run_time_budget():
    """Seconds one job run may take.

    Odoo's cron time limit (``limit_time_real_cron``, else ``limit_time_real``: 120 s by
    default) covers everything one cron worker runs in one go: every cron that is ready,
    one after the other. Our eight crons (four push, four pull shards) may all be ready at
    once, so each gets a tenth of the limit, at most 30 s: a run always ends, and commits,
    before Odoo would kill it (measured on real servers: bench/REPORT.md)."""
    limit = config.get("limit_time_real_cron") or 0
    if limit <= 0:
        limit = config.get("limit_time_real") or 120
    return min(30.0, limit / 10)


class MailboxRunner:
    """One run of a job over the due mailboxes of one shard.

    ``cursor_factory`` makes the run's cursors (default: new cursors of the registry), each
    in READ COMMITTED (utils/locks.py says why),
    ``parallel`` bounds the mailboxes in flight, ``time_budget`` (s) bounds the run.
    Subclasses say which mailboxes are due and what to do with one.
    """

    def __init__(self, registry, *, cursor_factory=None, shard=0, shards=1, parallel=16, time_budget=60.0):
        self.registry = registry
        factory = cursor_factory or registry.cursor
        self.cursor = lambda: job_cursor(factory)
        self.shard, self.shards = shard, max(shards, 1)
        self.parallel = max(parallel, 1)
        self.deadline = time.monotonic() + time_budget
        self.stats = Counter()
        self._stats_lock = threading.Lock()

    def run(self):
        """Work on what is due; returns the counters (..., mailboxes, mailboxes_left)."""
        with self.cursor() as cr:
            units = self.due_work(cr)
        started = []

        def work(unit):
            if self.past_deadline():
                return  # the next run takes it
            started.append(len(unit))
            try:
                self.work_on(unit[0]) if len(unit) == 1 else self.work_on_group(unit)
            except Exception as exc:
                if is_race(exc):
                    # Another transaction wrote the same rows first: an expected race, rolled
                    # back whole; the mailbox's work stays queued and is taken again soon.
                    _logger.info("o365 %s for sync account(s) %s met a concurrent change; again in %s s (%s)",
                                 self.job, unit, RACE_RETRY_SECONDS, type(exc).__name__)  # fmt: skip
                    self.count(raced=1)
                    return
                # One mailbox's trouble never stalls the others (E6); its work stays queued.
                _logger.exception("o365 %s for sync account(s) %s failed; will retry", self.job, unit)
                self.count(crashed=1)

        if self.parallel == 1 or len(units) <= 1:
            for unit in units:
                work(unit)
        else:
            with ThreadPoolExecutor(self.parallel, thread_name_prefix=f"o365-{self.job}") as pool:
                list(pool.map(work, units))
        # A group stops at the deadline too (between its mailboxes): what it left counts as left.
        self.stats["mailboxes"] = sum(started) - self.stats["unfinished"]
        self.stats["mailboxes_left"] = sum(map(len, units)) - sum(started) + self.stats["unfinished"]
        if self.stats["raced"] and self.cron_xmlids:
            with self.cursor() as cr:
                wake_cron_in(self.env(cr), self.cron_xmlids[self.shard % len(self.cron_xmlids)], RACE_RETRY_SECONDS)
        return self.stats

    def past_deadline(self):
        return time.monotonic() >= self.deadline

    def count(self, **counts):
        with self._stats_lock:
            self.stats.update(counts)

    def env(self, cr):
        return api.Environment(cr, SUPERUSER_ID, {})

    # -- what subclasses say ---------------------------------------------------------------

    job = "job"
    cron_xmlids = ()  # the shard crons woken again after a race

    def due_work(self, cr):
        """Units of work: tuples of account ids, worked on together (most hold one)."""
        return [(account_id,) for account_id in self.due_mailboxes(cr)]

    def due_mailboxes(self, cr):
        raise NotImplementedError

    def work_on(self, account_id):
        raise NotImplementedError

    def work_on_group(self, account_ids):
        raise NotImplementedError
