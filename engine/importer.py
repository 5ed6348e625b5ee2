"""Outlook -> Odoo: what the pull job does for one mailbox (SPEC B, E3, E4, E6, E7).

A plain piece: it gets an ``env`` and records, never a model's class, and calls the
records' declared hooks (models/o365_calendar_sync.py) and the public methods of the
account, the queues and the settings reader, nothing private. ``PullRunner`` (at
the end) is the pull job's run over the due mailboxes (engine/runner.py says how a run
goes); ``Importer.run(account)`` is one mailbox's turn of it:

1. remove the subscription that Stop or Disconnect left behind (S4);
2. take the requests queued for the mailbox (``o365.pull.request``: notifications, the
   safety net, subscription renewals);
3. create or renew the change-notification subscription (E3);
4. run a delta round over the sync window, page by page (E3, B14);
5. ingest each page: Outlook changes of linked records go to the records' hooks, new
   meetings with customers are logged (B1-B14);
6. record the outcome on the account (last pull, last error, in plain words: S7).

Graph request shapes stay in utils/graph_client.py; what a record does with an Outlook
change is its own hooks' business (``_o365_apply_outlook_change`` and the like).
"""

import logging
import secrets
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import psycopg2

from odoo import fields
from odoo.tools import SQL

from ..utils import plain_words
from ..utils.auth import AuthError
from ..utils.crons import PULL_CRON_XMLIDS, SHARDS, wake_cron_in
from ..utils.directory import contact_directory
from ..utils.graph_client import GraphError
from ..utils.graph_event import parse_stamp, unreadable
from ..utils.locks import (
    PULL_LOCK_CLASS,
    is_race,
    lock_accounts,
    lock_contacts,
    lock_meetings,
    mailbox_session_lock,
    mailbox_session_unlock,
)
from ..utils.mappers.meeting import STICKY_REASONS, decide, is_cancelled, is_removed, page_addresses
from .runner import RACE_RETRY_SECONDS, MailboxRunner

_logger = logging.getLogger(__name__)

NOTIFICATION_ROUTE = "/o365_calendar_sync/notifications"
LIFECYCLE_ROUTE = "/o365_calendar_sync/notifications/lifecycle"
# Under the legacy 4,230-minute cap (GRAPH_FACTS §3.1) so either service generation accepts it.
SUBSCRIPTION_MINUTES = 4200
RENEW_BEFORE = timedelta(hours=36)
PAGE_SIZE = 100
WINDOW_BEFORE_START = timedelta(days=1)
WINDOW_AHEAD = timedelta(days=365)
# A new round (fresh window) once the stored window reaches less than this far ahead.
WINDOW_MIN_AHEAD = timedelta(days=330)
# The safety net: a syncing account not pulled for this long is pulled by the cron. While
# its change notifications work, a few reads a day are enough (SPEC E7: an idle mailbox
# costs a handful of Graph requests a day); when a safety pull found changes no
# notification had announced, it is polled every 15 minutes; without a live subscription
# (Graph refused it, or a race lost it) every minute, its subscription tried again each
# time, so a deaf mailbox never waits for the 15-minute net (issue 28).
SAFETY_PULL_AFTER = timedelta(minutes=15)
SUBSCRIBE_RETRY = timedelta(minutes=1)
SAFETY_PULL_AFTER_NOTIFIED = timedelta(hours=6)
MISSED_NOTIFICATIONS_MEMORY = timedelta(days=1)
RESET_CODES = frozenset({"syncstatenotfound", "resyncrequired"})


def is_sync_reset(error):
    """410 Gone / SyncStateNotFound / resyncRequired: the delta token is dead, start a new round."""
    return error.status == 410 or (error.code or "").lower() in RESET_CODES


def notification_urls(env):
    """Where Graph sends this database's change and lifecycle notifications (controllers/notifications.py)."""
    base = env["o365.config"].public_base_url()
    return base + NOTIFICATION_ROUTE, base + LIFECYCLE_ROUTE


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


