"""Outlook -> Odoo: what the pull job does for one mailbox (SPEC B, E3, E4, E6, E7).

A plain piece: it gets an ``env`` and records, never a model's class, and calls the
records' declared hooks (models/o365_calendar_sync.py) and the public methods of the
account, the queues and the settings reader, nothing private. ``PullRunner`` (at
the end) is the pull job's run over the due mailboxes (engine/runner.py says how a run
goes); ``Importer.run(account)`` is one mailbox's turn of it:

1. remove the subscription that Stop or Disconnect left behind (S4);
2. take the requests queued for the mailbox (``o365.pull.request``: notifications, the
   safety net, subscription renewals);
3. create or renew the change-notification subscription (E3; engine/subscriptions.py);
4. run a delta round over the sync window, page by page (E3, B14);
5. ingest each page: Outlook changes of linked records go to the records' hooks, new
   meetings with customers are logged (B1-B14; engine/pull_pages.py);
6. record the outcome on the account (last pull, last error, in plain words: S7).

Graph request shapes stay in utils/graph_client.py; what a record does with an Outlook
change is its own hooks' business (``_o365_apply_outlook_change`` and the like).
"""

import logging
from contextlib import contextmanager
from datetime import timedelta

from odoo import fields
from odoo.tools import SQL

from ..utils.auth import AuthError
from ..utils.crons import PULL_CRON_XMLIDS, SHARDS, wake_cron_in
from ..utils.graph_client import GraphError, is_sync_reset
from ..utils.locks import (
    ECHO_WAIT,
    PULL_LOCK_CLASS,
    is_race,
    mailbox_session_lock,
    mailbox_session_unlock,
)
from .pull_groups import PAGE_SIZE, PULL_GROUP, WINDOW_MIN_AHEAD, PullGroups
from .pull_pages import PullPages
from .runner import RACE_RETRY_SECONDS, MailboxRunner
from .subscriptions import SUBSCRIBE_RETRY, Subscriptions, report_error

_logger = logging.getLogger(__name__)

WINDOW_BEFORE_START = timedelta(days=1)
WINDOW_AHEAD = timedelta(days=365)
# The safety net: a syncing account not pulled for this long is pulled by the cron. While
# its change notifications work, a few reads a day are enough (SPEC E7: an idle mailbox
# costs a handful of Graph requests a day); when a safety pull found changes no
# notification had announced, it is polled every 15 minutes; without a live subscription
# (Graph refused it, or a race lost it) every minute, its subscription tried again each
# time, so a deaf mailbox never waits for the 15-minute net (issue 28; SUBSCRIBE_RETRY,
# engine/subscriptions.py).
SAFETY_PULL_AFTER = timedelta(minutes=15)
SAFETY_PULL_AFTER_NOTIFIED = timedelta(hours=6)
MISSED_NOTIFICATIONS_MEMORY = timedelta(days=1)


def queue_safety_pulls(env, shard=0, shards=1):
    """Queue a pull for the syncing accounts of this shard not heard of lately: rarely while
    notifications work, every 15 minutes without them. Spread by account so the pulls of many
    mailboxes never come at once (E3, E7)."""
    now = fields.Datetime.now()
    env.cr.execute(
        SQL(
            """SELECT id FROM o365_sync_account
               WHERE sync_state = 'running' AND connection_state = 'connected' AND mod(id, %s) = %s
                 AND (last_pull_at IS NULL OR last_pull_at < %s - CASE
                      WHEN subscription_id IS NULL OR subscription_expires_at IS NULL
                           OR subscription_expires_at <= %s THEN %s
                      WHEN notifications_missed_at IS NULL OR notifications_missed_at < %s
                      THEN %s + mod(id, 60) * interval '1 minute'
                      ELSE %s END)""",
            shards,
            shard,
            now,
            now,
            SUBSCRIBE_RETRY,
            now - MISSED_NOTIFICATIONS_MEMORY,
            SAFETY_PULL_AFTER_NOTIFIED,
            SAFETY_PULL_AFTER,
        )
    )
    due = [row[0] for row in env.cr.fetchall()]
    env["o365.pull.request"].sudo().enqueue(due, "safety", wake=False)  # this run takes them


