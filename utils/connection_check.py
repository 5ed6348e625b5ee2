"""The administrator's "Test connection" (SPEC S1): what is wrong, in plain words.

Each step asks the real endpoints the question a user's Connect would hit later:
the login service's discovery document, the client secret at the token endpoint,
the redirect URI at the authorize endpoint, and the Graph endpoint. No user
signs in and no token is kept.
"""

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field

import requests

from .auth import AuthError, MicrosoftLogin, OrganizationLogin
from .graph_client import GraphClient, GraphError, mailbox_probe, user_mailbox
from .settings import APPLICATION_PERMISSIONS, GRAPH_SCOPES
from .translation import _lt, in_lang

TIMEOUT = 10
# A refresh token no service ever issued: the token endpoint checks the client
# (id and secret) first, so the error it returns tells which of the two is wrong.
PROBE_REFRESH_TOKEN = "o365-calendar-sync-connection-test"


PASS, FAIL, SKIP = "pass", "fail", "skip"
MARKS = {PASS: "✔", FAIL: "✘", SKIP: "○"}
NEEDS_LOGIN = _lt("Not checked: needs the sign-in service.")

# The checks, in order: (key, what it checks, in the user's words).
CHECKS = (
    ("settings", _lt("Settings filled in")),
    ("login", _lt("Microsoft sign-in service")),
    ("client", _lt("Client ID and secret")),
    ("redirect", _lt("Redirect URI")),
    ("graph", _lt("Microsoft Graph")),
    # Organisation-wide connection only (SPEC O1).
    ("permissions", _lt("Application permissions")),
    ("mailbox", _lt("Reading a mailbox")),
)


@dataclass
class CheckResult:
    """One line per check, in the order of CHECKS: (key, label, status, text), in language ``lang``."""

    checks: list = field(default_factory=list)
    lang: str = ""

    def good(self, key, text):
        self._add(key, PASS, text)

    def bad(self, key, text):
        self._add(key, FAIL, text)

    def skipped(self, key, text):
        self._add(key, SKIP, text)

    def _add(self, key, status, text):
        label = in_lang(dict(CHECKS)[key], self.lang)
        self.checks.append({"key": key, "label": label, "status": status, "text": in_lang(text, self.lang)})

    @property
    def ok(self):
        return all(check["status"] == PASS for check in self.checks)

    @property
    def failed(self):
        return [check for check in self.checks if check["status"] == FAIL]

    @property
    def lines(self):
        return [f"{MARKS[c['status']]} {c['label']}: {c['text']}" for c in self.checks]

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def summary(self):
        """A title: all passed, or which check failed first."""
        if self.ok:
            return in_lang(_lt("All %(count)s checks passed", count=len(self.checks)), self.lang)
        failed = self.failed
        first = failed[0]["label"] if failed else ""
        if len(failed) > 1:
            first = in_lang(_lt("%(first)s (and %(more)s more)", first=first, more=len(failed) - 1), self.lang)
        return in_lang(
            _lt(
                "%(failed)s of %(count)s checks failed: %(first)s",
                failed=len(failed),
                count=len(self.checks),
                first=first,
            ),
            self.lang,
        )


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


def check_connection(app, callback_url, mailbox=None, lang=None):
    """Run every check against ``app`` (AzureAppSettings); return a CheckResult.

    Every check gets a line, so the administrator sees what works as well as
    what does not; a check that needs an earlier one to pass says so. In
    organisation mode (O1) ``mailbox`` is the address whose mailbox the
    application should be able to read (the administrator's own). The words are in
    language ``lang`` (English when None).
    """
    result = CheckResult(lang=lang or "")
    missing = app.missing()
    keys = [key for key, _label in CHECKS if app.organization or key not in ("permissions", "mailbox")]
    if missing:
        result.bad("settings", _lt("Fill in: %(missing)s.", missing=", ".join(missing)))
        for key in keys[1:]:
            result.skipped(key, _lt("Not checked: fill in the settings first."))
        return result
    if app.organization:
        return _check_organization(app, callback_url, mailbox, result)
    result.good("settings", _lt("Client ID, secret, tenant and endpoints are filled in."))
    login = _check_login(app, result)
    if login is None:
        for key in ("client", "redirect"):
            result.skipped(key, NEEDS_LOGIN)
    else:
        _check_client(app, login, result)
        _check_redirect(app, login, callback_url, result)
    _check_graph(app, result)
    return result


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


# -- the organisation-wide connection (SPEC O1) ------------------------------------------------


