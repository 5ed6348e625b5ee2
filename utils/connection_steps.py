"""The checks of "Test connection" that both connection modes make (SPEC S1, O1).

Each asks the real endpoints the question a user's Connect would hit later: the login
service's discovery document, the client secret at the token endpoint, the redirect URI
at the authorize endpoint, and the Graph endpoint. Each writes its line into the
``CheckResult`` (``connection_report.py``) it is given. No user signs in and no token is
kept.
"""

import base64
import hashlib
import secrets

import requests

from .auth import AuthError, MicrosoftLogin
from .settings import GRAPH_SCOPES
from .translation import _lt

TIMEOUT = 10
# A refresh token no service ever issued: the token endpoint checks the client
# (id and secret) first, so the error it returns tells which of the two is wrong.
PROBE_REFRESH_TOKEN = "o365-calendar-sync-connection-test"

NEEDS_LOGIN = _lt("Not checked: needs the sign-in service.")


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


def _check_login(app, result):
    """The login service: its discovery document (MSAL reads it on construction)."""
    try:
        login = _ProbeLogin(app, timeout=TIMEOUT)
    except AuthError as exc:
        text = str(exc)
        if "SSLError" in text:
            text = _lt("%(error)s The server's certificate is not trusted: check the CA bundle setting.", error=text)
        elif "does not answer as" in text:
            text = _lt(
                "%(endpoint)s is not a Microsoft identity provider (no OpenID discovery document "
                "at %(authority)s/v2.0/.well-known/openid-configuration), or the tenant '%(tenant)s' "
                "does not exist: check the login endpoint and the tenant.",
                endpoint=app.login_endpoint,
                authority=app.authority,
                tenant=app.tenant,
            )
        result.bad("login", text)
        return None
    result.good("login", _lt("The login service at %(authority)s answers.", authority=app.authority))
    return login


def _check_client(app, login, result):
    """The client id and secret, at the token endpoint."""
    error, description = login.probe_client()
    code = _aadsts(description)
    if error == "unreachable":
        result.bad(
            "client",
            _lt(
                "The token endpoint of %(authority)s cannot be reached (%(error)s).",
                authority=app.authority,
                error=description,
            ),
        )
    elif error == "invalid_client":
        result.bad(
            "client",
            _lt(
                "The client secret is wrong or expired: copy the secret's Value (not its ID) from Azure "
                "(Certificates & secrets) into the Client Secret field."
            ),
        )
    elif error == "unauthorized_client" or code in ("700016", "90002"):
        result.bad(
            "client",
            _lt(
                "No application with client ID '%(client_id)s' exists in tenant '%(tenant)s': "
                "copy the Application (client) ID from the Azure app registration.",
                client_id=app.client_id,
                tenant=app.tenant,
            ),
        )
    elif error in ("invalid_grant", "invalid_request", "ok"):
        # The client was accepted; only the made-up refresh token was refused.
        result.good("client", _lt("Client ID and secret are accepted."))
    else:
        result.bad(
            "client",
            _lt(
                "The token endpoint refused the client ID and secret (%(error)s: %(description)s).",
                error=error,
                description=description[:200],
            ),
        )


def _check_redirect(app, login, callback_url, result):
    """The redirect URI, as the consent page sees it."""
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
        result.bad(
            "redirect",
            _lt(
                "The sign-in page %(url)s cannot be reached (%(error)s).",
                url=login.authorization_endpoint,
                error=type(exc).__name__,
            ),
        )
        return
    code = _aadsts(answer.text) or _aadsts(answer.headers.get("Location", ""))
    if code == "50011":
        result.bad(
            "redirect",
            _lt(
                "Azure does not accept the redirect URI %(url)s: add it, exactly, under "
                "Authentication > Web > Redirect URIs of the app registration (or fix the public base URL).",
                url=callback_url,
            ),
        )
    elif code in ("700016", "90002"):
        result.bad(
            "redirect", _lt("The sign-in page does not know the client ID '%(client_id)s'.", client_id=app.client_id)
        )
    elif answer.status_code >= 400:
        result.bad(
            "redirect",
            _lt(
                "The sign-in page answered HTTP %(status)s (AADSTS%(code)s).",
                status=answer.status_code,
                code=code or "?",
            ),
        )
    else:
        result.good("redirect", _lt("The redirect URI %(url)s is registered.", url=callback_url))


def _check_graph(app, result):
    """Graph: without a token it must say 401 in Graph's own error format."""
    try:
        answer = requests.get(app.graph_endpoint.rstrip("/") + "/me", timeout=TIMEOUT, verify=app.verify)
    except requests.RequestException as exc:
        text = _lt(
            "The Graph endpoint %(url)s cannot be reached (%(error)s).",
            url=app.graph_endpoint,
            error=type(exc).__name__,
        )
        if "SSL" in type(exc).__name__:
            text = _lt("%(error)s Its certificate is not trusted: check the CA bundle.", error=text)
        result.bad("graph", text)
        return
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if answer.status_code == 401 and isinstance(body, dict) and isinstance(body.get("error"), dict):
        result.good("graph", _lt("The Graph endpoint %(url)s answers.", url=app.graph_endpoint))
    else:
        result.bad(
            "graph",
            _lt(
                "%(url)s does not answer like Microsoft Graph (HTTP %(status)s): "
                "check the Graph endpoint (normally https://graph.microsoft.com/v1.0).",
                url=app.graph_endpoint,
                status=answer.status_code,
            ),
        )
