from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..utils.settings import ORGANIZATION_MODE, USER_MODE

# Account fields mirrored on res.users so that the Preferences dialog (a res.users
# form any user may open on themselves) shows and edits them: {user field: account field}.
O365_EDITABLE = {
    "o365_sync_phonecalls": "sync_phonecalls",
    "o365_sync_tasks": "sync_tasks",
    "o365_sync_meetings": "sync_meetings",
    "o365_sync_events": "sync_events",
    "o365_include_categories": "include_categories",
    "o365_exclude_categories": "exclude_categories",
    "o365_sync_holidays": "sync_holidays",
}
O365_READONLY = {
    "o365_connection_state": "connection_state",
    "o365_mailbox_address": "mailbox_address",
    "o365_connected_by": "connected_by",
    "o365_mailbox_timezone": "mailbox_timezone",
    "o365_sync_state": "sync_state",
    "o365_sync_started_at": "sync_started_at",
    "o365_last_success_at": "last_success_at",
    "o365_last_error": "last_error",
    "o365_last_error_at": "last_error_at",
    "o365_last_error_words": "last_error_words",
    "o365_health_state": "health_state",
}
O365_FIELDS = {**O365_EDITABLE, **O365_READONLY}


def _mirror(account_field, field_type, **kwargs):
    return field_type(
        compute="_compute_o365_fields",
        inverse="_inverse_o365_fields" if account_field in O365_EDITABLE.values() else None,
        readonly=account_field not in O365_EDITABLE.values(),
        store=False,
        **kwargs,
    )


