"""The module's settings: the one reader of them, and the Azure application and
endpoints the module talks to, as plain values."""

from dataclasses import dataclass

# Every setting is an ir.config_parameter named PARAM_PREFIX + key. read_param and
# read_int below are the only readers (issue 24): the o365.config model, the push queue,
# the pull and the push job all go through them.
PARAM_PREFIX = "o365_calendar_sync."
# Numeric knobs without a field in Settings, and their defaults.
INT_DEFAULTS = {
    # Retrying is bounded by time, not by tries: a burst of short Retry-After answers
    # must not use up a change's chances in seconds (SPEC E2).
    "push_retry_hours": 24,
    "push_backoff_base": 30,
    "push_backoff_cap": 3600,
    # Mailboxes whose Graph round trips overlap in one run (threads, each with two
    # database connections: keep well under db_maxconn, 64 by default).
    "push_parallel_mailboxes": 16,
}

MICROSOFT_LOGIN_ENDPOINT = "https://login.microsoftonline.com"
MICROSOFT_GRAPH_ENDPOINT = "https://graph.microsoft.com/v1.0"

# MSAL adds openid, profile and offline_access itself and refuses them if passed
# (GRAPH_FACTS §7.1); offline_access is what yields the refresh token.
GRAPH_SCOPES = ("Calendars.ReadWrite", "User.Read", "MailboxSettings.Read")
# Organisation-wide connection (SPEC O1): the client-credentials flow asks for the
# application permissions an administrator granted, as "<resource>/.default". The
# resource is Microsoft Graph's identifier, whichever Graph endpoint answers.
APPLICATION_SCOPES = ("https://graph.microsoft.com/.default",)
# What the organisation's application needs (granted by admin consent), as the
# ``roles`` of its tokens: read and write calendars, find users by address, read
# mailbox time zones.
APPLICATION_PERMISSIONS = ("Calendars.ReadWrite", "User.Read.All", "MailboxSettings.Read")
USER_MODE, ORGANIZATION_MODE = "user", "organization"


def read_param(env, key, default=""):
    """The setting ``key`` (ir.config_parameter ``o365_calendar_sync.<key>``), or ``default`` when unset."""
    return env["ir.config_parameter"].sudo().get_param(PARAM_PREFIX + key) or default


def read_int(env, key):
    """The numeric knob ``key``; its default (INT_DEFAULTS) when unset or not a whole number."""
    value = read_param(env, key, None)
    try:
        return int(value) if value is not None else INT_DEFAULTS[key]
    except ValueError:
        return INT_DEFAULTS[key]


@dataclass(frozen=True)
class AzureAppSettings:
    client_id: str
    client_secret: str
    tenant: str = "common"
    login_endpoint: str = MICROSOFT_LOGIN_ENDPOINT
    graph_endpoint: str = MICROSOFT_GRAPH_ENDPOINT
    # Path of a PEM bundle for a private certificate authority (the local Graph
    # emulator); empty means the system trust store.
    ca_bundle: str = ""
    # SPEC O1: "user" (each user signs in, S2) or "organization" (the application's own
    # permissions reach every mailbox). In organisation mode a certificate (PEM with the
    # private key and, unless the thumbprint is given, the certificate) may replace the secret.
    connection_mode: str = USER_MODE
    certificate: str = ""
    certificate_thumbprint: str = ""

    @property
    def organization(self):
        return self.connection_mode == ORGANIZATION_MODE

    @property
    def authority(self):
        return f"{self.login_endpoint.rstrip('/')}/{self.tenant or 'common'}"

    @property
    def verify(self):
        return self.ca_bundle or True

    def missing(self):
        """Names of the settings that must be filled before anyone can connect."""
        required = [
            ("Client ID", self.client_id),
            ("Login endpoint", self.login_endpoint),
            ("Graph endpoint", self.graph_endpoint),
        ]
        if self.organization:
            # The client-credentials flow needs the organisation's own tenant, never "common".
            tenant = self.tenant if self.tenant not in ("", "common", "organizations", "consumers") else ""
            required[1:1] = [
                ("Client Secret or Certificate", self.client_secret or self.certificate),
                ("Tenant", tenant),
            ]
        else:
            required[1:1] = [("Client Secret", self.client_secret)]
        return [label for label, value in required if not value]
