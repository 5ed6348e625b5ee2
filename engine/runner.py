"""The runners of the push and pull jobs: which mailboxes, how many at once, for how long
(SPEC E1, E3, E6, E7).

Plain pieces, apart from the queue tables and from the account record (the models know
what one queue row asks of Graph and what an answer means for it). One run:

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

The push, per mailbox, runs rounds: **plan** (claim up to 20 rows, build their
requests), **commit** (release the row locks), **send** (one ``$batch``), **settle**
(apply the answers), each committed on its own. Mailboxes that the organisation's
application connects (SPEC O2) share their rounds: up to 20 of them work together, and
one ``$batch`` carries the changes of several of them, at most 4 per mailbox. The pull,
per mailbox, runs what the notifications and the safety net queued (delta rounds,
subscription changes).
"""

import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from odoo import SUPERUSER_ID, api, fields
from odoo.tools import config

from . import importer

_logger = logging.getLogger(__name__)

MAX_ROUNDS = 500  # push batches per mailbox per run; the next run goes on from there
# Mailboxes of the organisation's application whose changes share one $batch (O2), and
# the changes of one mailbox in such a batch: Graph runs a batch's items concurrently,
# and Outlook allows 4 requests in flight per mailbox.
SHARED_BATCH_MAILBOXES = 20
SHARED_BATCH_PER_MAILBOX = 4
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


class PushRunner(MailboxRunner):
    """The push job: ERP changes waiting in ``o365.push.queue`` go out as ``$batch`` rounds."""

    job = "push"

    def due_work(self, cr):
        """Mailboxes with due changes, the longest waiting first: each on its own, except those
        of the organisation's application, which share batches in groups (O2)."""
        cr.execute(
            """SELECT q.account_id, a.connected_by = 'organization' FROM o365_push_queue q
               JOIN o365_sync_account a ON a.id = q.account_id
               WHERE q.state = 'pending' AND q.next_attempt_at <= %s
                 AND a.sync_state = 'running' AND a.connection_state = 'connected'
                 AND mod(q.account_id, %s) = %s
               GROUP BY q.account_id, a.connected_by
               ORDER BY min(q.next_attempt_at), q.account_id""",
            [fields.Datetime.now(), self.shards, self.shard],
        )
        rows = cr.fetchall()
        shared = [account_id for account_id, organization in rows if organization]
        units = [(account_id,) for account_id, organization in rows if not organization]
        groups = [tuple(shared[i : i + SHARED_BATCH_MAILBOXES]) for i in range(0, len(shared), SHARED_BATCH_MAILBOXES)]
        # The oldest waiting work first, whichever kind.
        order = {account_id: rank for rank, (account_id, _org) in enumerate(rows)}
        return sorted(units + groups, key=lambda unit: order[unit[0]])

    def work_on(self, account_id):
        with self.cursor() as lock_cr:
            if not mailbox_lock(lock_cr, PUSH_LOCK_CLASS, account_id):
                self.count(mailbox_busy=1)
                return
            for _round in range(MAX_ROUNDS):
                if self.past_deadline() or not self._round([account_id], batch_per_mailbox=None):
                    break

    def work_on_group(self, account_ids):
        """Mailboxes of the organisation's application: their changes share each $batch (O2)."""
        with self.cursor() as lock_cr:
            mine = [account_id for account_id in account_ids if mailbox_lock(lock_cr, PUSH_LOCK_CLASS, account_id)]
            self.count(mailbox_busy=len(account_ids) - len(mine))
            for _round in range(MAX_ROUNDS):
                if not mine or self.past_deadline() or not self._round(mine, SHARED_BATCH_PER_MAILBOX):
                    break

    def _round(self, account_ids, batch_per_mailbox):
        """Plan, commit, send, settle one $batch of these mailboxes; True when another may follow."""
        stats = Counter()
        try:
            with self.cursor() as cr:
                return self.env(cr)["o365.push.queue"]._push_round(account_ids, stats, batch_per_mailbox)
        finally:
            self.count(**stats)


class PullRunner(MailboxRunner):
    """The pull job: what notifications and the safety net queued (``o365.pull.request``)
    and subscriptions that Stop or Disconnect left to remove, one mailbox at a time each,
    every mailbox in a transaction of its own (engine/importer.py does one mailbox)."""

    job = "pull"

    def due_mailboxes(self, cr):
        importer.queue_safety_pulls(self.env(cr), self.shard, self.shards)
        cr.execute(
            """SELECT a.id FROM o365_sync_account a
               LEFT JOIN o365_pull_request r ON r.account_id = a.id
               WHERE (r.id IS NOT NULL OR a.subscription_to_remove IS NOT NULL)
                 AND mod(a.id, %s) = %s
               GROUP BY a.id
               ORDER BY min(r.requested_at) NULLS FIRST, a.id""",
            [self.shards, self.shard],
        )
        return [row[0] for row in cr.fetchall()]

    def work_on(self, account_id):
        with self.cursor() as cr:
            if not mailbox_lock(cr, PULL_LOCK_CLASS, account_id):
                self.count(mailbox_busy=1)
                return
            env = self.env(cr)
            if importer.Importer(env).run(env["o365.sync.account"].browse(account_id)):
                self.count(pulled=1)
