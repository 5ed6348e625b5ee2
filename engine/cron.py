"""The crons of the sync jobs: where Odoo's registry meets the engine, and the only place.

ir.cron runs model methods; the jobs (engine/pusher.py, engine/importer.py and
engine/subscriptions.py) are plain
pieces the models never import. So the crons of data/push_cron_data.xml and
data/pull_cron_data.xml call this thin model, which calls the engine: the dependency runs
one way, engine -> models (through the records' declared hooks and the queue's and the
account's public methods).
"""

import logging

from odoo import api, models

from ..utils.crons import PULL_CRON_XMLIDS, PUSH_CRON_XMLIDS, wake_cron
from ..utils.locks import short_transaction
from ..utils.settings import read_int
from . import importer, pusher, subscriptions
from .runner import run_time_budget

_logger = logging.getLogger(__name__)


class O365SyncCron(models.AbstractModel):
    """The push, pull and subscription-renewal crons (SPEC E1, E3, E6, E7)."""

    _name = "o365.sync.cron"
    _description = "Microsoft 365 sync jobs"

    @api.model
    def _cron_push(self, shard=0, shards=1):
        """One run of a push cron (one shard of the mailboxes), time-boxed under Odoo's cron
        time limit; the cron is woken again at once for mailboxes left at the deadline."""
        if self.env["o365.sync.account"].sync_paused():
            _logger.info("o365: push skipped, all sync is paused")  # S7: changes wait for Resume
            return {}
        stats = pusher.push_due(self.env, shard=shard, shards=shards)
        if stats["mailboxes_left"]:
            wake_cron(self.env, PUSH_CRON_XMLIDS[shard])
        return stats

    @api.model
    def _cron_pull(self, shard=0, shards=1, cursor_factory=None, parallel=None):
        """One run of a pull cron (one shard of the mailboxes): queue the safety-net pulls that
        are due, then run what is queued, each mailbox in its own transaction, time-boxed under
        Odoo's cron time limit; the cron is woken again at once for what is left. Nothing while
        all sync is paused (S7). ``cursor_factory`` and ``parallel`` let a test run it in its own
        transaction."""
        if self.env["o365.sync.account"].sync_paused():
            _logger.info("o365: pull skipped, all sync is paused")
            return None
        runner = importer.PullRunner(
            self.env.registry,
            cursor_factory=cursor_factory,
            shard=shard,
            shards=shards,
            parallel=parallel or read_int(self.env, "push_parallel_mailboxes"),
            time_budget=run_time_budget(),
        )
        stats = runner.run()
        if stats["mailboxes_left"]:
            wake_cron(self.env, PULL_CRON_XMLIDS[shard])
        return stats

    @api.model
    def _cron_renew_subscriptions(self):
        """Queue the renewal of subscriptions that expire soon, and the creation of missing ones,
        for the pull job: it runs them under the mailbox's pull lock, so a renewal never races
        Start Syncing (or another renewal) into a second subscription. Then sweep the
        organisation's stray subscriptions (O2). Nothing while all sync is paused (S7)."""
        if self.env["o365.sync.account"].sync_paused():
            return
        due = subscriptions.accounts_due_for_renewal(self.env).ids
        # In a short transaction of its own: a pull or a user writing one of these accounts
        # meanwhile must not fail the job (utils/locks.py).
        with short_transaction(self.env) as env:
            env["o365.pull.request"].enqueue(due, "renew")
        subscriptions.sweep_organization_subscriptions(self.env)
