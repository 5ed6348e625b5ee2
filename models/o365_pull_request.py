import logging

from odoo import api, fields, models
from odoo.tools import SQL

from ..engine.importer import PullRunner
from ..engine.runner import PULL_CRON_XMLIDS, SHARDS, run_again_soon, run_time_budget
from ..utils.settings import read_int

_logger = logging.getLogger(__name__)

KINDS = [
    ("pull", "Pull changes"),
    ("safety", "Safety-net pull"),
    ("resync", "Full resync"),
    ("renew", "Renew subscription"),
    ("recreate", "Recreate subscription"),
]


class O365PullRequest(models.Model):
    """Work the notification controller leaves for the pull job (SPEC E3), and the pull
    job's entry points: queueing and waking (``_queue``, ``_wake``) and its cron
    (``_cron_pull``), as ``o365.push.queue`` has them for the push.

    Kept out of the account row on purpose: a webhook must never wait for a pull
    that writes that row. One row per (account, kind), so a storm of notifications
    is one pending pull.
    """

    _name = "o365.pull.request"
    _description = "Pending Outlook Pull"
    _log_access = False

    account_id = fields.Many2one("o365.sync.account", required=True, ondelete="cascade", index=True)
    kind = fields.Selection(KINDS, required=True, default="pull")
    requested_at = fields.Datetime(required=True, default=fields.Datetime.now)

    _sql_constraints = [
        ("account_kind_unique", "UNIQUE(account_id, kind)", "One pending request of a kind per account.")
    ]

    # -- queueing (inside the caller's transaction; never calls Graph) ---------------------

    @api.model
    def _queue(self, account_ids, kind="pull", wake=True):
        """Queue a request of this kind for these accounts; return the ids of accounts that had
        no such request pending yet. ``wake``: wake the pull crons of those accounts' shards
        right after commit (a pull run queueing more work leaves it to the next run)."""
        if not account_ids:
            return []
        self.env.cr.execute(
            SQL(
                """INSERT INTO o365_pull_request (account_id, kind, requested_at)
                   SELECT unnest(%s::int[]), %s, now() at time zone 'UTC'
                   ON CONFLICT (account_id, kind) DO NOTHING
                   RETURNING account_id""",
                list(account_ids),
                kind,
            )
        )
        new = [row[0] for row in self.env.cr.fetchall()]
        if wake:
            self._wake(new)
        return new

    @api.model
    def _wake(self, account_ids):
        """Wake the pull crons of these accounts' shards, right after commit."""
        for shard in {account_id % SHARDS for account_id in account_ids}:
            cron = self.env.ref(PULL_CRON_XMLIDS[shard], raise_if_not_found=False)
            if cron:
                cron.sudo()._trigger()

    @api.model
    def _take(self, account):
        """Remove and return the kinds pending for ``account`` (the caller holds its pull lock)."""
        self.env.cr.execute(SQL("DELETE FROM o365_pull_request WHERE account_id = %s RETURNING kind", account.id))
        return {row[0] for row in self.env.cr.fetchall()}

    # -- the job (E3, E6, E7) --------------------------------------------------------------

    @api.model
    def _cron_pull(self, shard=0, shards=1, cursor_factory=None, parallel=None):
        """One run of a pull cron (one shard of the mailboxes): queue the safety-net pulls that
        are due, then run what is queued, each mailbox in its own transaction, time-boxed under
        Odoo's cron time limit; the cron is woken again at once for what is left. Nothing while
        all sync is paused (S7). ``cursor_factory`` and ``parallel`` let a test run it in its own
        transaction."""
        if self.env["o365.sync.account"]._sync_paused():
            _logger.info("o365: pull skipped, all sync is paused")
            return None
        runner = PullRunner(
            self.env.registry,
            cursor_factory=cursor_factory,
            shard=shard,
            shards=shards,
            parallel=parallel or read_int(self.env, "push_parallel_mailboxes"),
            time_budget=run_time_budget(),
        )
        stats = runner.run()
        if stats["mailboxes_left"]:
            run_again_soon(self.env, PULL_CRON_XMLIDS[shard])
        return stats
