"""The pull's Graph change-notification subscriptions (SPEC E3, E7, S4, O2).

Each syncing mailbox has one subscription to this database's notification URL
(controllers/notifications.py), made for SUBSCRIPTION_MINUTES and renewed RENEW_BEFORE it
expires; the one Stop or Disconnect left behind is removed on the mailbox's next pull turn;
strays (a lost answer, a crash, an older install) are deleted, per mailbox or, for the
organisation's application, in one sweep of its listing.

``Subscriptions`` is a mixin of ``Importer`` (engine/importer.py): it uses the pull's
``env`` and ``commit``. The module functions serve the renewal and sweep crons
(engine/cron.py); ``report_error`` (a failed exchange, in plain words on the account)
serves the whole pull.
"""

import logging
import secrets
from datetime import timedelta

from odoo import fields

from ..utils import plain_words
from ..utils.auth import AuthError
from ..utils.crons import PULL_CRON_XMLIDS, SHARDS, wake_cron_in
from ..utils.graph_client import GraphError
from ..utils.graph_event import parse_stamp
from ..utils.locks import lock_accounts

_logger = logging.getLogger(__name__)

NOTIFICATION_ROUTE = "/o365_calendar_sync/notifications"
LIFECYCLE_ROUTE = "/o365_calendar_sync/notifications/lifecycle"
# Under the legacy 4,230-minute cap (GRAPH_FACTS §3.1) so either service generation accepts it.
SUBSCRIPTION_MINUTES = 4200
RENEW_BEFORE = timedelta(hours=36)
# Without a live subscription, the safety net pulls the mailbox this often and subscribes
# again each time (engine/importer.py, issue 28).
SUBSCRIBE_RETRY = timedelta(minutes=1)


def notification_urls(env):
    """Where Graph sends this database's change and lifecycle notifications (controllers/notifications.py)."""
    base = env["o365.config"].public_base_url()
    return base + NOTIFICATION_ROUTE, base + LIFECYCLE_ROUTE


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


class Subscriptions:
    """A mailbox's subscription, in its pull turn (``Importer`` in engine/importer.py)."""

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
