"""The browser side of Connect (SPEC S2): start the sign-in, take Microsoft's answer.

The MSAL flow (PKCE verifier, nonce, state) stays on the server, in the Odoo
session of the user who pressed Connect, keyed by its ``state`` together with
that user's id. An answer is accepted once, only in that same session and only
for that same user: a link forged or replayed by someone else cannot connect
their mailbox to another person's Odoo account, or the reverse.
"""

import logging
import re
import secrets
import time
import warnings
from urllib.parse import urlencode

from werkzeug import _internal as werkzeug_internal
from werkzeug.exceptions import Forbidden

from odoo import fields, http
from odoo.exceptions import UserError
from odoo.http import request

from ..utils.auth import AuthError, MicrosoftLogin, admin_consent_endpoint
from ..utils.locks import lock_accounts

_logger = logging.getLogger(__name__)

CALLBACK_PATH = "/o365_calendar_sync/oauth/callback"
START_PATH = "/o365_calendar_sync/oauth/start"
# A server action (views/res_users_views.xml) opening the user's own Preferences.
PREFERENCES_URL = "/odoo/microsoft-365-preferences"
ADMIN_CONSENT_START_PATH = "/o365_calendar_sync/admin_consent/start"
# The Microsoft 365 settings, where Grant admin consent comes back to.
SETTINGS_URL = "/odoo/action-o365_calendar_sync.action_o365_config_settings"
SESSION_KEY = "o365_calendar_sync_flows"
CONSENT_SESSION_KEY = "o365_calendar_sync_admin_consent"
FLOW_LIFETIME = 900  # seconds a user may spend on Microsoft's consent page
MAX_PENDING = 3  # sign-ins a session may have open at once (several tabs)
# Sign-ins redeemed by this process, for a replay of the same request by Odoo after a
# serialization failure: {(database, user id, state): (time, token cache)}. A code is good
# once at Microsoft; the replay takes the tokens the first try got (issue 28).
_REDEEMED = {}


def _redeem(env, entry, params):
    """A finished MicrosoftLogin for this answer: the code is redeemed once per process, and a
    replay of the request gets the same tokens back."""
    now = time.time()
    for key in [key for key, (at, _cache) in _REDEEMED.items() if now - at > FLOW_LIFETIME]:
        _REDEEMED.pop(key, None)
    key = (env.cr.dbname, env.uid, params.get("state"))
    app = env["o365.config"].azure_app()
    if key in _REDEEMED:
        return MicrosoftLogin(app, _REDEEMED[key][1])
    login = MicrosoftLogin(app)
    login.complete(entry["flow"], params)
    _REDEEMED[key] = (now, login.serialized_cache())
    return login


class SignInCodeRedactor(logging.Filter):
    """Keeps Microsoft's authorization code out of the access log (issue 27): werkzeug logs
    each request line, and the callback's query holds the code. The code is single-use and
    useless without the PKCE verifier kept in the session, but logs are often shipped
    elsewhere. Other lines pass unchanged."""

    PATTERN = re.compile(r"([?&](?:code|client_info|session_state)=)[^&\s\"]*")

    def filter(self, record):
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(
                self.PATTERN.sub(r"\1[hidden]", arg) if isinstance(arg, str) and CALLBACK_PATH in arg else arg
                for arg in record.args
            )
        elif isinstance(record.msg, str) and CALLBACK_PATH in record.msg:
            record.msg = self.PATTERN.sub(r"\1[hidden]", record.msg)
        return True


def _install_code_redactor():
    # werkzeug keeps the logger of its first line; it is the registered "werkzeug" logger
    # unless the logging configuration was reset since.
    for access_log in {logging.getLogger("werkzeug"), werkzeug_internal._logger} - {None}:
        # Once per logger, also when the module's code is loaded again for another database.
        if not any(type(f).__name__ == SignInCodeRedactor.__name__ for f in access_log.filters):
            access_log.addFilter(SignInCodeRedactor())


_install_code_redactor()


def redirect_uri(env):
    """The address to register in Azure as the app's redirect URI (Web platform)."""
    return env["o365.config"].public_base_url() + CALLBACK_PATH


def _require_internal(user):
    """Calendar sync is for employees: portal users get no sync account and no sign-in (S5)."""
    if not user._is_internal():
        _logger.warning("Microsoft 365 sign-in refused for non-internal user %s", user.id)
        raise Forbidden(user.env._("Only internal users can connect a Microsoft 365 calendar."))


