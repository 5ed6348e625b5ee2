import json

from odoo import api, fields, models
from odoo.tools import SQL

from ..utils.crons import PULL_CRON_XMLIDS, SHARDS, wake_cron
from ..utils.locks import ECHO_WAIT, PUSH_LOCK_CLASS

KINDS = [
    ("pull", "Pull changes"),
    ("safety", "Safety-net pull"),
    ("resync", "Full resync"),
    ("renew", "Renew subscription"),
    ("recreate", "Recreate subscription"),
]
# More notified versions than this in one pending pull: it simply reads the mailbox.
MAX_ECHO_KEYS = 200


class O365PullRequest(models.Model):
    """Work the notification controller leaves for the pull job (SPEC E3): queueing and
    waking (``enqueue``, ``_wake``), as ``o365.push.queue`` has them for the push (the pull
    cron itself: engine/cron.py).

    Kept out of the account row on purpose: a webhook must never wait for a pull
    that writes that row. One row per (account, kind), so a storm of notifications
    is one pending pull.

    **Echoes (SPEC E4).** Graph announces every event the push creates or updates, often
    before the push has committed that event's changeKey on its link: the controller then
    cannot yet tell Odoo's own write from a change made in Outlook. Such a pull keeps the
    notified (event id, changeKey) pairs in ``echo_keys``; the pull job waits for the push in
    flight on the mailbox and drops the pull when every pair has turned out to be Odoo's own
    write (``settle_echoes``), without reading Graph. Any other notification makes the pull a
    plain one (``echo_keys`` empty).
    """

    _name = "o365.pull.request"
    _description = "Pending Outlook Pull"
    _log_access = False

    account_id = fields.Many2one("o365.sync.account", required=True, ondelete="cascade", index=True)
    kind = fields.Selection(KINDS, required=True, default="pull")
    requested_at = fields.Datetime(required=True, default=fields.Datetime.now)
    # [[event id, changeKey], ...] while every notification behind this pull may be an echo; empty otherwise.
    echo_keys = fields.Json(copy=False)

    _sql_constraints = [
        ("account_kind_unique", "UNIQUE(account_id, kind)", "One pending request of a kind per account.")
    ]

    # -- queueing (inside the caller's transaction; never calls Graph) ---------------------

    @api.model
    @api.private
    def enqueue(self, account_ids, kind="pull", wake=True, echo_keys=None):
        """Queue a request of this kind for these accounts; return the ids of accounts that had
        no such request pending yet. ``wake``: wake the pull crons of those accounts' shards
        right after commit (a pull run queueing more work leaves it to the next run).

        ``echo_keys`` ({account id: [(event id, changeKey), ...]}, kind 'pull' only): accounts
        whose notifications all name a version that may be Odoo's own write (see the class);
        the other accounts get a plain pull, which also makes a pending echo pull plain."""
        # More notified versions than MAX_ECHO_KEYS for a mailbox: it simply reads the mailbox.
        echo_keys = {a: pairs for a, pairs in (echo_keys or {}).items() if len(pairs) <= MAX_ECHO_KEYS}
        plain = [account_id for account_id in account_ids if account_id not in echo_keys]
        new = []
        if plain:
            conflict = SQL("DO NOTHING")
            if kind == "pull":
                # Only rows that carry echo keys are written: a plain pending pull stays untouched.
                conflict = SQL("DO UPDATE SET echo_keys = NULL WHERE o365_pull_request.echo_keys IS NOT NULL")
            self.env.cr.execute(
                SQL(
                    """INSERT INTO o365_pull_request (account_id, kind, requested_at)
                       SELECT unnest(%s::int[]), %s, now() at time zone 'UTC'
                       ON CONFLICT (account_id, kind) %s
                       RETURNING account_id, xmax = 0""",
                    plain,
                    kind,
                    conflict,
                )
            )
            new += [account_id for account_id, inserted in self.env.cr.fetchall() if inserted]
        if echo_keys:
            ids = list(echo_keys)
            self.env.cr.execute(
                SQL(
                    """INSERT INTO o365_pull_request (account_id, kind, requested_at, echo_keys)
                       SELECT t.account_id, 'pull', now() at time zone 'UTC', t.keys
                       FROM unnest(%s::int[], %s::jsonb[]) AS t(account_id, keys)
                       ON CONFLICT (account_id, kind) DO UPDATE SET echo_keys = CASE
                           WHEN jsonb_array_length(o365_pull_request.echo_keys)
                                + jsonb_array_length(EXCLUDED.echo_keys) > %s THEN NULL
                           ELSE o365_pull_request.echo_keys || EXCLUDED.echo_keys END
                       WHERE o365_pull_request.echo_keys IS NOT NULL
                       RETURNING account_id, xmax = 0""",
                    ids,
                    [json.dumps([list(pair) for pair in echo_keys[account_id]]) for account_id in ids],
                    MAX_ECHO_KEYS,
                )
            )
            new += [account_id for account_id, inserted in self.env.cr.fetchall() if inserted]
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
    def wake_echo_pulls(self, account_ids):
        """The push is done with these mailboxes: wake the pulls that wait for it to tell
        Odoo's own writes (``settle_echoes``), right after the caller's commit."""
        if not account_ids:
            return
        self.env.cr.execute(
            SQL(
                "SELECT account_id FROM o365_pull_request WHERE account_id = ANY(%s) AND echo_keys IS NOT NULL",
                list(account_ids),
            )
        )
        self._wake([row[0] for row in self.env.cr.fetchall()])

    # -- the pull job's side (the caller holds the account's pull lock) ----------------------

    @api.model
    @api.private
    def settle_echoes(self, account):
        """What to do with a mailbox whose only pending request is a pull for notified
        versions that may be echoes: 'dropped' when every version is Odoo's own write (the
        request is gone; nothing to read), 'waiting' while a push of this mailbox is in flight
        and may still record them (for at most ``ECHO_WAIT``), None otherwise: read the
        mailbox as usual.

        The order matters: the pending versions were notified, so they exist at Graph; the
        push that wrote them held the mailbox's push lock from before sending them until after
        committing their changeKeys (engine/pusher.py). Once that lock is seen free, every
        such changeKey is committed, and the links read next decide."""
        self.env.cr.execute(
            SQL("SELECT kind, echo_keys, requested_at FROM o365_pull_request WHERE account_id = %s", account.id)
        )
        rows = self.env.cr.fetchall()
        if len(rows) != 1 or rows[0][0] != "pull" or not rows[0][1]:
            return None
        _kind, keys, requested_at = rows[0]
        self.env.cr.execute(
            SQL(
                """SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
                       AND classid = %s::int::oid AND objid = %s::int::oid AND objsubid = 2
                       AND pid <> pg_backend_pid()
                       AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))""",
                PUSH_LOCK_CLASS,
                account.id,
            )
        )
        push_in_flight = self.env.cr.fetchone()[0]
        self.env.cr.execute(
            SQL(
                """SELECT count(*) FROM jsonb_array_elements(%s::jsonb) AS k(pair)
                   WHERE NOT EXISTS (
                       SELECT 1 FROM o365_event_link l
                       WHERE l.account_id = %s AND l.graph_event_id = k.pair->>0 AND l.change_key = k.pair->>1)""",
                json.dumps(keys),
                account.id,
            )
        )
        if not self.env.cr.fetchone()[0]:
            # Only if no notification came meanwhile (it would have changed the row).
            self.env.cr.execute(
                SQL(
                    """DELETE FROM o365_pull_request
                       WHERE account_id = %s AND kind = 'pull' AND echo_keys = %s::jsonb""",
                    account.id,
                    json.dumps(keys),
                )
            )
            return "dropped"
        if push_in_flight and requested_at > fields.Datetime.now() - ECHO_WAIT:
            return "waiting"
        return None

    @api.model
    @api.private
    def take(self, account):
        """Remove and return the kinds pending for ``account`` (the caller holds its pull lock)."""
        self.env.cr.execute(SQL("DELETE FROM o365_pull_request WHERE account_id = %s RETURNING kind", account.id))
        return {row[0] for row in self.env.cr.fetchall()}
