from odoo import api, fields, models


class O365EventLink(models.Model):
    """An Odoo record and its Outlook event in one mailbox.

    Graph event ids are per mailbox (an organiser's meeting has another id in each
    attendee's calendar), so a record has one link per mailbox, never a single id
    on the record itself (the lesson of odoo/odoo#148011).
    """

    _name = "o365.event.link"
    _description = "Outlook Event Link"
    _rec_name = "graph_event_id"

    account_id = fields.Many2one("o365.sync.account", required=True, ondelete="cascade", index=True)
    res_model = fields.Char("Odoo Model", required=True, index=True)
    res_id = fields.Many2oneReference("Odoo Record", model_field="res_model", required=True, index=True)
    graph_event_id = fields.Char("Outlook Event ID", index=True, copy=False)
    ical_uid = fields.Char("iCalUId", index=True, copy=False, help="Same for every copy of one meeting (SPEC B12).")
    change_key = fields.Char(copy=False, help="Graph changeKey of the last version Odoo wrote or read (SPEC E4).")
    origin = fields.Selection([("odoo", "Odoo"), ("outlook", "Outlook")], required=True, default="odoo")

    _sql_constraints = [
        ("event_unique", "UNIQUE(account_id, graph_event_id)", "An Outlook event is linked once per mailbox."),
    ]

    @api.model_create_multi
    def create(self, vals_list):
        """A meeting linked here is this module's: Odoo's own microsoft_calendar leaves it alone (S6)."""
        links = super().create(vals_list)
        Event = self.env["calendar.event"]
        events = Event.sudo().browse(links.filtered(lambda link: link.res_model == Event._name).mapped("res_id"))
        events = events.exists().filtered(lambda event: not event.o365_owned)
        if events:
            values = {"o365_owned": True}
            if Event._o365_microsoft_calendar_installed():
                values["need_sync_m"] = False
            events.write(values)
        return links

    @api.private
    @api.model
    def link_outlook_events(self, account, records, outlook_events):
        """Link each record to the Outlook event (a Graph event dict) at the same position in
        ``account``'s mailbox: the record came from Outlook (origin 'outlook'). Called by the
        pull and by the model that logs Outlook meetings (never over RPC)."""
        return self.sudo().create(
            [
                {
                    "account_id": account.id,
                    "res_model": record._name,
                    "res_id": record.id,
                    "graph_event_id": outlook_event["id"],
                    "ical_uid": outlook_event.get("iCalUId"),
                    "change_key": outlook_event.get("changeKey"),
                    "origin": "outlook",
                }
                for record, outlook_event in zip(records, outlook_events, strict=True)
            ]
        )