class ResUsers(models.Model):
    _inherit = "res.users"

    o365_account_ids = fields.One2many("o365.sync.account", "user_id", groups="base.group_user")

    # Never tokens: only the options and the status a user may see about themselves (S5).
    o365_connection_state = _mirror(
        "connection_state",
        fields.Selection,
        selection=[("disconnected", "Not connected"), ("connected", "Connected"), ("reconnect", "Reconnect needed")],
        string="Microsoft 365",
    )
    o365_mailbox_address = _mirror("mailbox_address", fields.Char, string="Connected Mailbox")
    o365_connected_by = _mirror(
        "connected_by",
        fields.Selection,
        selection=[(USER_MODE, "Your own sign-in"), (ORGANIZATION_MODE, "Your organisation")],
        string="Connected By",
    )
    # SPEC O1: the mailbox the organisation's connection opens for this user, when it is not
    # their email. Administrators only: a user must not point Odoo at someone else's mailbox.
    o365_mailbox = fields.Char(
        "Microsoft 365 Mailbox",
        groups="base.group_system",
        help="The user's Microsoft 365 address, when it differs from their email; used when the organisation "
        "connects mailboxes (Settings > Microsoft 365 Sync > Connection).",
    )
    o365_organization_mode = fields.Boolean(
        "Organisation Connects Mailboxes",
        compute="_compute_o365_organization_mode",
        help="The administrator connected the whole Microsoft 365 organisation: no sign-in needed (O1).",
    )
    o365_mailbox_timezone = _mirror("mailbox_timezone", fields.Char, string="Mailbox Time Zone")
    o365_sync_state = _mirror(
        "sync_state", fields.Selection, selection=[("stopped", "Stopped"), ("running", "Running")], string="Sync"
    )
    o365_sync_started_at = _mirror("sync_started_at", fields.Datetime, string="Syncing Since")
    o365_last_success_at = _mirror("last_success_at", fields.Datetime, string="Last Successful Exchange")
    o365_last_error = _mirror("last_error", fields.Text, string="Last Error (with details)")
    o365_last_error_at = _mirror("last_error_at", fields.Datetime, string="Last Error At")
    o365_last_error_words = _mirror("last_error_words", fields.Text, string="Last Error")
    o365_health_state = _mirror(
        "health_state",
        fields.Selection,
        selection=[
            ("syncing", "Syncing"),
            ("failing", "Syncing, with errors"),
            ("paused", "Paused by your administrator"),
            ("stopped", "Stopped"),
            ("reconnect", "Reconnect needed"),
            ("disconnected", "Not connected"),
        ],
        string="Microsoft 365 Sync",
    )
    o365_sync_phonecalls = _mirror("sync_phonecalls", fields.Boolean, string="Sync Phone Calls")
    o365_sync_tasks = _mirror("sync_tasks", fields.Boolean, string="Sync Tasks")
    o365_sync_meetings = _mirror("sync_meetings", fields.Boolean, string="Sync Meetings")
    o365_sync_events = _mirror("sync_events", fields.Boolean, string="Sync Microsoft 365 Events")
    o365_include_categories = _mirror(
        "include_categories",
        fields.Char,
        string="Include Categories",
        help="Comma-separated; only events in these categories are logged in Odoo.",
    )
    o365_exclude_categories = _mirror(
        "exclude_categories",
        fields.Char,
        string="Exclude Categories",
        help="Comma-separated; events in these categories are not logged in Odoo.",
    )
    o365_sync_holidays = _mirror("sync_holidays", fields.Boolean, string="Sync Holidays")

    @property
    def SELF_READABLE_FIELDS(self):
        return super().SELF_READABLE_FIELDS + list(O365_FIELDS) + ["o365_organization_mode"]

    def _compute_o365_organization_mode(self):
        organization = self.env["o365.config"]._azure_app().organization
        for user in self:
            user.o365_organization_mode = organization

    @property
    def SELF_WRITEABLE_FIELDS(self):
        return super().SELF_WRITEABLE_FIELDS + list(O365_EDITABLE)

    # -- the mirror ------------------------------------------------------------------

    def _o365_check_reader(self):
        """Only the user themselves (the Preferences path runs as superuser) and administrators (S5)."""
        if self.env.su or self.env.user.has_group("base.group_system"):
            return
        if self - self.env.user:
            raise AccessError(self.env._("You can only see your own Microsoft 365 sync settings."))

    @api.depends_context("uid")
    def _compute_o365_fields(self):
        self._o365_check_reader()
        Account = self.env["o365.sync.account"].sudo()
        accounts = {a.user_id.id: a for a in Account.search([("user_id", "in", self.ids)])}
        defaults = Account.default_get(list(O365_FIELDS.values()))
        for user in self:
            account = accounts.get(user.id)
            for user_field, account_field in O365_FIELDS.items():
                user[user_field] = account[account_field] if account else defaults.get(account_field, False)

    def _inverse_o365_fields(self):
        for user in self:
            if not self.env.su and user != self.env.user and not self.env.user.has_group("base.group_system"):
                raise AccessError(self.env._("You can only change your own Microsoft 365 sync settings."))
            # One compute fills every mirror field, so while some are written the ORM
            # protects all of them: only those in the cache carry a value to keep.
            values = {
                account_field: user[user_field]
                for user_field, account_field in O365_EDITABLE.items()
                if self.env.cache.contains(user, self._fields[user_field])
            }
            self.env["o365.sync.account"]._for_user(user).write(values)
        # The account cleans what it stores (trimmed category lists): show that, not what was typed.
        self.invalidate_recordset(list(O365_FIELDS))

    # -- buttons of the Preferences dialog (S2, S3): the current user's own account only --

    def _o365_own_account(self):
        if self != self.env.user:
            raise AccessError(self.env._("You can only connect or sync your own Microsoft 365 account."))
        return self.env["o365.sync.account"]._for_user(self.env.user)

    def action_o365_connect(self):
        account = self._o365_own_account()
        if self.env["o365.config"]._azure_app().organization:
            # O1: the organisation connects the mailbox; no sign-in page.
            account._check_own_mailbox_address()
            error = account._connect_through_organization()[account]
            if error:
                raise UserError(error)
            return True
        missing = self.env["o365.config"]._azure_app().missing()
        if missing:
            raise UserError(
                self.env._(
                    "Microsoft 365 is not set up yet (missing: %(missing)s). Ask your administrator "
                    "to fill in Settings > Microsoft 365 Sync.",
                    missing=", ".join(missing),
                )
            )
        # The flow starts in a controller: it keeps the PKCE verifier in the user's
        # session, out of reach of the browser and of other users.
        return {"type": "ir.actions.act_url", "url": "/o365_calendar_sync/oauth/start", "target": "self"}

    def action_o365_disconnect(self):
        self._o365_own_account()._disconnect()
        return True  # the dialog reloads the user and shows the new state

    def action_o365_start_sync(self):
        account = self._o365_own_account()
        if self.env["o365.config"]._azure_app().organization:
            if account.connection_state != "connected":
                account._check_own_mailbox_address()
            account._organization_start()  # O1: no Connect needed
            return True
        if account.connection_state != "connected":
            raise UserError(
                self.env._("Connect your Microsoft 365 account first (Preferences > Microsoft 365 > Connect).")
            )
        account._start_sync()
        return True  # the dialog reloads the user and shows the new state

    def action_o365_stop_sync(self):
        self._o365_own_account()._stop_sync()
        return True  # the dialog reloads the user and shows the new state

    @api.model
    def o365_sync_indicator(self):
        """What the Calendar app's side panel shows about the current user's sync (issue 15)."""
        account = self.env["o365.sync.account"].sudo().search([("user_id", "=", self.env.uid)], limit=1)
        if not account:
            return {"state": "disconnected", "label": self.env._("Microsoft 365: not connected")}
        labels = {
            "syncing": self.env._("Microsoft 365: syncing"),
            "failing": self.env._("Microsoft 365: syncing, with errors"),
            "paused": self.env._("Microsoft 365: paused by your administrator"),
            "stopped": self.env._("Microsoft 365: stopped"),
            "reconnect": self.env._("Microsoft 365: reconnect needed"),
            "disconnected": self.env._("Microsoft 365: not connected"),
        }
        return {
            "state": account.health_state,
            "label": labels[account.health_state],
            "error": account.last_error_words or "",
            "waiting": account.waiting_count,
            "failed": account.failed_count,
        }
