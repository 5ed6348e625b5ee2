"""How a run of the push or the pull job goes: which mailboxes, how many at once, for how
long (SPEC E1, E3, E6, E7). The jobs themselves are ``PushRunner`` (engine/pusher.py) and
``PullRunner`` (engine/importer.py); this is the loop they share. One run:

1. **claim** the mailboxes of this shard that have due work, the longest waiting first,
   so the tail is never starved;
2. work on each mailbox in a bounded pool of threads, so that the Graph round trips of
   different mailboxes overlap (one request at a time per mailbox, well under Graph's
   4 concurrent requests per mailbox), each under the mailbox's advisory lock (another
   worker or server on it already: skip) and in transactions of its own, so a killed
   run loses at most the round in flight;
3. stop taking mailboxes at the run's deadline, well under Odoo's cron time limit, and
   wake the cron again for what is left (``run_again_soon``).

Several shard crons split the mailboxes (``account id % shards``), so that more cron
threads and more Odoo servers each take a shard and add throughput.
"""

import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from odoo import SUPERUSER_ID, api
from odoo.tools import config

_logger = logging.getLogger(__name__)

SHARDS = 4  # the crons of data/push_cron_data.xml and data/pull_cron_data.xml
PUSH_CRON_XMLIDS = (
    "o365_calendar_sync.ir_cron_o365_push",
    *(f"o365_calendar_sync.ir_cron_o365_push_shard_{k}" for k in range(1, SHARDS)),
)
PULL_CRON_XMLIDS = (
    "o365_calendar_sync.ir_cron_o365_pull",
    *(f"o365_calendar_sync.ir_cron_o365_pull_shard_{k}" for k in range(1, SHARDS)),
)
# Advisory-lock classes for "a worker is on this mailbox": one pusher and one puller per
# mailbox whatever the number of Odoo workers, without locking any table row (a user's
# save, or the other job, never waits for Graph).
PUSH_LOCK_CLASS = 365_001
PULL_LOCK_CLASS = 365_002


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


def run_again_soon(env, cron_xmlid):
    """Mailboxes were left at the deadline: wake this cron again at once.

    A trigger, not ``ir.cron._notify_progress``: Odoo re-runs a job that reports remaining
    work up to ten times within the same cron-worker pass, and the cron time limit covers
    that whole pass, so those re-runs would add up past it. A trigger is taken at the next
    pass, by this worker or another one."""
    cron = env.ref(cron_xmlid, raise_if_not_found=False)
    if cron:
        cron.sudo()._trigger()


def mailbox_lock(cr, lock_class, account_id):
    """Take the mailbox's advisory lock for this transaction; False if another worker has it."""
    cr.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [lock_class, account_id])
    return cr.fetchone()[0]


class MailboxRunner:
    """One run of a job over the due mailboxes of one shard.

    ``cursor_factory`` makes the run's cursors (default: new cursors of the registry),
    ``parallel`` bounds the mailboxes in flight, ``time_budget`` (s) bounds the run.
    Subclasses say which mailboxes are due and what to do with one.
    """

    def __init__(self, registry, *, cursor_factory=None, shard=0, shards=1, parallel=16, time_budget=60.0):
        self.registry = registry
        self.cursor = cursor_factory or registry.cursor
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
            except Exception:
                # One mailbox's trouble never stalls the others (E6); its work stays queued.
                _logger.exception("o365 %s for sync account(s) %s failed; will retry", self.job, unit)
                self.count(crashed=1)

        if self.parallel == 1 or len(units) <= 1:
            for unit in units:
                work(unit)
        else:
            with ThreadPoolExecutor(self.parallel, thread_name_prefix=f"o365-{self.job}") as pool:
                list(pool.map(work, units))
        self.stats["mailboxes"] = sum(started)
        self.stats["mailboxes_left"] = sum(map(len, units)) - sum(started)
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

    def due_work(self, cr):
        """Units of work: tuples of account ids, worked on together (most hold one)."""
        return [(account_id,) for account_id in self.due_mailboxes(cr)]

    def due_mailboxes(self, cr):
        raise NotImplementedError

    def work_on(self, account_id):
        raise NotImplementedError

    def work_on_group(self, account_ids):
        raise NotImplementedError
