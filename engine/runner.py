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
from datetime import timedelta

from odoo import SUPERUSER_ID, api, fields
from odoo.tools import config

from .locks import is_race, job_cursor

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
# A mailbox whose run lost a race (engine/locks.py) is taken again this soon, by a trigger
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


def run_again_soon(env, cron_xmlid):
    """Mailboxes were left at the deadline: wake this cron again at once.

    A trigger, not ``ir.cron._notify_progress``: Odoo re-runs a job that reports remaining
    work up to ten times within the same cron-worker pass, and the cron time limit covers
    that whole pass, so those re-runs would add up past it. A trigger is taken at the next
    pass, by this worker or another one."""
    cron = env.ref(cron_xmlid, raise_if_not_found=False)
    if cron:
        cron.sudo()._trigger()


def run_again_at(env, cron_xmlid, seconds):
    """Wake this cron in ``seconds`` (a trigger row, committed with the caller's transaction)."""
    cron = env.ref(cron_xmlid, raise_if_not_found=False)
    if cron:
        cron.sudo()._trigger(fields.Datetime.now() + timedelta(seconds=seconds))


def mailbox_session_lock(cr, lock_class, account_id):
    """Take the mailbox's advisory lock for the cursor's session, across the commits of its
    transactions (the pull commits step by step); False if another worker has it. Released by
    ``mailbox_session_unlock``."""
    cr.execute("SELECT pg_try_advisory_lock(%s, %s)", [lock_class, account_id])
    return cr.fetchone()[0]


def mailbox_session_unlock(cr, lock_class, account_id):
    cr.execute("SELECT pg_advisory_unlock(%s, %s)", [lock_class, account_id])


def mailbox_lock(cr, lock_class, account_id):
    """Take the mailbox's advisory lock for this transaction; False if another worker has it."""
    cr.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [lock_class, account_id])
    return cr.fetchone()[0]


class MailboxRunner:
    """One run of a job over the due mailboxes of one shard.

    ``cursor_factory`` makes the run's cursors (default: new cursors of the registry), each
    in READ COMMITTED (engine/locks.py says why),
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
        self.stats["mailboxes"] = sum(started)
        self.stats["mailboxes_left"] = sum(map(len, units)) - sum(started)
        if self.stats["raced"] and self.cron_xmlids:
            with self.cursor() as cr:
                run_again_at(self.env(cr), self.cron_xmlids[self.shard % len(self.cron_xmlids)], RACE_RETRY_SECONDS)
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
