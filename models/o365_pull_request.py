from odoo import api, fields, models
from odoo.tools import SQL

from ..utils.crons import PULL_CRON_XMLIDS, SHARDS, wake_cron

KINDS = [
    ("pull", "Pull changes"),
    ("safety", "Safety-net pull"),
    ("resync", "Full resync"),
    ("renew", "Renew subscription"),
    ("recreate", "Recreate subscription"),
]


class O365PullRequest(models.Model):
    """Work the notification controller leaves for the pull job (SPEC E3): queueing and
    waking (``enqueue``, ``_wake``), as ``o365.push.queue`` has them for the push (the pull
    cron itself: engine/cron.py).

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
    @api.private
    def enqueue(self, account_ids, kind="pull", wake=True):
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
            wake_cron(self.env, PULL_CRON_XMLIDS[shard])

    @api.model
    @api.private
    def take(self, account):
        """Remove and return the kinds pending for ``account`` (the caller holds its pull lock)."""
        self.env.cr.execute(SQL("DELETE FROM o365_pull_request WHERE account_id = %s RETURNING kind", account.id))
        return {row[0] for row in self.env.cr.fetchall()}
