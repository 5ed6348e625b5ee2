from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..utils.auth import AuthError, MicrosoftLogin
from ..utils.graph_client import GraphClient, GraphError

# Fields that hold secrets or sync cursors: readable by administrators only, and
# never placed in a view (SPEC S5).
SYSTEM_ONLY = "base.group_system"


def _clean_category_list(text):
    """Trim and de-duplicate a comma-separated category list, keeping its order."""
    names = []
    for raw in (text or "").split(","):
        name = raw.strip()
        if name and name.casefold() not in (n.casefold() for n in names):
            names.append(name)
    return ", ".join(names)


class O365SyncAccount(models.Model):
    """One user's link to a Microsoft 365 mailbox and their sync options.

    Kept apart from res.users so that access rules (the user and administrators
    only) apply to one small model, and res.users.settings (sent to the browser
    in the session info) never carries a token.
    """

    _name = "o365.sync.account"
    _description = "Microsoft 365 Calendar Sync Account"
    _rec_name = "user_id"

    user_id = fields.Many2one("res.users", required=True, ondelete="cascade", index=True)
    connection_state = fields.Selection(
        [
            ("disconnected", "Not connected"),
            ("connected", "Connected"),
            ("reconnect", "Reconnect needed"),
        ],
        default="disconnected",
        required=True,
    )
    mailbox_address = fields.Char(readonly=True)
    previous_mailbox_address = fields.Char(
        readonly=True,
        copy=False,
        help="The mailbox connected before Disconnect: reconnecting it keeps the links (S4).",
    )
    mailbox_timezone = fields.Char(readonly=True, help="Time zone of the Outlook mailbox.")
    token_cache = fields.Text(groups=SYSTEM_ONLY, copy=False, prefetch=False)

    # Option A: ERP activities to the calendar.
    sync_phonecalls = fields.Boolean("Phone Calls", default=True)
    sync_tasks = fields.Boolean("Tasks", default=True)
    sync_meetings = fields.Boolean("Meetings", default=True)
    # Option B: calendar events into the ERP.
    sync_events = fields.Boolean("Sync Office 365 Events", default=True)
    include_categories = fields.Char(help="Comma-separated; only events in these categories are logged.")
    exclude_categories = fields.Char(help="Comma-separated; events in these categories are not logged.")
    # Option C: leaves.
    sync_holidays = fields.Boolean(default=True)

    sync_state = fields.Selection([("stopped", "Stopped"), ("running", "Running")], default="stopped", required=True)
    sync_started_at = fields.Datetime("Syncing Since", readonly=True, copy=False)
    last_success_at = fields.Datetime("Last Successful Exchange", readonly=True, copy=False)
    last_error = fields.Text(readonly=True, copy=False)

    delta_link = fields.Char(groups=SYSTEM_ONLY, copy=False)
    subscription_id = fields.Char(groups=SYSTEM_ONLY, copy=False)
    subscription_secret = fields.Char(groups=SYSTEM_ONLY, copy=False)
    subscription_expires_at = fields.Datetime(groups=SYSTEM_ONLY, copy=False)

    _sql_constraints = [("user_unique", "UNIQUE(user_id)", "A user has one Microsoft 365 sync account.")]

    @api.constrains("include_categories", "exclude_categories")
    def _check_one_category_list(self):
        for account in self:
            if account.include_categories and account.exclude_categories:
                raise ValidationError(
                    self.env._(
                        "Fill in either 'Include categories' or 'Exclude categories', not both: "
                        "clear one of the two lists."
                    )
                )

    @api.model_create_multi
    def create(self, vals_list):
        return super().create([self._clean_vals(vals) for vals in vals_list])

    def write(self, vals):
        return super().write(self._clean_vals(vals))

    @api.model
    def _clean_vals(self, vals):
        for key in ("include_categories", "exclude_categories"):
            if key in vals:
                vals[key] = _clean_category_list(vals[key]) or False
        return vals

    @api.model
    def _for_user(self, user):
        """The user's account, created on first use (as superuser: users cannot create rows for others)."""
        account = self.sudo().search([("user_id", "=", user.id)], limit=1)
        return account or self.sudo().create({"user_id": user.id})

    def _category_filter(self):
        """(mode, names) for the event filters: mode is 'all', 'include' or 'exclude'."""
        self.ensure_one()
        if self.include_categories:
            return "include", [c.strip() for c in self.include_categories.split(",")]
        if self.exclude_categories:
            return "exclude", [c.strip() for c in self.exclude_categories.split(",")]
        return "all", []

    # -- talking to Graph --------------------------------------------------------------

    def _login(self):
        """An MSAL session over this account's token cache (see _save_login)."""
        self.ensure_one()
        return MicrosoftLogin(self.env["o365.config"]._azure_app(), self.sudo().token_cache)

    def _save_login(self, login):
        """Keep what MSAL changed in the cache: a refresh rotates the refresh token."""
        if login.cache_changed:
            self.sudo().token_cache = login.serialized_cache()

    def _graph_client(self):
        """A Graph client acting as this account's mailbox owner.

        Raises AuthError (now, or on a later call that needs a new token); when
        only the user can fix it (revoked or expired sign-in) the account is
        flagged 'reconnect' so the user sees it.
        """
        self.ensure_one()
        login = self._login()

        def token_provider(force_refresh):
            try:
                return login.access_token(force_refresh)
            except AuthError as exc:
                if exc.reconnect:
                    self.sudo().write({"connection_state": "reconnect", "last_error": str(exc)})
                raise
            finally:
                self._save_login(login)

        token_provider(False)  # fail before the caller starts a Graph exchange
        app = self.env["o365.config"]._azure_app()
        return GraphClient(app.graph_endpoint, token_provider, verify=app.verify)

    # -- sync lifecycle (SPEC S3, S4) ---------------------------------------------------

    def _start_sync(self):
        """Record the sync start: nothing created before it is synced, either way.

        The transaction's time, the clock create_date uses, so that comparing a
        record's create_date with it is exact. Items linked before a Stop resume:
        the changes they queued meanwhile go out now (S4).
        """
        for account in self:
            account.sudo().write({"sync_state": "running", "sync_started_at": self.env.cr.now(), "last_error": False})
            account._on_sync_started()
        self.env["o365.push.queue"]._wake_worker()

    def _stop_sync(self):
        """Stop both directions; delete nothing on either side (S4). No Graph call here:
        the webhook subscription is removed by the pull job, so Stop answers at once."""
        for account in self:
            account._on_sync_stopped()
            account.sudo().write({"sync_state": "stopped"})

    def _on_sync_started(self):
        """Hook for the inbound side (subscription, first delta round)."""

    def _on_sync_stopped(self):
        """Hook for the inbound side (remove the webhook subscription)."""

    def _is_syncing(self):
        self.ensure_one()
        return self.connection_state == "connected" and self.sync_state == "running"

    # -- connecting (SPEC S2) ------------------------------------------------------------

    def _connect(self, login):
        """Keep a finished sign-in, then learn which mailbox it opens (/me, /me/mailboxSettings).

        Raises UserError in plain words when the mailbox cannot be read or is
        already connected to another Odoo user; the account is then left as it was.
        """
        self.ensure_one()
        previous = {"token_cache": self.sudo().token_cache, "connection_state": self.connection_state}
        self.sudo().write({"token_cache": login.serialized_cache(), "connection_state": "connected"})
        try:
            graph = self._graph_client()
            me = graph.me()
            settings = graph.mailbox_settings()
        except (AuthError, GraphError) as exc:
            self.sudo().write(previous)
            raise UserError(
                self.env._("Signed in, but Microsoft 365 did not let Odoo read your mailbox: %(error)s", error=exc)
            ) from None
        address = (me.get("mail") or me.get("userPrincipalName") or "").lower()
        taken = self.sudo().search(
            [("mailbox_address", "=", address), ("id", "!=", self.id), ("connection_state", "!=", "disconnected")]
        )
        if taken:
            self.sudo().write(previous)
            raise UserError(
                self.env._(
                    "The mailbox %(address)s is already connected to %(user)s in Odoo: sign in with your own account.",
                    address=address,
                    user=taken[0].user_id.name,
                )
            )
        before = self.mailbox_address or self.previous_mailbox_address
        if before and before != address:
            self._forget_mailbox()
        self.sudo().write(
            {
                "mailbox_address": address,
                "previous_mailbox_address": False,
                "mailbox_timezone": settings.get("timeZone") or False,
                "last_error": False,
            }
        )

    def _forget_mailbox(self):
        """Another mailbox replaces the previous one: its links and waiting changes mean
        nothing there. Nothing is deleted in either calendar."""
        self.ensure_one()
        for model in ("o365.event.link", "o365.push.queue", "o365.event.exclusion"):
            self.env[model].sudo().search([("account_id", "=", self.id)]).unlink()
        self._on_mailbox_forgotten()

    def _on_mailbox_forgotten(self):
        """Hook for the inbound side (the old mailbox's subscription and delta cursor)."""

    def _disconnect(self):
        """Stop syncing and forget the sign-in (S2); nothing is deleted on either side.

        No Graph call here, so Disconnect answers at once even when Graph does not
        (S4). The links stay: connecting the same mailbox again resumes them. The
        pull job removes the webhook subscription right after, with the tokens it
        still needs for that, then forgets them (``_on_disconnected``).
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
            account._on_disconnected()

    def _on_disconnected(self):
        """Forget the tokens now; the inbound side keeps them until its cleanup job ran."""
        self.sudo().write({"token_cache": False})
