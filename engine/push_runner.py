"""The push job's runner: which mailboxes, how many at once, for how long (SPEC E1, E2, E6, E7).

A plain piece, apart from the queue table (``o365.push.queue`` knows what one row
asks of Graph and what an answer means for it) and from the account record. One
run:

1. **claim** the mailboxes of this shard that have due changes, the longest
   waiting first, so the tail is never starved;
2. for each mailbox, in a bounded pool of threads (Graph round trips of
   different mailboxes overlap; one round at a time per mailbox, well under
   Graph's 4 concurrent requests per mailbox), take the mailbox's advisory lock
   (another worker or server already on it: skip) and run rounds:
   **plan** (claim up to 20 rows, build their requests), **commit** (release the
   row locks), **send** (one ``$batch``), **settle** (apply the answers), each
   round committed on its own, so a killed run loses at most the round in flight;
3. stop taking mailboxes at the run's deadline, well under Odoo's cron time
   limit, and tell Odoo's cron runner what is left (``_notify_progress``): it
   runs the job again at once.

Several shard crons split the mailboxes (``account id % shards``), so that more
cron threads and more Odoo servers each take a shard and add throughput.
"""

import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from odoo import SUPERUSER_ID, api, fields

_logger = logging.getLogger(__name__)

# Advisory-lock class for "a worker is pushing to this mailbox": one worker per
# mailbox keeps Graph's per-mailbox concurrency (4) safe whatever the number of
# Odoo workers, and never blocks a user's save (it locks no table row).
MAILBOX_LOCK_CLASS = 365_001
MAX_ROUNDS = 500  # batches per mailbox per run; the next run goes on from there
# The push crons of data/push_cron_data.xml: shard k is sync account id % PUSH_SHARDS == k.
PUSH_SHARDS = 4
PUSH_CRON_XMLIDS = (
    "o365_calendar_sync.ir_cron_o365_push",
    *(f"o365_calendar_sync.ir_cron_o365_push_shard_{k}" for k in range(1, PUSH_SHARDS)),
)


class PushRunner:
    """One run of the push job over the due mailboxes of one shard.

    ``cursor_factory`` makes the run's cursors (default: new cursors of the
    registry), ``parallel`` bounds the mailboxes in flight, ``time_budget`` (s)
    bounds the run.
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
        """Push what is due; returns the counters (pushed, failed, ..., mailboxes_left)."""
        account_ids = self._due_mailboxes()
        started = set()

        def push(account_id):
            if time.monotonic() >= self.deadline:
                return  # past the deadline: the next run takes it
            started.add(account_id)
            try:
                self._push_mailbox(account_id)
            except Exception:
                # One mailbox's trouble never stalls the others (E6); its rows stay queued.
                _logger.exception("Outlook push for sync account %s failed; will retry", account_id)
                self._count(crashed=1)

        if self.parallel == 1 or len(account_ids) <= 1:
            for account_id in account_ids:
                push(account_id)
        else:
            with ThreadPoolExecutor(self.parallel, thread_name_prefix="o365-push") as pool:
                list(pool.map(push, account_ids))
        self.stats["mailboxes"] = len(started)
        self.stats["mailboxes_left"] = len(account_ids) - len(started)
        return self.stats

    def _due_mailboxes(self):
        with self.cursor() as cr:
            cr.execute(
                """SELECT q.account_id FROM o365_push_queue q
                   JOIN o365_sync_account a ON a.id = q.account_id
                   WHERE q.state = 'pending' AND q.next_attempt_at <= %s
                     AND a.sync_state = 'running' AND a.connection_state = 'connected'
                     AND q.account_id %% %s = %s
                   GROUP BY q.account_id
                   ORDER BY min(q.next_attempt_at), q.account_id""",
                [fields.Datetime.now(), self.shards, self.shard],
            )
            return [row[0] for row in cr.fetchall()]

    def _push_mailbox(self, account_id):
        with self.cursor() as lock_cr:
            lock_cr.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [MAILBOX_LOCK_CLASS, account_id])
            if not lock_cr.fetchone()[0]:
                self._count(mailbox_busy=1)
                return
            for _round in range(MAX_ROUNDS):
                if time.monotonic() >= self.deadline or not self._round(account_id):
                    break

    def _round(self, account_id):
        """Plan, commit, send, settle one $batch of this mailbox; True when another may follow."""
        stats = Counter()
        try:
            with self.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                return env["o365.push.queue"]._push_round(account_id, stats)
        finally:
            self._count(**stats)

    def _count(self, **counts):
        with self._stats_lock:
            self.stats.update(counts)
