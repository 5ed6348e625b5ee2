from odoo import api, fields, models
from odoo.exceptions import AccessError

from ..controllers.oauth import ADMIN_CONSENT_START_PATH, CALLBACK_PATH
from ..utils.auth import OrganizationLogin, certificate_expiry, certificate_thumbprint
from ..utils.connection_check import check_connection
from ..utils.email_domains import parse_domains
from ..utils.settings import (
    MICROSOFT_GRAPH_ENDPOINT,
    MICROSOFT_LOGIN_ENDPOINT,
    ORGANIZATION_MODE,
    USER_MODE,
    AzureAppSettings,
)
from .o365_config import NEUTRALIZED_PARAM

# The settings a connection test reads, as typed in the form (saved or not).
CONNECTION_FIELDS = (
    "o365_client_id",
    "o365_client_secret",
    "o365_tenant",
    "o365_public_base_url",
    "o365_login_endpoint",
    "o365_graph_endpoint",
    "o365_ca_bundle",
    "o365_connection_mode",
    "o365_certificate",
    "o365_certificate_thumbprint",
)


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    o365_connection_mode = fields.Selection(
        [
            (USER_MODE, "Each user signs in"),
            (ORGANIZATION_MODE, "The whole organisation, connected once by an administrator"),
        ],
        "Connection",
        config_parameter="o365_calendar_sync.connection_mode",
        default=USER_MODE,
        required=True,
        help="Each user signs in: every user presses Connect and consents (delegated permissions). "
        "The whole organisation: the application's own permissions, granted once by an administrator; "
        "users only press Start Syncing (SPEC O1).",
    )
    # The credentials are write-only (models/ir_config_parameter.py): these two fields are
    # never filled from what is saved, only typed to replace it (set_values), and emptied
    # again once saved; the form shows whether one is saved instead.
    o365_certificate = fields.Char(
        "Certificate (PEM)",
        groups="base.group_system",
        help="Instead of a client secret (organisation-wide connection only): the certificate's private key "
        "and the certificate itself, in PEM, one after the other. Upload the certificate (.cer or .pem, "
        "without the key) to the app registration under Certificates & secrets. Once saved it is never "
        "shown again: paste a new one to replace it.",
    )
    o365_certificate_saved = fields.Char("Saved Certificate", compute="_compute_o365_saved_credentials")
    o365_certificate_thumbprint = fields.Char(
        "Certificate Thumbprint",
        config_parameter="o365_calendar_sync.certificate_thumbprint",
        groups="base.group_system",
        help="Filled in from the certificate; type it (as Azure shows it) only when the PEM holds the key alone.",
    )
    o365_admin_consent = fields.Char("Admin Consent", compute="_compute_o365_admin_consent")
    o365_client_id = fields.Char("Azure Client ID", config_parameter="o365_calendar_sync.client_id")
    o365_client_secret = fields.Char(
        "Azure Client Secret",
        groups="base.group_system",
        help="Once saved it is never shown again, to anyone: type a new one to replace it.",
    )
    o365_client_secret_saved = fields.Char("Saved Client Secret", compute="_compute_o365_saved_credentials")
    o365_tenant = fields.Char(
        "Azure Tenant",
        config_parameter="o365_calendar_sync.tenant",
        default="common",
        help="Directory (tenant) ID or domain of your organisation, or 'common'.",
    )
    o365_org_domains = fields.Char(
        "Organisation Email Domains",
        help="Comma-separated. Participants with these domains are internal; "
        "events with internal participants only are never logged in Odoo.",
    )
    o365_public_base_url = fields.Char(
        "Public Base URL",
        config_parameter="o365_calendar_sync.public_base_url",
        help="Address Microsoft redirects users to after sign-in and sends change "
        "notifications to. Defaults to the web.base.url system parameter.",
    )
    o365_login_endpoint = fields.Char(
        "Login Endpoint",
        config_parameter="o365_calendar_sync.login_endpoint",
        default=MICROSOFT_LOGIN_ENDPOINT,
    )
    o365_graph_endpoint = fields.Char(
        "Graph Endpoint",
        config_parameter="o365_calendar_sync.graph_endpoint",
        default=MICROSOFT_GRAPH_ENDPOINT,
    )
    o365_ca_bundle = fields.Char(
        "CA Bundle",
        config_parameter="o365_calendar_sync.ca_bundle",
        help="Path of a PEM file to trust for the endpoints above (a private or "
        "emulated Microsoft 365). Leave empty for Microsoft's own endpoints.",
    )
    o365_sync_paused = fields.Boolean(
        "Pause All Sync",
        config_parameter="o365_calendar_sync.sync_paused",
        help="While on, no change goes to or comes from Outlook for any user; changes wait (S7).",
    )
    o365_neutralized_notice = fields.Char("Sync Off In This Copy", compute="_compute_o365_neutralized_notice")  # S8
    o365_redirect_uri = fields.Char(
        "Redirect URI",
        compute="_compute_o365_redirect_uri",
        help="Register this address in Azure: App registration > Authentication > Web > Redirect URIs.",
    )

    @api.depends("o365_public_base_url")
    def _compute_o365_redirect_uri(self):
        fallback = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for settings in self:
            base = (settings.o365_public_base_url or fallback or "").strip().rstrip("/")
            settings.o365_redirect_uri = base + CALLBACK_PATH

    @api.depends("o365_connection_mode")  # as o365_admin_consent: computed on the new settings record
    def _compute_o365_neutralized_notice(self):
        notice = self.env["o365.config"]._neutralized_notice() or False
        for settings in self:
            settings.o365_neutralized_notice = notice

    @api.depends("o365_connection_mode")  # a settings form is a new record: no dependency, no value
    def _compute_o365_saved_credentials(self):
        """What the form may say of the saved credentials: whether there is one, and the
        certificate's thumbprint and expiry; never a byte of the secret or the key."""
        config = self.env["o365.config"]
        secret = config._param("client_secret")
        certificate = config._param("certificate")
        if certificate:
            expiry = certificate_expiry(certificate)
            certificate_words = self.env._(
                "A certificate is saved (thumbprint %(thumbprint)s, valid until %(expiry)s).",
                thumbprint=config._param("certificate_thumbprint") or certificate_thumbprint(certificate) or "?",
                expiry=expiry.strftime("%Y-%m-%d") if expiry else self.env._("unknown"),
            )
        else:
            certificate_words = self.env._("No certificate saved.")
        for settings in self:
            settings.o365_client_secret_saved = (
                self.env._("A client secret is saved.") if secret else self.env._("No client secret saved.")
            )
            settings.o365_certificate_saved = certificate_words

    @api.depends("o365_connection_mode")  # a settings form is a new record: no dependency, no value
    def _compute_o365_admin_consent(self):
        consent = self.env["o365.config"]._param("admin_consent")
        for settings in self:
            settings.o365_admin_consent = consent or self.env._("Not granted from Odoo yet.")

    def action_o365_grant_admin_consent(self):
        """O1: Microsoft's admin consent page, for the application saved in these settings;
        it comes back to these settings (controllers/oauth.py)."""
        self.ensure_one()
        self.execute()  # the page consents to the saved application: save what was typed first
        return {"type": "ir.actions.act_url", "url": ADMIN_CONSENT_START_PATH, "target": "self"}

    def _o365_app(self):
        """The Azure app as typed in the form, saved or not; the saved secret and certificate
        stand in for the ones not typed again (the form never holds them)."""
        self.ensure_one()
        config = self.env["o365.config"]
        return AzureAppSettings(
            client_id=(self.o365_client_id or "").strip(),
            client_secret=(self.o365_client_secret or "").strip() or config._param("client_secret"),
            tenant=(self.o365_tenant or "common").strip(),
            login_endpoint=(self.o365_login_endpoint or MICROSOFT_LOGIN_ENDPOINT).strip(),
            graph_endpoint=(self.o365_graph_endpoint or MICROSOFT_GRAPH_ENDPOINT).strip(),
            ca_bundle=(self.o365_ca_bundle or "").strip(),
            connection_mode=self.o365_connection_mode or USER_MODE,
            certificate=(self.o365_certificate or "").strip() or config._param("certificate"),
            certificate_thumbprint=(self.o365_certificate_thumbprint or "").strip(),
        )

    def _o365_check(self):
        self.ensure_one()
        user = self.env.user.sudo()
        mailbox = (user.o365_mailbox or user.email or "").strip().lower()
        return check_connection(self._o365_app(), self.o365_redirect_uri, mailbox=mailbox, lang=self.env.lang)

    def _o365_check_notification(self, result):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Microsoft 365 connection: %s", result.summary),
                "message": result.text,
                "type": "success" if result.ok else "danger",
                "sticky": not result.ok,
                "className": "o365_connection_report",
            },
        }

    def action_o365_test_connection(self):
        """S1: check the settings against the real endpoints and say what is wrong in plain words."""
        return self._o365_check_notification(self._o365_check())

    @api.model
    def o365_check_connection_values(self, values):
        """S1: Test connection on the values typed in the form, saved or not.

        The settings page's Test connection calls this with the form's current
        values, so an administrator can try a change before saving it. Returns one
        line per check (label, pass/fail/skip, plain words) and the notification.
        """
        if not self.env.user.has_group("base.group_system"):
            raise AccessError(self.env._("Only administrators can test the Microsoft 365 connection."))
        typed = {name: values.get(name) or False for name in CONNECTION_FIELDS}
        settings = self.new(typed)
        result = settings._o365_check()
        return {
            "ok": result.ok,
            "summary": result.summary,
            "checks": result.checks,
            "notification": settings._o365_check_notification(result),
        }

    def action_o365_open_accounts(self):
        """The Connected Users list (every user's sync health), from the settings page."""
        return self.env["ir.actions.act_window"]._for_xml_id("o365_calendar_sync.action_o365_sync_account")

    def action_o365_open_push_queue(self):
        """Changes waiting for Outlook, from the settings page."""
        action = self.env["ir.actions.act_window"]._for_xml_id("o365_calendar_sync.o365_push_queue_action")
        return action

    @api.model
    def get_values(self):
        res = super().get_values()
        res["o365_org_domains"] = ", ".join(self.env["o365.config"].org_domains())
        return res

    def action_o365_forget_client_secret(self):
        """Remove the saved client secret (e.g. to sign in with the certificate alone)."""
        self._o365_forget_credential("client_secret")

    def action_o365_forget_certificate(self):
        """Remove the saved certificate: the organisation's connection goes back to the client secret."""
        self._o365_forget_credential("certificate")
        self.env["ir.config_parameter"].sudo().set_param("o365_calendar_sync.certificate_thumbprint", False)

    def _o365_forget_credential(self, key):
        if not self.env.user.has_group("base.group_system"):
            raise AccessError(self.env._("Only administrators can change the Microsoft 365 credentials."))
        self.env["ir.config_parameter"].sudo().set_param(f"o365_calendar_sync.{key}", False)
        OrganizationLogin.forget_all()

    def set_values(self):
        was_paused = self.env["o365.sync.account"].sync_paused()
        was_organization = self.env["o365.config"].azure_app().organization
        params = self.env["ir.config_parameter"].sudo()
        # Write-only credentials: a typed one replaces the saved one, an empty field keeps it.
        # The certificate in the PEM decides the thumbprint (a renewed one replaces the old); a typed
        # thumbprint serves only a PEM that holds the key alone.
        secret, certificate = (self.o365_client_secret or "").strip(), (self.o365_certificate or "").strip()
        if certificate and certificate_thumbprint(certificate):
            self.o365_certificate_thumbprint = certificate_thumbprint(certificate)
        res = super().set_values()
        if secret:
            params.set_param("o365_calendar_sync.client_secret", secret)
        if certificate:
            params.set_param("o365_calendar_sync.certificate", certificate)
        if secret or certificate:
            # Not kept in this (transient) record either: a later read of it gets nothing.
            self.write({"o365_client_secret": False, "o365_certificate": False})
        if (secret or certificate) and self.env["o365.config"]._neutralized_notice():
            # S8: new credentials, typed by an administrator in this copy, switch sync back on here.
            params.set_param(NEUTRALIZED_PARAM, False)
        if was_organization and self.o365_connection_mode == USER_MODE:
            self.env["o365.sync.account"]._organization_connection_ended()  # O1: they stop now, not at their next push
        OrganizationLogin.forget_all()  # a changed credential takes effect at once (this process)
        if was_paused and not self.o365_sync_paused:
            self.env["o365.sync.account"].action_resume_all_sync()  # wake the jobs: what waited goes now
        domains = ", ".join(parse_domains(self.o365_org_domains))
        params.set_param("o365_calendar_sync.org_domains", domains)
        return res
