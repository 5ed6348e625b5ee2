"""o365.sync.account: the Graph client factory (SPEC S2, O1, O2, S8).

A client acting as the account's mailbox owner: through the user's own sign-in (an MSAL
session over the account's token cache) or through the organisation's application. When
Microsoft refuses a sign-in for good, the account is flagged 'reconnect' here.
"""

import hashlib
import time

from odoo import api, models

from ..utils import plain_words
from ..utils.auth import AuthError, MicrosoftLogin, OrganizationLogin
from ..utils.graph_client import EventRequests, GraphClient, user_mailbox
from ..utils.settings import ORGANIZATION_MODE

# The access tokens this worker process got from MSAL, per (database, account): reused while the
# account's token cache is still the one they came from (same digest) and they stay valid for
# TOKEN_MARGIN more seconds, as MSAL itself would from that cache, but without building an MSAL
# application and parsing the cache again for every mailbox of every round (a tenth of the push's
# CPU: bench/engine_notes.md). A refresh by another worker, Disconnect or a new sign-in changes the
# cache, and so the digest; Graph refusing a token (401) asks MSAL again (force_refresh).
_access_tokens = {}  # (database, account id) -> (cache digest, access token, expires at)
TOKEN_MARGIN = 300
MAX_KEPT_TOKENS = 50_000


def _digest(token_cache):
    return hashlib.sha256(token_cache.encode()).digest()


class O365SyncAccountGraph(models.Model):
    _inherit = "o365.sync.account"

    def _login(self):
        """An MSAL session over this account's token cache (see _save_login)."""
        self.ensure_one()
        return MicrosoftLogin(self.env["o365.config"].azure_app(), self.sudo().token_cache)

    def _save_login(self, login):
        """Keep what MSAL changed in the cache: a refresh rotates the refresh token."""
        if login.cache_changed:
            self.sudo().token_cache = login.serialized_cache()

    def _graph_mailbox(self):
        """The path of this account's mailbox in Graph: "/me" for the user's own sign-in,
        "/users/{id}" through the organisation's application (O2)."""
        self.ensure_one()
        if self.connected_by == ORGANIZATION_MODE:
            return user_mailbox(self.mailbox_user_id or self.mailbox_address or "")
        return "/me"

    @api.private
    def event_requests(self):
        """Request shapes for this account's events (utils/graph_client.py)."""
        return EventRequests(self._graph_mailbox())

    @api.model
    @api.private
    def organization_graph(self, mailbox="/me", cleanup=False):
        """A Graph client with the organisation's application token (O1, O2).

        Raises AuthError(organization=True) when the application cannot sign in: only an
        administrator can fix that, so no user is asked to reconnect. ``cleanup``: only to
        remove what a mailbox it connected left in Graph (a subscription), also after the
        administrator went back to per-user sign-ins."""
        app = self.env["o365.config"].azure_app()
        neutralized = self.env["o365.config"]._neutralized_notice()
        if neutralized:  # S8: a staging copy never reaches a mailbox, whatever calls
            raise AuthError(neutralized, organization=True)
        if not app.organization and not cleanup:
            raise AuthError(
                "Your organisation no longer connects Microsoft 365 mailboxes for you: connect your own account "
                "in My Profile.",
                reconnect=True,
            )
        login = OrganizationLogin(app)
        login.access_token()  # fail before the caller starts a Graph exchange
        return GraphClient(app.graph_endpoint, login.access_token, verify=app.verify, mailbox=mailbox)

    @api.private
    def graph_client(self):
        """A Graph client acting as this account's mailbox owner.

        Raises AuthError (now, or on a later call that needs a new token); when
        only the user can fix it (revoked or expired sign-in) the account is
        flagged 'reconnect' so the user sees it.
        """
        self.ensure_one()
        if self.connected_by == ORGANIZATION_MODE:
            try:
                return self.organization_graph(self._graph_mailbox())
            except AuthError as exc:
                if exc.reconnect:
                    self.flag_reconnect_needed(exc)
                raise
        neutralized = self.env["o365.config"]._neutralized_notice()
        if neutralized:  # S8: a staging copy never reaches a mailbox, whatever calls
            raise AuthError(neutralized)
        key = (self.env.cr.dbname, self.id)
        login = None

        def token_provider(force_refresh):
            nonlocal login
            cache = self.sudo().token_cache or ""
            known = _access_tokens.get(key)
            if not force_refresh and known and known[0] == _digest(cache) and known[2] > time.time() + TOKEN_MARGIN:
                return known[1]
            login = login or self._login()
            try:
                token = login.access_token(force_refresh)
            except AuthError as exc:
                if exc.reconnect:
                    self.flag_reconnect_needed(exc)
                raise
            finally:
                self._save_login(login)
            if len(_access_tokens) >= MAX_KEPT_TOKENS:
                _access_tokens.clear()
            _access_tokens[key] = (_digest(self.sudo().token_cache or ""), token, login.expires_at)
            return token

        token_provider(False)  # fail before the caller starts a Graph exchange
        app = self.env["o365.config"].azure_app()
        return GraphClient(app.graph_endpoint, token_provider, verify=app.verify)

    @api.private
    def cleanup_graph_client(self):
        """The client that removes what this mailbox left in Graph (its old subscription): the
        organisation's application for a mailbox it connected, even once the administrator went
        back to per-user sign-ins (O1); else the user's own sign-in."""
        self.ensure_one()
        if self.connected_by == ORGANIZATION_MODE:
            return self.organization_graph(self._graph_mailbox(), cleanup=True)
        return self.graph_client()

    @api.private
    def flag_reconnect_needed(self, exc):
        """Microsoft refused the sign-in for good (``exc``, an AuthError): only the user can bring
        the sync back. 'reconnect' stops every Graph or token request for the mailbox until
        then, and the user is told once (write, S7)."""
        self.sudo().write({"connection_state": "reconnect", "last_error": _reconnect_words(self.owner_env(), exc)})


def _reconnect_words(env, exc):
    """What the user reads when only they can bring their sync back (S7), in the language of
    ``env``; the detail stays for the log."""
    words = plain_words.explain_sign_in(str(exc), reconnect=True)
    return plain_words.compose(env._("Reconnect needed. %(words)s", words=words.sentence(env.lang)), str(exc))
