from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..utils.settings import ORGANIZATION_MODE, USER_MODE

# The user's own sync options and status, shown and edited in the Preferences dialog (a
# res.users form any user may open on themselves) through related fields on their account.
# Never tokens (S5).
O365_EDITABLE_FIELDS = [
    "o365_sync_phonecalls",
    "o365_sync_tasks",
    "o365_sync_meetings",
    "o365_sync_events",
    "o365_include_categories",
    "o365_exclude_categories",
    "o365_sync_holidays",
]
O365_READONLY_FIELDS = [
    "o365_connection_state",
    "o365_mailbox_address",
    "o365_connected_by",
    "o365_mailbox_timezone",
    "o365_sync_state",
    "o365_sync_started_at",
    "o365_last_success_at",
    "o365_last_error",
    "o365_last_error_at",
    "o365_last_error_words",
    "o365_health_state",
    "o365_organization_mode",
    "o365_neutralized_notice",
]


def _account_field(name, field_type, **kwargs):
    """A field of the user's account, read and written as the current user, so that the account's
    access rules apply (S5: the user themselves and administrators only)."""
    return field_type(related=f"o365_account_id.{name}", compute_sudo=False, **kwargs)


class ResUsers(models.Model):
    _inherit = "res.users"

    o365_account_ids = fields.One2many("o365.sync.account", "user_id", groups="base.group_user")
    o365_account_id = fields.Many2one(
        "o365.sync.account",
        "Microsoft 365 Sync Account",
        compute="_compute_o365_account_id",
        search="_search_o365_account_id",
        help="The user's account; before their first use, an unsaved one with the default options.",
    )

    o365_connection_state = _account_field("connection_state", fields.Selection, string="Microsoft 365")
    o365_mailbox_address = _account_field("mailbox_address", fields.Char, string="Connected Mailbox")
    # Selections the user reads about themselves, in their words (a related selection would
    # carry the administrators' labels).
    o365_connected_by = fields.Selection(
        [(USER_MODE, "Your own sign-in"), (ORGANIZATION_MODE, "Your organisation")],
        "Connected By",
        compute="_compute_o365_status_words",
    )
    # Issue 23: the Calendar tab's one state, from the connection and the sync together.
    o365_health_state = fields.Selection(
        [
            ("syncing", "Syncing"),
            # No change notification comes: Outlook's changes arrive late (issue 28), in issue 23's words.
            ("late", "Outlook changes delayed"),
            ("failing", "Syncing, with errors"),
            ("paused", "Paused by your administrator"),
            ("stopped", "Stopped"),
            ("reconnect", "Reconnect needed"),
            ("disconnected", "Not connected"),
        ],
        "Microsoft 365 Sync",
        compute="_compute_o365_status_words",
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
    o365_neutralized_notice = fields.Char(
        "Sync Off In This Copy",
        compute="_compute_o365_neutralized_notice",
        help="Why sync is off: this database is a neutralized copy (S8).",
    )
    o365_mailbox_timezone = _account_field("mailbox_timezone", fields.Char, string="Mailbox Time Zone")
    o365_sync_state = _account_field("sync_state", fields.Selection, string="Sync")
    o365_sync_started_at = _account_field("sync_started_at", fields.Datetime, string="Syncing Since")
    o365_last_success_at = _account_field("last_success_at", fields.Datetime, string="Last Successful Exchange")
    o365_last_error = _account_field("last_error", fields.Text, string="Last Error (with details)")
    o365_last_error_at = _account_field("last_error_at", fields.Datetime, string="Last Error At")
    o365_last_error_words = _account_field("last_error_words", fields.Text, string="Last Error")
    o365_sync_phonecalls = _account_field("sync_phonecalls", fields.Boolean, string="Sync Phone Calls", readonly=False)
    o365_sync_tasks = _account_field("sync_tasks", fields.Boolean, string="Sync Tasks", readonly=False)
    o365_sync_meetings = _account_field("sync_meetings", fields.Boolean, string="Sync Meetings", readonly=False)
    o365_sync_events = _account_field("sync_events", fields.Boolean, string="Sync Microsoft 365 Events", readonly=False)
    o365_include_categories = _account_field(
        "include_categories",
        fields.Char,
        string="Include Categories",
        help="Comma-separated; only events in these categories are logged in Odoo.",
        readonly=False,
    )
    o365_exclude_categories = _account_field(
        "exclude_categories",
        fields.Char,
        string="Exclude Categories",
        help="Comma-separated; events in these categories are not logged in Odoo.",
        readonly=False,
    )
    o365_sync_holidays = _account_field("sync_holidays", fields.Boolean, string="Sync Holidays", readonly=False)

    @property
    def SELF_READABLE_FIELDS(self):
        return super().SELF_READABLE_FIELDS + O365_EDITABLE_FIELDS + O365_READONLY_FIELDS

    @property
    def SELF_WRITEABLE_FIELDS(self):
        return super().SELF_WRITEABLE_FIELDS + O365_EDITABLE_FIELDS

    @api.depends("o365_account_ids")
    @api.depends_context("uid")
    def _compute_o365_account_id(self):
        """Only the user themselves (the Preferences path runs as superuser) and administrators
        reach a user's account (S5). A user without one yet reads the default options."""
        if not (self.env.su or self.env.user.has_group("base.group_system")) and self - self.env.user:
            raise AccessError(self.env._("You can only see your own Microsoft 365 sync settings."))
        Account = self.env["o365.sync.account"]
        defaults = None
        for user in self:
            account = user.sudo().o365_account_ids[:1]
            if not account:
                defaults = defaults or Account.default_get(list(Account._fields))
                account = Account.new({**defaults, "user_id": user.id})
            user.o365_account_id = account

    def _search_o365_account_id(self, operator, value):
        return [("o365_account_ids", operator, value)]

    @api.depends("o365_account_id.connected_by", "o365_account_id.health_state")
    def _compute_o365_status_words(self):
        for user in self:
            user.o365_connected_by = user.o365_account_id.connected_by
            user.o365_health_state = user.o365_account_id.health_state

    def _compute_o365_organization_mode(self):
        organization = self.env["o365.config"].azure_app().organization
        for user in self:
            user.o365_organization_mode = organization

    def _compute_o365_neutralized_notice(self):
        notice = self.env["o365.config"]._neutralized_notice() or False
        for user in self:
            user.o365_neutralized_notice = notice

    def write(self, vals):
        """An option set before the user's first use creates their account: the related fields
        write to it."""
        if any(name in vals for name in O365_EDITABLE_FIELDS) and (
            self.env.su or self == self.env.user or self.env.user.has_group("base.group_system")
        ):
            for user in self:
                self.env["o365.sync.account"]._for_user(user)
            self.invalidate_recordset(["o365_account_id"])
        leaving = self.filtered("active") if "active" in vals and not vals["active"] else self.browse()
        result = super().write(vals)
        if leaving:
            # S9: an archived user's sync stops at once (reactivating them does not start it).
            self.env["o365.sync.account"].sudo().search([("user_id", "in", leaving.ids)])._stop_for_departed_user()
        if any(name in vals for name in O365_EDITABLE_FIELDS):
            # The account cleans what it stores (trimmed category lists): show that, not what was typed.
            self.invalidate_recordset(O365_EDITABLE_FIELDS)
        return result

    def unlink(self):
        # S9: a deleted user's sync stops first (their account goes with them).
        self.env["o365.sync.account"].sudo().search([("user_id", "in", self.ids)])._stop_for_departed_user(deleted=True)
        return super().unlink()

    # -- buttons of the Preferences dialog (S2, S3): the current user's own account only --

    def _o365_own_account(self):
        if self != self.env.user:
            raise AccessError(self.env._("You can only connect or sync your own Microsoft 365 account."))
        return self.env["o365.sync.account"]._for_user(self.env.user)

    def action_o365_connect(self):
        account = self._o365_own_account()
        if self.env["o365.config"].azure_app().organization:
            # O1: the organisation connects the mailbox; no sign-in page.
            account._check_own_mailbox_address()
            error = account._connect_through_organization()[account]
            if error:
                raise UserError(error)
            return True
        missing = self.env["o365.config"].azure_app().missing()
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
        if self.env["o365.config"].azure_app().organization:
            if account.connection_state != "connected" or account._organization_mailbox_changed():
                account._check_own_mailbox_address()
            account._organization_start()  # O1: no Connect needed
            return True
        if account.connection_state != "connected":
            raise UserError(
                self.env._(
                    "Connect your Microsoft 365 account first: My Profile > Preferences > Connect Microsoft 365."
                )
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
        neutralized = self.env["o365.config"]._neutralized_notice()
        if neutralized:  # S8: a staging copy says why, whatever the account says
            return {"state": "stopped", "label": self.env._("Microsoft 365: off in this copy"), "error": neutralized}
        if not account:
            return {"state": "disconnected", "label": self.env._("Microsoft 365: not connected")}
        labels = {
            "syncing": self.env._("Microsoft 365: syncing"),
            "late": self.env._("Microsoft 365: syncing, Outlook changes arrive late"),
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
