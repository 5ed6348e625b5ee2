from odoo import api, models

# The Azure application's credentials (S1, O1): the client secret and the certificate
# with its private key. In organisation mode they open every mailbox of the tenant
# outside Odoo, so they are write-only for everyone, administrators included: only
# the module's own server code reads them (as superuser, o365.config), a record rule
# (security/o365_security.xml) hides their rows from every read, search and export,
# and the two public methods below refuse to hand them out. Odoo's own modules keep
# their secrets readable by administrators in System Parameters; this one does not.
SECRET_PARAMS = ("o365_calendar_sync.client_secret", "o365_calendar_sync.certificate")


class IrConfigParameter(models.Model):
    _inherit = "ir.config_parameter"

    @api.model
    def get_param(self, key, default=False):
        if key in SECRET_PARAMS and not self.env.su:
            self.browse().check_access("read")
            return default
        return super().get_param(key, default)

    @api.model
    def set_param(self, key, value):
        """An administrator may replace a credential (the settings form does); the old value
        is never returned, and the rule that hides the row does not make it a duplicate."""
        if key in SECRET_PARAMS and not self.env.su:
            self.browse().check_access("write")
            super(IrConfigParameter, self.sudo()).set_param(key, value)
            return False
        return super().set_param(key, value)