class Importer(Subscriptions, PullPages, PullGroups):
    """One mailbox's pull: subscriptions (engine/subscriptions.py), delta rounds and page
    ingestion (engine/pull_pages.py; see the module docstring); several mailboxes' pulls in one
    turn (engine/pull_groups.py). ``env`` is the job's
    environment (superuser); ``account`` an o365.sync.account."""

    def __init__(self, env, own_transaction=False, past_deadline=None):
        """``own_transaction``: the pull job's own cursor, which this pull commits step by step
        (the subscription as soon as Graph made it, then each delta page), so a later failure
        never forgets what Graph already did. Otherwise (a test, a caller's transaction) the
        round runs under a savepoint and commits nothing."""
        self.env = env
        self.own_transaction = own_transaction
        # Whether the job's run is past its deadline (engine/runner.py): a group stops there.
        self.past_deadline = past_deadline or (lambda: False)
        self.echoes = None  # what the last run did with a pull made only of possible echoes

    def commit(self):
        if self.own_transaction:
            self.env.cr.commit()  # pylint: disable=invalid-commit

    @contextmanager
    def round_guard(self):
        """What a failed round undoes: the uncommitted rest of it."""
        if not self.own_transaction:
            with self.env.cr.savepoint():
                yield
            return
        try:
            yield
        except Exception:
            self.env.cr.rollback()
            raise

    def run(self, account, remove_old_subscription=True):
        """One mailbox's turn of the pull job; the caller holds the mailbox's pull lock.
        Returns True when a delta round went through. Failures stay with the mailbox (E6)."""
        account = account.sudo()
        if remove_old_subscription and account.subscription_to_remove:
            self.remove_old_subscription(account)
            self.commit()
        if account.sync_paused():
            return False  # the queued requests stay for Resume (S7)
        Requests = self.env["o365.pull.request"].sudo()
        # Notified versions that may be the push's own writes (E4): dropped without a Graph read
        # once they are, left queued while the push of this mailbox is in flight.
        self.echoes = Requests.settle_echoes(account)
        if self.echoes:
            self.commit()
            return False
        kinds = Requests.take(account)
        # Committed at once: the taken rows are never held while this pull waits for the
        # account row (Stop holds it, then deletes them: utils/locks.py's order).
        self.commit()
        return self.run_taken(account, kinds)

    def run_taken(self, account, kinds):
        """The rest of ``run``, once the mailbox's requests (``kinds``) are taken and committed."""
        if not account.is_syncing():
            return False
        try:
            with self.round_guard():
                subscribed = None
                if "recreate" in kinds or not account.subscription_id:
                    # Also a mailbox whose subscription could not be made (a 429, Graph down): its
                    # safety-net pull, every 15 minutes without a subscription, tries again (E3, E7).
                    subscribed = self.subscribe(account)
                elif "renew" in kinds:
                    subscribed = self.renew_subscription(account)
                # A subscription that could not be set up stays the error the user sees.
                changes = self.delta_round(account, full="resync" in kinds, clear_error=subscribed is not False)
                if kinds == {"safety"} and changes:
                    # Changes no notification announced: pull this mailbox often for a while.
                    _logger.info("o365 account %s: a safety pull found %s missed changes", account.id, changes)
                    account.write({"notifications_missed_at": fields.Datetime.now()})
        except (AuthError, GraphError) as exc:
            self.record_failure(account, exc)
            return False
        except Exception as exc:  # pylint: disable=broad-except
            if is_race(exc):
                if not self.own_transaction:
                    raise  # the caller's transaction is lost: its caller retries it
                self.retry_after_race(account, kinds, exc)
                return False
            # A bug met on one user's data must not stall everyone else's pull (E6).
            _logger.exception("o365 account %s: pull failed", account.id)
            account.write({"last_error": account.owner_env()._("Reading your Outlook calendar failed unexpectedly.")})
            return False
        return True

    def retry_after_race(self, account, kinds, exc):
        """The round met a concurrent transaction (utils/locks.py) and was rolled back (what it
        committed stays): one INFO line, its requests queued again, its shard's cron woken within
        the minute. Never an ERROR, never a mailbox left for the safety net."""
        _logger.info(
            "o365 account %s: pull met a concurrent change (%s); again in %s s",
            account.id,
            type(exc).__name__,
            RACE_RETRY_SECONDS,
        )
        self.env.cr.rollback()
        self.put_back(account, kinds or {"pull"})
        wake_cron_in(self.env, PULL_CRON_XMLIDS[account.id % SHARDS], RACE_RETRY_SECONDS)
        self.commit()

    def put_back(self, account, kinds):
        """Queue the mailbox's requests again, for a later run (whoever puts them back wakes its cron)."""
        Requests = self.env["o365.pull.request"].sudo()
        for kind in kinds:
            Requests.enqueue(account.ids, kind, wake=False)

    def record_failure(self, account, exc):
        """A Graph or sign-in failure of the pull: the mailbox waits, the others go on (E6)."""
        if account.connected_by == "organization" and getattr(exc, "status", None) == 403:
            # Outside the organisation's application's reach (O1): stop until an administrator fixes it.
            account.mailbox_out_of_reach({"status": 403, "body": {"error": {"code": exc.code, "message": exc.message}}})
            return
        report_error(account, account.owner_env()._("Reading your Outlook calendar failed"), exc)
        if isinstance(exc, GraphError) and exc.transient:
            self.env["o365.pull.request"].sudo().enqueue(account.ids, "pull", wake=False)

    # -- delta rounds (E3, E4, B14) ---------------------------------------------------------

    def sync_window(self, account):
        now = fields.Datetime.now()
        start = (account.sync_started_at or now) - WINDOW_BEFORE_START
        return start, now + WINDOW_AHEAD

    def delta_round(self, account, full=False, clear_error=True):
        """One delta round: page through nextLinks, keep the deltaLink, ingest every page.
        Returns how many changed events a continued round brought (0 for a new round)."""
        account = account.sudo()
        client = account.graph_client()
        delta_link = False if full else account.delta_link
        now = fields.Datetime.now()
        if delta_link and account.delta_window_end and account.delta_window_end < now + WINDOW_MIN_AHEAD:
            delta_link = False  # rolling window: a token's window is fixed, so start a new round
        for attempt in (1, 2):
            fresh_round = not delta_link
            start, end = self.sync_window(account)
            seen = set()
            try:
                for page, next_delta_link in client.calendar_view_delta(
                    delta_link or None, start=start, end=end, page_size=PAGE_SIZE, time_zone="UTC"
                ):
                    seen.update(e.get("id") for e in page)
                    # Through the account's entry point: tests wrap it (tests/test_pull_delta.py).
                    self.ingest_page(account, page, client)
                    if next_delta_link:
                        vals = {"delta_link": next_delta_link}
                        if fresh_round:
                            vals["delta_window_end"] = end
                        account.write(vals)
                    # Each page commits (releasing its meetings' locks): a page read again
                    # after a failure finds its events linked (E4), nothing twice.
                    self.commit()
                break
            except GraphError as exc:
                if attempt == 1 and is_sync_reset(exc):
                    _logger.info("o365 account %s: delta token expired (%s), new round", account.id, exc.code)
                    account.write({"delta_link": False})
                    delta_link = False
                    continue
                raise
        if fresh_round:
            # A new round lists what exists now; deletions made while no token was
            # valid show up only as missing events.
            self.reconcile_missing(account, seen, client, start, end)
        values = {"last_pull_at": fields.Datetime.now(), "last_success_at": fields.Datetime.now()}
        if clear_error:
            values["last_error"] = False
        account.write(values)
        return 0 if fresh_round else len(seen)

    def reconcile_missing(self, account, seen, client, start, end):
        """Logged meetings a new round no longer lists, within its window: removed in Outlook."""
        Link = self.env["o365.event.link"].sudo()
        links = Link.search(
            [("account_id", "=", account.id), ("origin", "=", "outlook"), ("res_model", "=", "calendar.event")]
        )
        missing = links.filtered(lambda lk: lk.graph_event_id not in seen)
        if not missing:
            return
        meetings = self.env["calendar.event"].sudo().browse(missing.mapped("res_id")).exists()
        in_window = {m.id for m in meetings if m.active and m.stop and m.stop >= start and m.start <= end}
        for link in missing.filtered(lambda lk: lk.res_id in in_window):
            self.apply_outlook_removal(account, link, client)


