"""The checks of "Test connection" for the organisation-wide connection (SPEC S1, O1).

Besides the login service, the redirect URI and Graph (``connection_steps.py``): the
application's own token (client credentials), the application permissions it carries, and
one mailbox read as the users' sync will read it (Exchange's RBAC scope answers there).
"""

import base64
import json

from .auth import AuthError, OrganizationLogin
from .connection_report import CHECKS
from .connection_steps import NEEDS_LOGIN, TIMEOUT, _check_graph, _check_login, _check_redirect
from .graph_client import GraphClient, GraphError, mailbox_probe, user_mailbox
from .settings import APPLICATION_PERMISSIONS
from .translation import _lt


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
