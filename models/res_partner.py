from odoo import models

# Contact data shown in an activity's event body (SPEC A3, A4).
SHOWN_FIELDS = {"name", "phone", "mobile", "email", "parent_id", "company_name"}


class ResPartner(models.Model):
    _inherit = "res.partner"

    def write(self, vals):
        result = super().write(vals)
        if SHOWN_FIELDS & set(vals):
            self._o365_requeue_activities()
        return result

    def _o365_requeue_activities(self):
        """Re-push the synced activities whose body shows these contacts (A4)."""
        links = self.env["o365.event.link"].sudo().search([("res_model", "=", "mail.activity")])
        if not links:
            return
        activities = self.env["mail.activity"].sudo().browse(set(links.mapped("res_id"))).exists()
        # A company's new name shows in its employees' activities too.
        shown = self | self.env["res.partner"].sudo().search([("parent_id", "in", self.ids)])
        activities.filtered(lambda a: a._o365_contact() in shown)._o365_queue_changes()