def accounts_due_for_renewal(env):
    """Syncing accounts whose subscription is missing or expires within RENEW_BEFORE (E3)."""
    soon = fields.Datetime.now() + RENEW_BEFORE
    return (
        env["o365.sync.account"]
        .sudo()
        .search([("sync_state", "=", "running"), ("connection_state", "=", "connected")])
        .filtered(lambda a: not a.subscription_id or not a.subscription_expires_at or a.subscription_expires_at < soon)
    )


def sweep_organization_subscriptions(env):
    """Delete the organisation's application's subscriptions to this database's notification URL
    that no account knows (left by a lost answer, a crash, a Stop whose removal failed): they would
    keep notifying and be refused (E7, O2). One listing for every mailbox; a subscription made in
    the last half hour is left alone, as its account may not have committed it yet. Returns how
    many were deleted."""
    Account = env["o365.sync.account"].sudo()
    if not env["o365.config"].azure_app().organization:
        return 0
    notify_url = notification_urls(env)[0].rstrip("/")
    try:
        graph = Account.organization_graph()
        listed = graph.list_subscriptions()
    except (AuthError, GraphError) as exc:
        _logger.info("o365: the organisation's stray subscriptions not looked for yet (%s)", exc)
        return 0
    Account.flush_model(["subscription_id", "subscription_to_remove"])
    env.cr.execute(
        "SELECT subscription_id FROM o365_sync_account WHERE subscription_id IS NOT NULL "
        "UNION SELECT subscription_to_remove FROM o365_sync_account WHERE subscription_to_remove IS NOT NULL"
    )
    known = {row[0] for row in env.cr.fetchall()}
    fresh = fields.Datetime.now() + timedelta(minutes=SUBSCRIPTION_MINUTES) - timedelta(minutes=30)
    stray = [
        s["id"]
        for s in listed
        if (s.get("notificationUrl") or "").rstrip("/") == notify_url
        and s.get("id") not in known
        and (parse_stamp(s.get("expirationDateTime")) or fresh) < fresh
    ]
    removed = 0
    for subscription_id in stray:
        try:
            graph.delete_subscription(subscription_id)
            removed += 1
        except GraphError as exc:
            removed += exc.status == 404
            if exc.status != 404:
                _logger.info("o365: stray subscription %s not removed yet (%s)", subscription_id, exc)
    if removed:
        _logger.info("o365: removed %s stray subscription(s) of the organisation's application", removed)
    return removed


def report_error(account, what, exc):
    """Record a failed exchange on the account, in plain words with the detail after (S7);
    never a token (S5). A sign-in only the user can repair sets 'reconnect', which stops
    every further Graph or token request for the mailbox until they reconnect."""
    _logger.warning("o365 account %s: %s: %s", account.id, what, exc)
    account = account.sudo()
    if isinstance(exc, AuthError) and exc.reconnect:
        if account.connection_state == "connected":
            account.flag_reconnect_needed(exc)
        return
    env = account.owner_env()  # stored for the user to read: in their language (issue 23)
    words = plain_words.explain_exception(exc).sentence(env.lang)
    account.write({"last_error": plain_words.compose(env._("%(what)s. %(words)s", what=what, words=words), str(exc))})


