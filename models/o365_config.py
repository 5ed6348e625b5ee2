from odoo import api, models
from odoo.exceptions import UserError

from ..utils.email_domains import domain_of, parse_domains
from ..utils.settings import (
    MICROSOFT_GRAPH_ENDPOINT,
    MICROSOFT_LOGIN_ENDPOINT,
    PARAM_PREFIX,
    USER_MODE,
    AzureAppSettings,
    read_param,
)

# SPEC S8: set by data/neutralize.sql in a neutralized copy (staging); cleared when an
# administrator saves new credentials (res_config_settings.py).
NEUTRALIZED_PARAM = PARAM_PREFIX + "neutralized"


class O365Config(models.AbstractModel):
    """Reads the administrator's settings (SPEC S1) into plain values."""

    _name = "o365.config"
    _description = "Microsoft 365 sync settings reader"

    @api.model
    def _param(self, key, default=""):
        return read_param(self.env, key, default)

    @api.model
    def _azure_app(self):
        return AzureAppSettings(
            client_id=self._param("client_id"),
            client_secret=self._param("client_secret"),
            tenant=self._param("tenant", "common"),
            login_endpoint=self._param("login_endpoint", MICROSOFT_LOGIN_ENDPOINT),
            graph_endpoint=self._param("graph_endpoint", MICROSOFT_GRAPH_ENDPOINT),
            ca_bundle=self._param("ca_bundle"),
            connection_mode=self._param("connection_mode", USER_MODE),
            certificate=self._param("certificate"),
            certificate_thumbprint=self._param("certificate_thumbprint"),
        )

    @api.model
    def _neutralized_notice(self):
        """S8: why sync is off in a neutralized copy of the database, or "" in a live database."""
        if self._param("neutralized") not in ("1", "True", "true"):
            return ""
        return self.env._(
            "This database is a neutralized copy: Microsoft 365 sync is off. Nothing goes to Outlook or comes "
            "from it. To use sync here, an administrator enters new settings (a client secret or certificate) "
            "in Settings > Microsoft 365 Sync and saves them; then users connect and start again."
        )

    @api.model
    def _check_not_neutralized(self):
        """S8: refuse to connect or start a mailbox in a neutralized copy, saying why."""
        notice = self._neutralized_notice()
        if notice:
            raise UserError(notice)

    @api.model
    def _public_base_url(self):
        return (
            self._param("public_base_url") or self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        ).rstrip("/")

    @api.model
    def _org_domains(self):
        """Organisation domains: the setting, or those of companies and internal users."""
        configured = parse_domains(self._param("org_domains"))
        return configured or self._default_org_domains()

    @api.model
    def _default_org_domains(self):
        companies = self.env["res.company"].sudo().search([("email", "!=", False)])
        users = self.env["res.users"].sudo().search([("share", "=", False), ("email", "!=", False)])
        emails = companies.mapped("email") + users.mapped("email")
        return parse_domains(",".join(filter(None, map(domain_of, emails))))
