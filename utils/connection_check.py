"""The administrator's "Test connection" (SPEC S1): what is wrong, in plain words.

Each step asks the real endpoints the question a user's Connect would hit later:
the login service's discovery document, the client secret at the token endpoint,
the redirect URI at the authorize endpoint, and the Graph endpoint. No user
signs in and no token is kept.
"""

import base64
import hashlib
import secrets
from dataclasses import dataclass, field

import requests

from .auth import AuthError, MicrosoftLogin
from .settings import GRAPH_SCOPES

TIMEOUT = 10
# A refresh token no service ever issued: the token endpoint checks the client
# (id and secret) first, so the error it returns tells which of the two is wrong.
PROBE_REFRESH_TOKEN = "o365-calendar-sync-connection-test"


@dataclass
class CheckResult:
    ok: bool = True
    lines: list = field(default_factory=list)

    def good(self, text):
        self.lines.append(f"✔ {text}")

    def bad(self, text):
        self.ok = False
        self.lines.append(f"✘ {text}")

    @property
    def text(self):
        return "\n".join(self.lines)


class _ProbeLogin(MicrosoftLogin):
    """MicrosoftLogin plus the two questions only a connection test asks."""

    reuse_discovery = False

    def probe_client(self):
        """The token endpoint's error code for a made-up refresh token (MSAL does the request)."""
        try:
            result = self._msal.acquire_token_by_refresh_token(PROBE_REFRESH_TOKEN, list(GRAPH_SCOPES))
        except requests.RequestException as exc:
            return "unreachable", type(exc).__name__
        return result.get("error", "ok"), result.get("error_description") or ""

    @property
    def authorization_endpoint(self):
        return self._msal.authority.authorization_endpoint


def _aadsts(text):
    """The AADSTS code Microsoft puts in error pages and answers ('' if none)."""
    marker = (text or "").find("AADSTS")
    if marker < 0:
        return ""
    digits = ""
    for char in text[marker + 6 :]:
        if not char.isdigit():
            break
        digits += char
    return digits


def check_connection(app, callback_url):
    """Run every check against ``app`` (AzureAppSettings); return a CheckResult."""
    result = CheckResult()
    missing = app.missing()
    if missing:
        result.bad("Fill in: {}.".format(", ".join(missing)))
        return result

    # 1. The login service: its discovery document (MSAL reads it on construction).
    try:
        login = _ProbeLogin(app, timeout=TIMEOUT)
    except AuthError as exc:
        text = str(exc)
        if "SSLError" in text:
            text += " The server's certificate is not trusted: check the CA bundle setting."
        elif "does not answer as" in text:
            text = (
                f"{app.login_endpoint} is not a Microsoft identity provider (no OpenID discovery document "
                f"at {app.authority}/v2.0/.well-known/openid-configuration), or the tenant '{app.tenant}' "
                "does not exist: check the login endpoint and the tenant."
            )
        result.bad(text)
        return result
    result.good(f"The login service at {app.authority} answers.")

    # 2. The client id and secret, at the token endpoint.
    error, description = login.probe_client()
    code = _aadsts(description)
    if error == "unreachable":
        result.bad(f"The token endpoint of {app.authority} cannot be reached ({description}).")
    elif error == "invalid_client":
        result.bad(
            "The client secret is wrong or expired: copy the secret's Value (not its ID) from Azure "
            "(Certificates & secrets) into the Client Secret field."
        )
    elif error == "unauthorized_client" or code in ("700016", "90002"):
        result.bad(
            f"No application with client ID '{app.client_id}' exists in tenant '{app.tenant}': "
            "copy the Application (client) ID from the Azure app registration."
        )
    elif error in ("invalid_grant", "invalid_request", "ok"):
        # The client was accepted; only the made-up refresh token was refused.
        result.good("Client ID and secret are accepted.")
    else:
        result.bad(f"The token endpoint refused the client ID and secret ({error}: {description[:200]}).")

    # 3. The redirect URI, as the consent page sees it.
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "client_id": app.client_id,
        "response_type": "code",
        "redirect_uri": callback_url,
        "scope": " ".join(("offline_access", "openid", "profile", *GRAPH_SCOPES)),
        "state": "connection-test",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    try:
        answer = requests.get(
            login.authorization_endpoint, params=params, allow_redirects=False, timeout=TIMEOUT, verify=app.verify
        )
    except requests.RequestException as exc:
        result.bad(f"The sign-in page {login.authorization_endpoint} cannot be reached ({type(exc).__name__}).")
    else:
        code = _aadsts(answer.text) or _aadsts(answer.headers.get("Location", ""))
        if code == "50011":
            result.bad(
                f"Azure does not accept the redirect URI {callback_url}: add it, exactly, under "
                "Authentication > Web > Redirect URIs of the app registration (or fix the public base URL)."
            )
        elif code in ("700016", "90002"):
            result.bad(f"The sign-in page does not know the client ID '{app.client_id}'.")
        elif answer.status_code >= 400:
            result.bad(f"The sign-in page answered HTTP {answer.status_code} (AADSTS{code or '?'}).")
        else:
            result.good(f"The redirect URI {callback_url} is registered.")

    # 4. Graph: without a token it must say 401 in Graph's own error format.
    try:
        answer = requests.get(app.graph_endpoint.rstrip("/") + "/me", timeout=TIMEOUT, verify=app.verify)
    except requests.RequestException as exc:
        hint = " Its certificate is not trusted: check the CA bundle." if "SSL" in type(exc).__name__ else ""
        result.bad(f"The Graph endpoint {app.graph_endpoint} cannot be reached ({type(exc).__name__}).{hint}")
        return result
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if answer.status_code == 401 and isinstance(body, dict) and isinstance(body.get("error"), dict):
        result.good(f"The Graph endpoint {app.graph_endpoint} answers.")
    else:
        result.bad(
            f"{app.graph_endpoint} does not answer like Microsoft Graph (HTTP {answer.status_code}): "
            "check the Graph endpoint (normally https://graph.microsoft.com/v1.0)."
        )
    return result