class Importer:
    """One mailbox's pull: subscriptions, delta rounds and page ingestion (see the module
    docstring). ``env`` is the job's environment (superuser); ``account`` an o365.sync.account."""

    def __init__(self, env, own_transaction=False):
        """``own_transaction``: the pull job's own cursor, which this pull commits step by step
        (the subscription as soon as Graph made it, then each delta page), so a later failure
        never forgets what Graph already did. Otherwise (a test, a caller's transaction) the
        round runs under a savepoint and commits nothing."""
        self.env = env
        self.own_transaction = own_transaction

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
        kinds = self.env["o365.pull.request"].sudo().take(account)
        # Committed at once: the taken rows are never held while this pull waits for the
        # account row (Stop holds it, then deletes them: utils/locks.py's order).
        self.commit()
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
        Requests = self.env["o365.pull.request"].sudo()
        for kind in kinds or {"pull"}:
            Requests.enqueue(account.ids, kind, wake=False)
        wake_cron_in(self.env, PULL_CRON_XMLIDS[account.id % SHARDS], RACE_RETRY_SECONDS)
        self.commit()

    def record_failure(self, account, exc):
        """A Graph or sign-in failure of the pull: the mailbox waits, the others go on (E6)."""
        if account.connected_by == "organization" and getattr(exc, "status", None) == 403:
            # Outside the organisation's application's reach (O1): stop until an administrator fixes it.
            account.mailbox_out_of_reach({"status": 403, "body": {"error": {"code": exc.code, "message": exc.message}}})
            return
        report_error(account, account.owner_env()._("Reading your Outlook calendar failed"), exc)
        if isinstance(exc, GraphError) and exc.transient:
            self.env["o365.pull.request"].sudo().enqueue(account.ids, "pull", wake=False)

    # -- subscriptions (E3, E7, S4) ---------------------------------------------------------

    def remove_old_subscription(self, account):
        """Remove the subscription Stop or Disconnect left (S4); forget the tokens of a disconnected account.

        A passing failure keeps it for the next run; anything else drops it (it
        expires by itself within three days, SUBSCRIPTION_MINUTES).
        """
        account = account.sudo()
        state = account.connection_state
        if account.subscription_to_remove and (account.token_cache or account.connected_by == "organization"):
            try:
                with self.env.cr.savepoint():
                    account.cleanup_graph_client().delete_subscription(account.subscription_to_remove)
            except GraphError as exc:
                if exc.transient and state != "disconnected":
                    _logger.info("o365 account %s: subscription not removed yet (%s)", account.id, exc)
                    return False
                if exc.status != 404:
                    _logger.info("o365 account %s: subscription left to expire (%s)", account.id, exc)
            except AuthError as exc:
                _logger.info("o365 account %s: subscription left to expire (%s)", account.id, exc)
        values = {"subscription_to_remove": False}
        if state == "disconnected":
            values.update({"token_cache": False, "connection_state": "disconnected"})
        account.write(values)
        return True

    def subscribe(self, account):
        """Create the change-notification subscription (replacing any previous one)."""
        account = account.sudo()
        notify_url, lifecycle_url = notification_urls(self.env)
        secret = secrets.token_urlsafe(32)
        try:
            client = account.graph_client()
            if account.subscription_id:
                try:
                    client.delete_subscription(account.subscription_id)
                except GraphError as exc:
                    if exc.status != 404:
                        raise
            # Store the secret first, committed: Graph validates the URL, and may notify,
            # before it answers.
            account.write({"subscription_secret": secret, "subscription_id": False})
            self.commit()
            expires = fields.Datetime.now() + timedelta(minutes=SUBSCRIPTION_MINUTES)
            subscription = client.create_subscription(notify_url, secret, expires, lifecycle_url=lifecycle_url)
        except (AuthError, GraphError) as exc:
            report_error(account, account.owner_env()._("Outlook change notifications could not be set up"), exc)
            self.retry_subscription_soon(account)
            return False
        if not self.record_subscription(account, client, subscription, expires, secret):
            return False
        self.remove_stray_subscriptions(account, client, subscription["id"], notify_url)
        return True

    def record_subscription(self, account, client, subscription, expires, secret):
        """Keep the subscription Graph just made, committed at once: a round that fails later
        (a Graph error, a race) must not forget it while Graph keeps it (issue 28). Under the
        account's row lock (utils/locks.py, step 2), the state is read again: if Stop or
        Disconnect came meanwhile (the secret is no longer this one), the new subscription goes
        instead of being kept."""
        lock_accounts(self.env.cr, account.ids)
        account.invalidate_recordset()
        if not account.is_syncing() or account.subscription_secret != secret:
            try:
                client.delete_subscription(subscription["id"])
            except (AuthError, GraphError) as exc:
                if getattr(exc, "status", None) != 404 and not account.subscription_to_remove:
                    account.write({"subscription_to_remove": subscription["id"]})
            self.commit()
            return False
        account.write(
            {
                "subscription_id": subscription["id"],
                "subscription_expires_at": parse_stamp(subscription.get("expirationDateTime")) or expires,
            }
        )
        self.commit()
        return True

    def retry_subscription_soon(self, account):
        """No live subscription: the mailbox hears of Outlook changes only through the safety
        net, which polls it every minute (SUBSCRIBE_RETRY) and tries to subscribe again each
        time; its shard's cron is woken for that (issue 28)."""
        wake_cron_in(self.env, PULL_CRON_XMLIDS[account.id % SHARDS], SUBSCRIBE_RETRY.total_seconds() + 5)

    def remove_stray_subscriptions(self, account, client, keep_id, notify_url):
        """Delete this mailbox's other subscriptions to this database's notification URL: left by
        a lost answer, a crash or an older install, they would keep notifying and be refused (E7).

        Not for the organisation's application: Graph lists it the subscriptions of every mailbox,
        which per mailbox would cost a full listing each; ``sweep_organization_subscriptions``
        goes through them once for all (O2)."""
        if account.connected_by == "organization":
            return
        try:
            stray = [
                s["id"]
                for s in client.list_subscriptions()
                if s.get("id") != keep_id and (s.get("notificationUrl") or "").rstrip("/") == notify_url.rstrip("/")
            ]
            for subscription_id in stray:
                client.delete_subscription(subscription_id)
        except (AuthError, GraphError) as exc:
            _logger.info("o365 account %s: stray subscriptions not removed yet (%s)", account.id, exc)
            return
        if stray:
            _logger.info("o365 account %s: removed %s stray subscription(s)", account.id, len(stray))

    def renew_subscription(self, account):
        account = account.sudo()
        if not account.subscription_id:
            return self.subscribe(account)
        what = account.owner_env()._("Outlook change notifications could not be renewed")
        try:
            client = account.graph_client()
            expires = fields.Datetime.now() + timedelta(minutes=SUBSCRIPTION_MINUTES)
            subscription = client.renew_subscription(account.subscription_id, expires)
        except GraphError as exc:
            if exc.status == 404:  # gone on Graph's side: make a new one
                return self.subscribe(account)
            report_error(account, what, exc)
            return False
        except AuthError as exc:
            report_error(account, what, exc)
            return False
        account.write({"subscription_expires_at": parse_stamp(subscription.get("expirationDateTime")) or expires})
        return True

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

    # -- page ingestion (B1-B14) ------------------------------------------------------------

    def ingest_page(self, account, page, client=None):
        """Apply one delta page (Graph event dicts); the per-page lookups are batched (links,
        exclusions, contacts)."""
        Link = self.env["o365.event.link"].sudo()
        ids = [e["id"] for e in page if e.get("id")]
        links = {
            lk.graph_event_id: lk
            for lk in Link.search([("account_id", "=", account.id), ("graph_event_id", "in", ids)])
        }
        org_domains = self.env["o365.config"].org_domains()
        unlinked = [e for e in page if e.get("id") not in links and not is_removed(e)]
        linked_live = [e for e in page if e.get("id") in links and not is_removed(e)]
        # Through the account's entry point: tests count its calls (tests/test_hostile_input.py).
        directory = contact_directory(self.env, page_addresses(unlinked + linked_live, org_domains))
        excluded = self.env["o365.event.exclusion"].sudo().excluded_ids(account, [e["id"] for e in unlinked])
        # An ERP create whose answer was lost is in Outlook but not linked yet: the
        # push's retry links it (same transactionId), so the pull leaves it alone.
        pushing = (
            self.env["o365.push.queue"]
            .sudo()
            .sent_creates(account, {e["transactionId"] for e in unlinked if e.get("transactionId")})
        )
        uids = list({e["iCalUId"] for e in unlinked if e.get("iCalUId")})
        copies = {}
        if uids:
            # B12, whatever the interleaving: "log it or attach to the record another mailbox
            # logged" is decided under the meeting's lock, held until this page commits; a pull
            # that waited for it reads that record (READ COMMITTED, utils/locks.py).
            lock_meetings(self.env.cr, uids)
            for lk in Link.search([("ical_uid", "in", uids), ("account_id", "!=", account.id)], order="id"):
                copies.setdefault(lk.ical_uid, lk)
        # The page's customers next (their to-dos' followers: two pulls adding the same user to the
        # same contact at once would insert that follower twice, and one would fail).
        lock_contacts(self.env.cr, directory.contacts.values())
        new_meetings = []  # prepared in the loop, created together after it
        for outlook_event in page:
            event_id = outlook_event.get("id")
            if not event_id:
                continue
            link = links.get(event_id)
            if is_removed(outlook_event):
                if link:
                    self.apply_outlook_removal(account, link, client)
                continue
            problem = unreadable(outlook_event)
            if problem:
                # Skipped, not fatal: one broken event must not stop the page (E6);
                # its next edit in Outlook brings it back.
                _logger.warning("o365 account %s: skipped Outlook event %s: %s", account.id, event_id, problem)
                continue
            with self.isolated(account, _logger.exception, "skipped Outlook event %s it could not apply", event_id):
                if link:
                    self.apply_outlook_change(account, link, outlook_event, directory)
                elif outlook_event.get("seriesMasterId") and (
                    series := self.series_made_in_odoo(account, outlook_event)
                ):
                    # One occurrence of a series made in Odoo (A16): applied to that occurrence if Outlook
                    # changed it alone; never logged as a meeting of its own (B5).
                    occurrence = series._o365_link_occurrence(account, outlook_event)
                    if occurrence:
                        self.apply_outlook_change(account, occurrence, outlook_event, directory)
                elif (
                    event_id not in excluded
                    and account.sync_events
                    and outlook_event.get("transactionId") not in pushing
                ):
                    to_log = self.prepare_new_meeting(account, outlook_event, directory, org_domains, copies)
                    if to_log:
                        new_meetings.append(to_log)
        if new_meetings:
            self.log_new_meetings(account, new_meetings)

    def apply_outlook_change(self, account, link, outlook_event, directory):
        """A linked event changed in Outlook: the linked record applies it (its hooks)."""
        if outlook_event.get("changeKey") and outlook_event["changeKey"] == link.change_key:
            # E4: our own write read back, or a replay. What only Outlook knows about
            # our own push (a Teams join link, A14) is kept; nothing is pushed back.
            if link.origin == "odoo" and link.res_model == "calendar.event":
                meeting = self.env["calendar.event"].sudo().browse(link.res_id).exists()
                if meeting:
                    meeting._o365_pushed(account, outlook_event)
            return
        record = self.env[link.res_model].sudo().browse(link.res_id).exists()
        if not record:
            link.unlink()
            return
        if is_cancelled(outlook_event):
            # The organiser cancelled it: the whole meeting goes, whoever's copy told us.
            record._o365_apply_outlook_removal(link, cancelled=True)
            if link.exists():
                link.change_key = outlook_event.get("changeKey")
            return
        record._o365_apply_outlook_change(link, outlook_event, directory=directory)

    def series_made_in_odoo(self, account, outlook_event):
        """The calendar.recurrence whose Outlook series this occurrence belongs to (A16), or None."""
        master = (
            self.env["o365.event.link"]
            .sudo()
            .search(
                [
                    ("account_id", "=", account.id),
                    ("res_model", "=", "calendar.recurrence"),
                    ("graph_event_id", "=", outlook_event["seriesMasterId"]),
                ],
                limit=1,
            )
        )
        return self.env["calendar.recurrence"].sudo().browse(master.res_id).exists() if master else None

    def apply_outlook_removal(self, account, link, client):
        """A tombstone: deleted, or only moved out of the window (GRAPH_FACTS §2.1): ask Graph which."""
        record = self.env[link.res_model].sudo().browse(link.res_id).exists()
        if not record or self.env["o365.push.queue"].delete_asked(account, link.res_model, link.res_id):
            # Gone from Odoo, or Odoo's own delete read back (its answer may have been lost):
            # not the user's removal in Outlook (E4).
            link.unlink()
            return
        current = None
        if client is not None:
            try:
                current = client.get_event(link.graph_event_id)
            except GraphError as exc:
                if exc.status != 404:
                    raise
        if current and not is_cancelled(current):
            directory = contact_directory(self.env, page_addresses([current], self.env["o365.config"].org_domains()))
            self.apply_outlook_change(account, link, current, directory)
        else:
            record._o365_apply_outlook_removal(link)

    def prepare_new_meeting(self, account, outlook_event, directory, org_domains, copies):
        """The B pipeline for an event Odoo has no record of: the values of the meeting to log,
        or None (filtered out, or linked to the meeting another mailbox already logged)."""
        copy_of = copies.get(outlook_event.get("iCalUId"))
        if copy_of and copy_of.origin == "odoo":
            return None  # an ERP meeting's copy in an attendee's mailbox: the ERP side owns it
        ok, reason = decide(
            outlook_event,
            sync_started_at=account.sync_started_at,
            org_domains=org_domains,
            category_filter=account.category_filter(),
            known_contacts=set(directory.contacts),
        )
        if not ok:
            if reason in STICKY_REASONS:
                self.env["o365.event.exclusion"].sudo().exclude(account, outlook_event["id"], reason)
            return None
        Meeting = self.env["calendar.event"].sudo()
        if copy_of and copy_of.res_model == "calendar.event":
            meeting = Meeting.browse(copy_of.res_id).exists()
            if meeting:
                # B12: one meeting, one record; this mailbox's copy links to it.
                link = self.env["o365.event.link"].link_outlook_events(account, meeting, [outlook_event])
                meeting._o365_apply_outlook_change(link, outlook_event, directory=directory)
                return None
        return Meeting._o365_prepare_log(account, outlook_event, directory, org_domains)

    def log_new_meetings(self, account, prepared):
        """Create a page's new logged meetings in one batch (Odoo's create is far cheaper
        per record in a batch); if the batch fails, one by one, skipping what fails (E6)."""
        Meeting = self.env["calendar.event"].sudo()
        with self.isolated(
            account, _logger.warning, "logging %s meetings at once failed; one by one", len(prepared)
        ) as batch:
            Meeting._o365_log_from_outlook(account, prepared)
        if batch.done:
            return
        for item in prepared:
            with self.isolated(account, _logger.exception, "skipped Outlook event %s it could not log", item[0]["id"]):
                Meeting._o365_log_from_outlook(account, [item])

    @contextmanager
    def isolated(self, account, log, message, *args):
        """Run the block under a savepoint; if the data makes it fail, roll it back and log it (E6).

        Graph, sign-in and database concurrency errors are not the data's fault:
        they propagate, and the whole round is retried. ``.done`` tells whether the
        block went through.
        """
        outcome = SimpleNamespace(done=False)
        try:
            with self.env.cr.savepoint():
                yield outcome
            outcome.done = True
        except (AuthError, GraphError, psycopg2.OperationalError):
            raise
        except Exception:  # pylint: disable=broad-except
            log("o365 account %s: " + message, account.id, *args)


class PullRunner(MailboxRunner):
    """The pull job: what notifications and the safety net queued (``o365.pull.request``)
    and subscriptions that Stop or Disconnect left to remove, one mailbox at a time each,
    every mailbox in a transaction of its own (``Importer`` below does one mailbox)."""

    job = "pull"
    cron_xmlids = PULL_CRON_XMLIDS

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

    def work_on(self, account_id):
        """One mailbox in a cursor of its own, which the pull commits step by step; the pull
        lock is a session lock there (it outlives those commits), released at the end."""
        with self.cursor() as cr:
            if not mailbox_session_lock(cr, PULL_LOCK_CLASS, account_id):
                self.count(mailbox_busy=1)
                return
            try:
                env = self.env(cr)
                if Importer(env, own_transaction=True).run(env["o365.sync.account"].browse(account_id)):
                    self.count(pulled=1)
                cr.commit()  # pylint: disable=invalid-commit
            finally:
                cr.rollback()
                mailbox_session_unlock(cr, PULL_LOCK_CLASS, account_id)
                cr.commit()  # pylint: disable=invalid-commit