class PullRunner(MailboxRunner):
    """The pull job: what notifications and the safety net queued (``o365.pull.request``)
    and subscriptions that Stop or Disconnect left to remove, one mailbox at a time each,
    every mailbox in a transaction of its own (``Importer`` below does one mailbox)."""

    job = "pull"
    cron_xmlids = PULL_CRON_XMLIDS

    def run(self):
        stats = super().run()
        if stats["echoes_waiting"]:
            # The push in flight wakes this cron as it lets go of the mailbox (engine/pusher.py);
            # this trigger is for a push that never does (its server stopped).
            with self.cursor() as cr:
                wake_cron_in(self.env(cr), self.cron_xmlids[self.shard % len(self.cron_xmlids)], ECHO_WAIT.seconds)
        return stats

    def due_work(self, cr):
        """The due mailboxes, the longest waiting first; those that only continue their delta round
        in groups (``Importer.run_group``), as many as spreads them over the run's threads, at most
        ``PULL_GROUP``."""
        due = self.due_mailboxes(cr)
        cr.execute(
            """SELECT a.id FROM o365_sync_account a
               WHERE a.id = ANY(%s) AND a.subscription_to_remove IS NULL AND a.subscription_id IS NOT NULL
                 AND a.delta_link IS NOT NULL AND a.delta_window_end >= %s
                 AND NOT EXISTS (SELECT 1 FROM o365_pull_request r
                                 WHERE r.account_id = a.id AND r.kind NOT IN ('pull', 'safety'))""",
            [due, fields.Datetime.now() + WINDOW_MIN_AHEAD],
        )
        simple = {row[0] for row in cr.fetchall()}
        size = max(1, min(PULL_GROUP, -(-len(simple) // self.parallel)))
        units, group = [], []
        for account_id in due:
            if account_id not in simple:
                units.append((account_id,))
                continue
            group.append(account_id)
            if len(group) == size:
                units.append(tuple(group))
                group = []
        if group:
            units.append(tuple(group))
        return units

    def due_mailboxes(self, cr):
        queue_safety_pulls(self.env(cr), self.shard, self.shards)
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

    def work_on_group(self, account_ids):
        """Several mailboxes in one cursor (``Importer.run_group``), under their pull locks."""
        with self.cursor() as cr:
            mine = [a for a in account_ids if mailbox_session_lock(cr, PULL_LOCK_CLASS, a)]
            self.count(mailbox_busy=len(account_ids) - len(mine))
            try:
                env = self.env(cr)
                importer = Importer(env, own_transaction=True, past_deadline=self.past_deadline)
                self.count(**importer.run_group(env["o365.sync.account"].browse(mine)))
                cr.commit()  # pylint: disable=invalid-commit
            finally:
                cr.rollback()
                for account_id in mine:
                    mailbox_session_unlock(cr, PULL_LOCK_CLASS, account_id)
                cr.commit()  # pylint: disable=invalid-commit

    def work_on(self, account_id):
        """One mailbox in a cursor of its own, which the pull commits step by step; the pull
        lock is a session lock there (it outlives those commits), released at the end."""
        with self.cursor() as cr:
            if not mailbox_session_lock(cr, PULL_LOCK_CLASS, account_id):
                self.count(mailbox_busy=1)
                return
            try:
                env = self.env(cr)
                importer = Importer(env, own_transaction=True)
                if importer.run(env["o365.sync.account"].browse(account_id)):
                    self.count(pulled=1)
                elif importer.echoes:
                    self.count(**{f"echoes_{importer.echoes}": 1})
                cr.commit()  # pylint: disable=invalid-commit
            finally:
                cr.rollback()
                mailbox_session_unlock(cr, PULL_LOCK_CLASS, account_id)
                cr.commit()  # pylint: disable=invalid-commit
