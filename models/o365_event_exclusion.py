from odoo import api, fields, models


class O365EventExclusion(models.Model):
    """An Outlook event that must stay out of Odoo for good, per mailbox.

    SPEC B4: an event seen private is not logged even when made non-private later,
    so the first private sighting has to be remembered.
    """

    _name = "o365.event.exclusion"
    _description = "Outlook Event Kept Out of Odoo"
    _log_access = False

    account_id = fields.Many2one("o365.sync.account", required=True, ondelete="cascade", index=True)
    graph_event_id = fields.Char(required=True, index=True)
    reason = fields.Char(required=True)

    _sql_constraints = [
        ("event_unique", "UNIQUE(account_id, graph_event_id)", "An Outlook event is excluded once per mailbox."),
    ]

    @api.model
    @api.private
    def excluded_ids(self, account, graph_event_ids):
        """Which of these Outlook event ids the pull decided for good not to log in this mailbox."""
        if not graph_event_ids:
            return set()
        found = self.sudo().search_fetch(
            [("account_id", "=", account.id), ("graph_event_id", "in", list(graph_event_ids))], ["graph_event_id"]
        )
        return set(found.mapped("graph_event_id"))

    @api.model
    @api.private
    def exclude(self, account, graph_event_id, reason):
        """Remember that this Outlook event is never logged from this mailbox (a sticky reason)."""
        self.env.cr.execute(
            """INSERT INTO o365_event_exclusion (account_id, graph_event_id, reason) VALUES (%s, %s, %s)
               ON CONFLICT (account_id, graph_event_id) DO NOTHING""",
            (account.id, graph_event_id, reason),
        )
