"""o365.sync.account: Start and Stop Syncing and departures (SPEC S3, S4, S9); the jobs' crons are engine/cron.py.

Start records the sync start and leaves the subscription and the first delta round to the
pull job; Stop forgets the subscription at once and leaves its removal to the pull job, so
that neither waits on Graph. A user archived or deleted in Odoo stops (S9); uninstalling
removes the module's subscriptions (best effort).
"""

import logging
import time

from odoo import api, models

from ..utils.auth import AuthError
from ..utils.graph_client import GraphClient, GraphError
from ..utils.locks import lock_accounts
from ..utils.settings import USER_MODE

_logger = logging.getLogger(__name__)


class O365SyncAccountSync(models.Model):
    _inherit = "o365.sync.account"

    def _start_sync(self):
        """Record the sync start: nothing created before it is synced, either way.

        The transaction's time, the clock create_date uses, so that comparing a
        record's create_date with it is exact. Items linked before a Stop resume:
        the changes they queued meanwhile go out now (S4). Never in a neutralized copy (S8).
        """
        self.env["o365.config"]._check_not_neutralized()
        lock_accounts(self.env.cr, self.ids)  # the account first, then its rows (utils/locks.py)
        for account in self:
            account.sudo().write({"sync_state": "running", "sync_started_at": self.env.cr.now(), "last_error": False})
            # The subscription and the first delta round are the pull job's, after commit:
            # creating a subscription makes Graph call our notification URL back before it
            # answers; done inside the Start Syncing request, that request would wait on
            # Graph, and a notification could arrive before the secret is committed.
            account.sudo().write({"delta_link": False, "delta_window_end": False})
            self.env["o365.pull.request"].sudo().enqueue(account.ids, "recreate")
        self.env["o365.push.queue"]._wake_worker()

    def _stop_sync(self):
        """Stop both directions; delete nothing on either side (S4). No Graph call here:
        the webhook subscription is removed by the pull job, so Stop answers at once.

        Its secret goes now, so a notification it still brings is refused at once and
        queues nothing."""
        lock_accounts(self.env.cr, self.ids)  # the account first, then its rows (utils/locks.py)
        for account in self.sudo():
            account._forget_subscription()
            self.env["o365.pull.request"].sudo().search([("account_id", "=", account.id)]).unlink()
            if account.subscription_to_remove:
                self.env["o365.pull.request"]._wake(account.ids)
            account.write({"sync_state": "stopped"})

    def _forget_subscription(self):
        """Forget the subscription and the delta cursor now (a notification it still brings is
        refused at once); the subscription itself is left for the pull job to delete at Graph."""
        self.ensure_one()
        values = {
            "subscription_id": False,
            "subscription_secret": False,
            "subscription_expires_at": False,
            "delta_link": False,
            "delta_window_end": False,
        }
        if self.subscription_id:
            values["subscription_to_remove"] = self.subscription_id
        self.sudo().write(values)

    def _stop_for_departed_user(self, deleted=False):
        """S9: the user was archived (or is being deleted): their sync stops at once. The
        subscription goes in the background (the pull job, as after Stop); the changes that
        waited for their Outlook are dropped, and the account says so; links stay, and nothing
        is deleted in Outlook. Reactivating the user leaves the sync stopped until they, or an
        administrator, press Start."""
        Queue = self.env["o365.push.queue"].sudo()
        in_use = self.sudo().filtered(lambda a: a.sync_state == "running" or a.connection_state != "disconnected")
        lock_accounts(self.env.cr, in_use.ids)  # the accounts first, then their rows (utils/locks.py)
        if deleted:
            in_use._remove_subscriptions_after_commit()
        for account in in_use:
            waiting = Queue.search([("account_id", "=", account.id)])
            dropped = len(waiting)
            waiting.unlink()
            if account.sync_state == "running":
                account._stop_sync()
            what = (
                self.env._("Sync stopped: %(user)s was deleted in Odoo.", user=account.user_id.name)
                if deleted
                else self.env._("Sync stopped: %(user)s was archived in Odoo.", user=account.user_id.name)
            )
            account.write(
                {
                    "last_error": self.env._(
                        "%(what)s %(count)s change(s) waiting for Outlook were dropped; nothing was deleted in "
                        "Outlook. If they come back, press Start Syncing again.",
                        what=what,
                        count=dropped,
                    )
                }
            )
            _logger.info("o365: sync account %s stopped, its user left (%s changes dropped)", account.id, dropped)

    def _remove_subscriptions_after_commit(self):
        """S9: a deleted user's account goes with them, and with it the sign-in the pull job would
        remove their subscription with. So a token is taken now (no Graph request in the
        transaction, E1) and the subscription is deleted right after the deletion commits: best
        effort, 5 s per request; one left unanswered can no longer notify (its secret is gone)
        and expires within three days. The organisation's mailboxes need none of this: its sweep
        removes subscriptions no account knows (O2)."""
        app = self.env["o365.config"].azure_app()
        for account in self.sudo().filtered(lambda a: a.connected_by == USER_MODE):
            subscription_ids = [s for s in (account.subscription_id, account.subscription_to_remove) if s]
            if not subscription_ids:
                continue
            try:
                token = account._login().access_token(False)
            except AuthError as exc:
                _logger.info("o365: a deleted user's subscription is left to expire (no sign-in: %s)", exc)
                continue
            client = GraphClient(app.graph_endpoint, lambda _force, token=token: token, verify=app.verify, timeout=5)
            self.env.cr.postcommit.add(lambda client=client, ids=subscription_ids: _delete_subscriptions(client, ids))

    @api.model
    def _remove_subscriptions_on_uninstall(self, budget=30.0, request_timeout=5.0):
        """The module is being uninstalled: delete its Graph subscriptions, so that Graph stops
        notifying an address that no longer answers. Best effort and bounded: each request waits
        at most ``request_timeout`` seconds, all of them ``budget``; what is left expires by itself
        within three days. Nothing in Outlook is deleted. Returns how many were removed."""
        deadline = time.monotonic() + budget
        removed = 0
        accounts = self.sudo().search(["|", ("subscription_id", "!=", False), ("subscription_to_remove", "!=", False)])
        for account in accounts:
            for subscription_id in {account.subscription_id, account.subscription_to_remove} - {False, None}:
                left = deadline - time.monotonic()
                if left <= 0:
                    _logger.warning("o365: uninstall left subscriptions to expire by themselves (time is up)")
                    return removed
                try:
                    client = account.cleanup_graph_client()
                    client.timeout = min(request_timeout, left)
                    client.delete_subscription(subscription_id)
                    removed += 1
                except GraphError as exc:
                    removed += exc.status == 404
                    _logger.info("o365: subscription of account %s left to expire (%s)", account.id, exc)
                except AuthError as exc:
                    _logger.info("o365: subscription of account %s left to expire (%s)", account.id, exc)
        return removed


def _delete_subscriptions(client, subscription_ids):
    """After commit (no cursor): delete these Graph subscriptions, best effort (S9)."""
    for subscription_id in subscription_ids:
        try:
            client.delete_subscription(subscription_id)
        except (AuthError, GraphError, OSError) as exc:
            _logger.info("o365: a deleted user's subscription is left to expire (%s)", exc)