class O365OAuthController(http.Controller):
    @http.route(START_PATH, type="http", auth="user", methods=["GET"])
    def start(self, **_kw):
        user = request.env.user
        _require_internal(user)
        account = request.env["o365.sync.account"]._for_user(user)
        app = request.env["o365.config"].azure_app()
        try:
            if app.missing():
                raise AuthError(
                    request.env._(
                        "Microsoft 365 is not set up yet (missing: %(missing)s): ask your administrator.",
                        missing=", ".join(app.missing()),
                    )
                )
            with warnings.catch_warnings():
                # MSAL recommends response_mode=form_post; but a cross-site POST does not
                # carry Odoo's SameSite=Lax session cookie, and the session is what binds
                # the answer to this user. The code in the query is single-use and
                # useless without the PKCE verifier kept here.
                warnings.filterwarnings("ignore", message="response_mode='form_post'", category=UserWarning)
                flow = MicrosoftLogin(app).begin(redirect_uri(request.env), login_hint=user.email or None)
        except AuthError as exc:
            account.sudo().write({"last_error": str(exc)})
            return request.redirect(PREFERENCES_URL)
        now = time.time()
        pending = {
            state: entry
            for state, entry in (request.session.get(SESSION_KEY) or {}).items()
            if entry.get("uid") == user.id and now - entry.get("at", 0) < FLOW_LIFETIME
        }
        pending[flow["state"]] = {"uid": user.id, "at": now, "flow": flow}
        newest = sorted(pending.items(), key=lambda item: item[1]["at"])[-MAX_PENDING:]
        # Assigned anew (not mutated) so that the session store notices the change.
        request.session[SESSION_KEY] = dict(newest)
        return request.redirect(flow["auth_uri"], local=False)

    @http.route(ADMIN_CONSENT_START_PATH, type="http", auth="user", methods=["GET"])
    def admin_consent_start(self, **_kw):
        """O1: send an administrator to Microsoft's admin consent page for the saved application.
        Microsoft comes back to the same redirect URI as users' sign-ins (one URI to register)."""
        if not request.env.user.has_group("base.group_system"):
            raise Forbidden(request.env._("Only administrators can grant admin consent."))
        app = request.env["o365.config"].azure_app()
        state = secrets.token_urlsafe(24)
        request.session[CONSENT_SESSION_KEY] = {"state": state, "uid": request.env.uid, "at": time.time()}
        query = urlencode({"client_id": app.client_id, "redirect_uri": redirect_uri(request.env), "state": state})
        return request.redirect(f"{admin_consent_endpoint(app)}?{query}", local=False)

    def _admin_consent_answer(self, params):
        """Microsoft's answer to Grant admin consent: keep the outcome for the settings page."""
        entry = request.session.get(CONSENT_SESSION_KEY) or {}
        request.session[CONSENT_SESSION_KEY] = {}  # an answer is good once
        if entry.get("uid") != request.env.uid or time.time() - entry.get("at", 0) > FLOW_LIFETIME:
            raise Forbidden(request.env._("This admin consent answer was not asked for by you in this browser."))
        now = fields.Datetime.to_string(fields.Datetime.now())
        if params.get("admin_consent", "").lower() == "true":
            outcome = request.env._(
                "Granted on %(when)s UTC by %(login)s (tenant %(tenant)s).",
                when=now,
                login=request.env.user.login,
                tenant=params.get("tenant", "?"),
            )
            _logger.info("o365: admin consent granted by %s", request.env.user.login)
        else:
            description = (params.get("error_description") or "").split(" Trace ID:")[0][:300]
            outcome = request.env._(
                "Not granted (%(when)s UTC): %(error)s. %(description)s",
                when=now,
                error=params.get("error") or request.env._("no answer"),
                description=description,
            ).strip()
            _logger.warning("o365: admin consent not granted: %s", outcome)
        request.env["ir.config_parameter"].sudo().set_param("o365_calendar_sync.admin_consent", outcome)
        return request.redirect(SETTINGS_URL)

    @http.route(CALLBACK_PATH, type="http", auth="user", methods=["GET"])
    def callback(self, **params):
        user = request.env.user
        _require_internal(user)
        consent = request.session.get(CONSENT_SESSION_KEY) or {}
        if consent.get("state") and consent["state"] == params.get("state"):
            return self._admin_consent_answer(params)
        pending = dict(request.session.get(SESSION_KEY) or {})
        entry = pending.pop(params.get("state") or "", None)
        request.session[SESSION_KEY] = pending  # an answer is good once
        account = request.env["o365.sync.account"]._for_user(user)
        if (
            entry is None
            or entry.get("uid") != user.id
            or entry.get("uid") != request.session.uid
            or time.time() - entry.get("at", 0) > FLOW_LIFETIME
        ):
            # A stray, replayed or foreign link: said once, to the browser that opened it. Nothing
            # is stored: the opener's own sync and health are none of the link's business.
            _logger.warning("Microsoft 365 sign-in answer refused for user %s: unknown or foreign state", user.id)
            return request.render(
                "o365_calendar_sync.oauth_refused",
                {
                    "message": request.env._(
                        "This Microsoft 365 sign-in was not started by you in this browser, or took too long. "
                        "Nothing was changed. To connect your calendar, press Connect Microsoft 365 again."
                    ),
                    "back_url": PREFERENCES_URL,
                },
                status=403,
            )
        try:
            # Step 2 of the lock order (utils/locks.py), before the code leaves Odoo: a pull or
            # push writing this account makes this request fail (and Odoo replay it) now,
            # while the code is still unused, never after Microsoft took it.
            lock_accounts(request.env.cr, account.ids)
            login = _redeem(request.env, entry, params)
            account._connect(login)
        except (AuthError, UserError) as exc:
            account.sudo().write({"last_error": str(exc)})
        return request.redirect(PREFERENCES_URL)
