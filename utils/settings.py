"""The Azure application and endpoints the module talks to, as plain values."""

from dataclasses import dataclass

MICROSOFT_LOGIN_ENDPOINT = "https://login.microsoftonline.com"
MICROSOFT_GRAPH_ENDPOINT = "https://graph.microsoft.com/v1.0"

# MSAL adds openid, profile and offline_access itself and refuses them if passed
# (facts §7.1); offline_access is what yields the refresh token.
GRAPH_SCOPES = ("Calendars.ReadWrite", "User.Read", "MailboxSettings.Read")


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

    @property
    def authority(self):
        return f"{self.login_endpoint.rstrip('/')}/{self.tenant or 'common'}"

    @property
    def verify(self):
        return self.ca_bundle or True

    def missing(self):
        """Names of the settings that must be filled before anyone can connect."""
        return [
            label
            for label, value in (
                ("Client ID", self.client_id),
                ("Client Secret", self.client_secret),
                ("Login endpoint", self.login_endpoint),
                ("Graph endpoint", self.graph_endpoint),
            )
            if not value
        ]
