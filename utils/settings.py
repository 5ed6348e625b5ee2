"""The Azure application and endpoints the module talks to, as plain values."""

from dataclasses import dataclass

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
