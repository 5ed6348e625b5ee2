"""Start Microsoft 365 sync for many users at once (SPEC O1): the administrators' wizard, and
the bulk start it runs (also the health list's Restart in organisation mode). Each mailbox
is connected through the organisation's application (models/o365_sync_account_organization.py).
"""

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..utils import plain_words


class O365SyncStartUsers(models.TransientModel):
    """Administrators start Microsoft 365 sync for many users at once (SPEC O1), from the
    health list or from the Users list (Action menu); the organisation's connection opens
    their mailboxes, nobody signs in."""

    _name = "o365.sync.start.users"
    _description = "Start Microsoft 365 Sync for Users"

    user_ids = fields.Many2many(
        "res.users",
        string="Users",
        domain=[("share", "=", False)],
        default=lambda self: self._default_users(),
        help="Internal users whose Outlook calendar should sync; each is matched to the mailbox of their email "
        "(or the Microsoft 365 mailbox set on the user).",
    )

    @api.model
    def _default_users(self):
        if self.env.context.get("active_model") == "res.users":
            return (
                self.env["res.users"]
                .browse(self.env.context.get("active_ids") or [])
                .filtered(lambda user: not user.share)
            )
        return self.env["res.users"]

    def action_start(self):
        self.ensure_one()
        return self._start_users(self.user_ids)

    @api.model
    def _start_users(self, users):
        """Administrators start sync for many users at once (O1): each user's mailbox is checked
        and connected through the organisation's application, then syncs. Returns a notification
        saying how many started and, in plain words, why the others did not."""
        Account = self.env["o365.sync.account"]
        Account._check_administrator()
        if not self.env["o365.config"].azure_app().organization:
            raise UserError(
                self.env._(
                    "Starting sync for other users needs the organisation-wide connection (Settings > Microsoft 365 "
                    "Sync > Connection). With per-user connections, each user connects from My Profile."
                )
            )
        accounts = Account.browse([Account._for_user(user).id for user in users if user._is_internal()])
        refused = {
            account: error
            for account, error in accounts.filtered(lambda account: account.connection_state != "connected")
            ._connect_through_organization(for_administrator=True)
            .items()
            if error
        }
        ready = accounts.filtered(lambda a: a.connection_state == "connected" and a.sync_state != "running")
        ready._start_sync()
        running = accounts.filtered(lambda a: a.sync_state == "running" and a.connection_state == "connected")
        lines = [self.env._("%(count)s of %(total)s users sync.", count=len(running), total=len(accounts))]
        lines += [f"{account.user_id.name}: {plain_words.words_of(error)}" for account, error in refused.items()]
        # The title says what happened (issue 23): not "started" when nobody did.
        if not running:
            title = self.env._("Microsoft 365 sync did not start")
        elif refused:
            title = self.env._("Microsoft 365 sync started for some users")
        else:
            title = self.env._("Microsoft 365 sync started")
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title,
                "message": "\n".join(lines),
                "type": "warning" if refused else "success",
                "sticky": bool(refused),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }
