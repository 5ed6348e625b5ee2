"""o365.sync.account: connecting a mailbox with the user's own sign-in, and Disconnect (SPEC S2, S4).

Connect keeps a finished sign-in and learns which mailbox it opens; one mailbox belongs to
one Odoo user; connecting another mailbox forgets the previous one's links. Disconnect and
the end of the organisation's connection (O1) make no Graph call: the pull job removes
what is left in Graph.
"""

import logging

from odoo import api, models
from odoo.exceptions import UserError

from ..utils import plain_words
from ..utils.auth import AuthError
from ..utils.graph_client import GraphError
from ..utils.locks import lock_accounts
from ..utils.settings import ORGANIZATION_MODE, USER_MODE
from .o365_sync_account import NO_RECONNECT_NOTICE

_logger = logging.getLogger(__name__)


class O365SyncAccountConnection(models.Model):
    _inherit = "o365.sync.account"

    def _connect(self, login):
        """Keep a finished sign-in, then learn which mailbox it opens (/me, /me/mailboxSettings).

        Raises UserError in plain words when the mailbox cannot be read or is
        already connected to another Odoo user; the account is then left as it was.
        """
        self.ensure_one()
        self.env["o365.config"]._check_not_neutralized()  # S8
        previous = {
            "token_cache": self.sudo().token_cache,
            "connection_state": self.connection_state,
            "connected_by": self.connected_by,
        }
        quiet = self.sudo().with_context(**{NO_RECONNECT_NOTICE: True})  # the user is right here
        # The user's own sign-in from now on, also for a mailbox the organisation connected before (O1).
        quiet.write(
            {"token_cache": login.serialized_cache(), "connection_state": "connected", "connected_by": USER_MODE}
        )
        try:
            graph = quiet.graph_client()
            me = graph.me()
            settings = graph.mailbox_settings()
        except (AuthError, GraphError) as exc:
            quiet.write(previous)
            _logger.warning("o365: sync account %s could not read its mailbox after sign-in: %s", self.id, exc)
            raise UserError(
                self.env._(
                    "Signed in, but Microsoft 365 did not let Odoo read your mailbox: %(error)s",
                    error=plain_words.explain_exception(exc).sentence(self.env.lang),
                )
            ) from None
        address = (me.get("mail") or me.get("userPrincipalName") or "").lower()
        taken = self._other_account_on(address)
        if taken:
            quiet.write(previous)
            raise UserError(
                self.env._(
                    "The mailbox %(address)s is already connected to %(user)s in Odoo: sign in with your own account.",
                    address=address,
                    user=taken.user_id.name,
                )
            )
        self._leave_previous_mailbox(address)
        self.sudo().write(
            {
                "mailbox_address": address,
                "previous_mailbox_address": False,
                "mailbox_timezone": settings.get("timeZone") or False,
                "last_error": False,
            }
        )
        # Changes saved while the sign-in was lost waited, with no retry scheduled: they go now.
        self.env["o365.push.queue"]._wake_worker(self)

    def _other_account_on(self, address, owner_id=None):
        """Another user's account connected to this mailbox (by address, or by its owner's
        Microsoft 365 id), or an empty recordset: one mailbox belongs to one Odoo user."""
        same_mailbox = [("mailbox_address", "=", address)]
        if owner_id:
            same_mailbox = ["|", *same_mailbox, ("mailbox_user_id", "=", owner_id)]
        return self.sudo().search(
            [*same_mailbox, ("id", "!=", self.id), ("connection_state", "!=", "disconnected")], limit=1
        )

    def _leave_previous_mailbox(self, address):
        """Connecting ``address`` after another mailbox: forget the other one's links (S4)."""
        before = self.mailbox_address or self.previous_mailbox_address
        if before and before != address:
            self._forget_mailbox()

    def _forget_mailbox(self):
        """Another mailbox replaces the previous one: its links and waiting changes mean
        nothing there. Nothing is deleted in either calendar."""
        self.ensure_one()
        for model in ("o365.event.link", "o365.push.queue", "o365.event.exclusion"):
            self.env[model].sudo().search([("account_id", "=", self.id)]).unlink()
        # The old mailbox's subscription cannot be removed with the new sign-in.
        self.sudo().write({"subscription_to_remove": False, "delta_link": False, "delta_window_end": False})

    def _disconnect(self):
        """Stop syncing and forget the sign-in (S2); nothing is deleted on either side.

        No Graph call here, so Disconnect answers at once even when Graph does not
        (S4). The links stay: connecting the same mailbox again resumes them. The
        pull job removes the webhook subscription right after, with the tokens it
        still needs for that, then forgets them (engine/subscriptions.py); without one
        to remove, the tokens go now.
        """
        for account in self:
            if account.sync_state == "running":
                account._stop_sync()
            account.sudo().write(
                {
                    "connection_state": "disconnected",
                    "previous_mailbox_address": account.mailbox_address or account.previous_mailbox_address,
                    "mailbox_address": False,
                    "mailbox_timezone": False,
                    "delta_link": False,
                    "last_error": False,
                }
            )
            if not account.sudo().subscription_to_remove:
                account.sudo().write({"token_cache": False})

    @api.model
    def _organization_connection_ended(self):
        """O1: the administrator went back to per-user sign-ins. The mailboxes the organisation
        connected stop at once: each user is told once to connect their own account (their tab
        says so), their subscriptions are removed in the background by the pull job (with the
        application's token), and their waiting changes wait for that sign-in (S4)."""
        accounts = self.sudo().search(
            [("connected_by", "=", ORGANIZATION_MODE), ("connection_state", "=", "connected")]
        )
        lock_accounts(self.env.cr, accounts.ids)  # the accounts first, then their rows (utils/locks.py)
        for account in accounts:
            account._forget_subscription()
            account.flag_reconnect_needed(
                AuthError(
                    "Your organisation no longer connects Microsoft 365 mailboxes for you: connect your own "
                    "account in My Profile.",
                    reconnect=True,
                )
            )
        self.env["o365.pull.request"].sudo().search([("account_id", "in", accounts.ids)]).unlink()
        self.env["o365.pull.request"]._wake(accounts.filtered("subscription_to_remove").ids)
        return accounts
