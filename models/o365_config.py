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
# Company-wide pause of all sync (S7): "1" when paused (the Pause button of the health list,
# models/o365_sync_account_health.py, or the setting). The push and pull jobs do nothing while
# it is set (their crons in engine/cron.py, and engine/importer.py); changes wait.
PAUSE_PARAM = "o365_calendar_sync.sync_paused"


class O365Config(models.AbstractModel):
    """Reads the administrator's settings (SPEC S1) into plain values."""

    _name = "o365.config"
    _description = "Microsoft 365 sync settings reader"

    @api.model
    def _param(self, key, default=""):
        return read_param(self.env, key, default)

    @api.model
    @api.private
    def azure_app(self):
        """The Azure application's settings (S1), secrets included: never sent to a browser."""
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
    @api.private
    def sync_paused(self):
        """True while an administrator paused all sync (S7), or in a neutralized copy of the
        database (S8): the jobs leave every mailbox alone."""
        params = self.env["ir.config_parameter"].sudo()
        return params.get_param(PAUSE_PARAM) in ("1", "True", "true") or bool(
            self.env["o365.config"]._neutralized_notice()
        )

    @api.model
    def _check_not_neutralized(self):
        """S8: refuse to connect or start a mailbox in a neutralized copy, saying why."""
        notice = self._neutralized_notice()
        if notice:
            raise UserError(notice)

    @api.model
    @api.private
    def public_base_url(self):
        """The address Graph and Microsoft's sign-in reach this database at (no trailing slash)."""
        return (
            self._param("public_base_url") or self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        ).rstrip("/")

    @api.model
    @api.private
    def org_domains(self):
        """Organisation domains: the setting, or those of companies and internal users."""
        configured = parse_domains(self._param("org_domains"))
        return configured or self._default_org_domains()

    @api.model
    def _default_org_domains(self):
        companies = self.env["res.company"].sudo().search([("email", "!=", False)])
        users = self.env["res.users"].sudo().search([("share", "=", False), ("email", "!=", False)])
        emails = companies.mapped("email") + users.mapped("email")
        return parse_domains(",".join(filter(None, map(domain_of, emails))))