def _check_organization(app, callback_url, mailbox, result):
    """The application's own token, its granted permissions, and one mailbox it should reach."""
    result.good("settings", _lt("Client ID, credential, tenant and endpoints are filled in."))
    login = _check_login(app, result)
    if login is None:
        result.skipped("client", NEEDS_LOGIN)
        result.skipped("redirect", NEEDS_LOGIN)
    else:
        _check_redirect(app, login, callback_url, result)
    _check_graph(app, result)
    OrganizationLogin.forget_all()  # ask the token endpoint now, not a kept token
    token = None
    try:
        token = OrganizationLogin(app, timeout=TIMEOUT).access_token()
    except AuthError as exc:
        if login is not None:
            result.bad("client", _organization_sign_in_words(app, str(exc)))
    else:
        if login is not None:
            result.good("client", _lt("The application signs in with its own credential (client credentials)."))
    # CHECKS order: the client line goes before the redirect line.
    result.checks.sort(key=lambda check: [key for key, _label in CHECKS].index(check["key"]))
    if token is None:
        result.skipped("permissions", _lt("Not checked: the application must sign in first."))
        result.skipped("mailbox", _lt("Not checked: the application must sign in first."))
        return result
    reads_mailbox = _check_mailbox(app, token, mailbox, result)
    missing = [role for role in APPLICATION_PERMISSIONS if role not in _token_roles(token)]
    if not missing:
        result.good("permissions", _lt("Granted: %(permissions)s.", permissions=", ".join(APPLICATION_PERMISSIONS)))
    elif reads_mailbox and "User.Read.All" not in missing:
        # Exchange RBAC for Applications grants the mailbox permissions outside the token (its
        # documentation asks to remove the Entra grants): the mailbox read above is the proof.
        result.good(
            "permissions",
            _lt(
                "Granted: User.Read.All in Entra; %(permissions)s through Exchange (RBAC for Applications), as the "
                "mailbox read shows.",
                permissions=", ".join(missing),
            ),
        )
    else:
        result.bad(
            "permissions",
            _lt(
                "Not granted: %(permissions)s. Add them as Application permissions of Microsoft Graph in the app "
                "registration, then press Grant admin consent.",
                permissions=", ".join(missing),
            ),
        )
    result.checks.sort(key=lambda check: [key for key, _label in CHECKS].index(check["key"]))
    return result


def _organization_sign_in_words(app, text):
    if "invalid_client" in text:
        return _lt(
            "Microsoft refused the application's credential: the client secret is wrong or expired, or the "
            "certificate was not uploaded to the app registration (Certificates & secrets)."
        )
    if "unauthorized_client" in text or "700016" in text or "90002" in text:
        return _lt(
            "No application with client ID '%(client_id)s' exists in tenant '%(tenant)s': copy the "
            "Application (client) ID and the Directory (tenant) ID from the app registration.",
            client_id=app.client_id,
            tenant=app.tenant,
        )
    return _lt("The application cannot sign in: %(error)s", error=text)


def _token_roles(token):
    """The application permissions an access token carries (its ``roles`` claim)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return []
    return claims.get("roles") or []


def _check_mailbox(app, token, mailbox, result):
    """One mailbox read as the users' sync will read it (Exchange's RBAC scope answers here).
    Returns True when the application reads it."""
    if not mailbox:
        result.skipped("mailbox", _lt("Not checked: your user has no email address to try."))
        return False
    graph = GraphClient(app.graph_endpoint, lambda _force: token, verify=app.verify, timeout=TIMEOUT)
    try:
        answers = graph.batch(mailbox_probe(user_mailbox(mailbox)))
    except GraphError as exc:
        result.bad("mailbox", _lt("Graph did not answer (%(status)s %(code)s).", status=exc.status, code=exc.code))
        return False
    refused = next((a for a in answers.values() if not 200 <= a.get("status", 0) < 300), None)
    if refused is None:
        result.good("mailbox", _lt("The application reads the mailbox %(mailbox)s.", mailbox=mailbox))
        return True
    error = (refused.get("body") or {}).get("error") or {}
    if refused["status"] == 404:
        result.bad(
            "mailbox",
            _lt("Microsoft 365 has no mailbox %(mailbox)s: check your user's email address.", mailbox=mailbox),
        )
    elif refused["status"] == 403:
        result.bad(
            "mailbox",
            _lt(
                "The application may not open the mailbox %(mailbox)s: it is outside the mailboxes the application "
                "may reach (Exchange RBAC for Applications scope), or the permissions above were not granted. "
                "(%(code)s: %(message)s)",
                mailbox=mailbox,
                code=error.get("code", ""),
                message=error.get("message", ""),
            ),
        )
    else:
        result.bad(
            "mailbox",
            _lt(
                "Reading the mailbox %(mailbox)s failed (HTTP %(status)s %(code)s).",
                mailbox=mailbox,
                status=refused["status"],
                code=error.get("code", ""),
            ),
        )
    return False
