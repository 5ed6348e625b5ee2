from odoo import api, fields, models


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
        return self.env["o365.sync.account"]._organization_start_users(self.user_ids)
