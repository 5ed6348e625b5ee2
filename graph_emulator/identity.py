"""Microsoft identity platform v2.0 endpoints: discovery, JWKS, authorize (consent page), token.

Built to what MSAL Python sends and checks (facts §7.3): https token endpoint with the
tenant as first path segment, id_token carrying the exact nonce received at /authorize,
aud = client_id, client_info = base64url({uid, utid})."""

import base64
import contextlib
import hashlib
import html
import json
import os
import re
import secrets
import time
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import GraphError
from .httpio import Response, html_response, json_response, redirect

_CONSENT_CSS = """body{font-family:Segoe UI,Arial,sans-serif;background:#f2f2f2}
main{background:#fff;max-width:440px;margin:60px auto;padding:32px;box-shadow:0 2px 6px rgba(0,0,0,.2)}
label.user{display:block;padding:8px;border-bottom:1px solid #eee}button{padding:8px 24px;margin-top:16px}"""
GRAPH_PREFIX = "https://graph.microsoft.com/"
OIDC_SCOPES = {"openid", "profile", "offline_access", "email"}
CODE_LIFETIME = 600


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def normalize_scopes(scope_text):
    out = []
    for s in (scope_text or "").split():
        if s.lower().startswith(GRAPH_PREFIX):
            s = s[len(GRAPH_PREFIX) :]
        if s == ".default":
            s = "Calendars.ReadWrite User.Read MailboxSettings.ReadWrite"
            out.extend(s.split())
            continue
        out.append(s)
    return out


class OAuthError(Exception):
    def __init__(self, error, code, description, status=400):
        super().__init__(description)
        self.error, self.code, self.description, self.status = error, code, description, status

    def response(self):
        return json_response(
            {
                "error": self.error,
                "error_description": f"AADSTS{self.code}: {self.description} "
                + (
                    f"Trace ID: {uuid.uuid4()} Correlation ID: {uuid.uuid4()} Timestamp: "
                    f"{time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime())}"
                ),
                "error_codes": [self.code],
                "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
                "trace_id": str(uuid.uuid4()),
                "correlation_id": str(uuid.uuid4()),
                "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
            },
            self.status,
        )


class Identity:
    def __init__(self, state, emulator, key_path=None):
        self.state = state
        self.emu = emulator
        # The signing key lives in data_dir, so tokens and the JWKS stay valid across restarts.
        if key_path and os.path.exists(key_path):
            with open(key_path, "rb") as fh:
                self.key = serialization.load_pem_private_key(fh.read(), password=None)
        else:
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if key_path:
                pem = self.key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
                with open(key_path, "wb") as fh:
                    fh.write(pem)
        self.kid = b64url(
            hashlib.sha256(
                self.key.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            ).digest()[:15]
        )
        self.reset()

    def reset(self):
        self.codes = {}
        self.refresh_tokens = {}
        self.access_tokens = {}

    # ------------------------------------------------------------ helpers

    def sign(self, claims):
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        signing_input = (
            f"{b64url(json.dumps(header, separators=(',', ':')))}.{b64url(json.dumps(claims, separators=(',', ':')))}"
        )
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(sig)}"

    def jwks(self):
        nums = self.key.public_key().public_numbers()

        def to_b(n):
            return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))

        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "kid": self.kid,
                    "x5t": self.kid,
                    "n": to_b(nums.n),
                    "e": to_b(nums.e),
                    "alg": "RS256",
                    "issuer": self.issuer(self.state.tenant_id),
                }
            ]
        }

    def issuer(self, tenant):
        return f"{self.emu.base_url}/{self.state.tenant_id}/v2.0"

    def valid_tenant(self, tenant):
        return (
            tenant in ("common", "organizations", self.state.tenant_id) or tenant.lower() == self.state.domain.lower()
        )

    def discovery(self, tenant):
        base, browser = self.emu.base_url, self.emu.browser_base_url
        return {
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": self.issuer(tenant),
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            # Points at the plain-HTTP listener when browser_http is on, so a browser without the CA can sign in.
            "authorization_endpoint": f"{browser}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{browser}/{tenant}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "at_hash",
                "c_hash",
                "email",
            ],
            "kerberos_endpoint": f"{base}/{tenant}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": urlsplit(base).netloc,
            "rbac_url": "https://pas.windows.net",
        }

    # ------------------------------------------------------------ routing

    def handle(self, req):
        m = re.match(
            r"^/([^/]+)/(v2\.0/\.well-known/openid-configuration|discovery/v2\.0/keys|oauth2/v2\.0/(authorize|token|logout))$",
            req.path,
        )
        if not m:
            return None
        tenant, what = m.group(1), m.group(2)
        if not self.valid_tenant(tenant):
            return OAuthError(
                "invalid_tenant",
                90002,
                (
                    f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing "
                    "into the correct cloud."
                ),
            ).response()
        if what.endswith("openid-configuration") and req.method == "GET":
            return json_response(self.discovery(tenant))
        if what.endswith("keys") and req.method == "GET":
            return json_response(self.jwks())
        if what.endswith("authorize"):
            params = dict(req.query)
            if req.method == "POST":
                params = req.form()
                return self.authorize_submit(tenant, params)
            return self.authorize_page(tenant, params)
        if what.endswith("logout"):
            target = req.query.get("post_logout_redirect_uri")
            return redirect(target) if target else html_response("<p>You signed out of your account.</p>")
        if what.endswith("token") and req.method == "POST":
            try:
                with self.state.lock:
                    return self.token(tenant, req)
            except OAuthError as err:
                return err.response()
        return Response(405, b"")

    # ------------------------------------------------------------ authorize

    def _check_authorize(self, params):
        """Returns (app, error_redirect_or_None). Raises _PageError for non-redirectable errors."""
        app = self.state.apps.get(params.get("client_id", ""))
        if app is None:
            raise _PageError(
                700016,
                f"Application with identifier '{params.get('client_id', '')}' was not found in the directory "
                + (
                    f"'{self.state.domain}'. This can happen if the application has not been installed by the "
                    "administrator of the tenant."
                ),
            )
        uri = params.get("redirect_uri", "")
        if not uri or not app.redirect_allowed(uri):
            raise _PageError(
                50011,
                f"The redirect URI '{uri}' specified in the request does not match the redirect URIs "
                f"configured for the application '{app.client_id}'.",
            )
        if params.get("response_type") != "code":
            return app, (
                "unsupported_response_type",
                700054,
                "response_type 'id_token' is not enabled for the application."
                if "id_token" in params.get("response_type", "")
                else (
                    "The provided value for the input parameter 'response_type' is not allowed for this request. "
                    "Expected value: 'code'."
                ),
            )
        if not params.get("code_challenge") or params.get("code_challenge_method", "plain") != "S256":
            return app, ("invalid_request", 9002325, "Proof Key for Code Exchange (S256) is required by this emulator.")
        scopes = normalize_scopes(params.get("scope"))
        if not scopes:
            return app, ("invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
        return app, None

    def _error_redirect(self, params, err):
        error, code, desc = err
        q = {"error": error, "error_description": f"AADSTS{code}: {desc}", "error_codes": code}
        if params.get("state"):
            q["state"] = params["state"]
        return redirect(_add_query(params["redirect_uri"], q))

    def authorize_page(self, tenant, params):
        try:
            app, err = self._check_authorize(params)
        except _PageError as pe:
            return pe.page()
        if err:
            return self._error_redirect(params, err)
        hint = (params.get("login_hint") or "").lower()
        with self.state.lock:
            users = sorted(self.state.mailboxes.values(), key=lambda m: m.upn)
        rows = []
        for i, mb in enumerate(users):
            checked = " checked" if (mb.upn.lower() == hint or (not hint and i == 0)) else ""
            rows.append(
                f'<label class="user"><input type="radio" name="login" value="{html.escape(mb.upn)}"{checked}> '
                f"<b>{html.escape(mb.display_name)}</b> &lt;{html.escape(mb.upn)}&gt;</label>"
            )
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
            if k != "login"
        )
        scopes = "".join(
            f"<li>{html.escape(s)}</li>" for s in normalize_scopes(params.get("scope")) if s not in OIDC_SCOPES
        )
        page = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign in to your account</title>
<style>{_CONSENT_CSS}</style></head>
<body><main><h2>Graph emulator &mdash; sign in</h2>
<p><b>{html.escape(app.display_name)}</b> ({html.escape(app.client_id)}) wants to:</p><ul>{scopes}</ul>
<form method="post" id="consent-form"><p>Pick an account:</p>
{"".join(rows) or "<p>No users in this tenant.</p>"}{hidden}
<button type="submit" name="consent" value="accept" id="accept">Accept</button>
<button type="submit" name="consent" value="cancel" id="cancel">Cancel</button></form></main></body></html>"""
        return html_response(page)

    def authorize_submit(self, tenant, params):
        try:
            app, err = self._check_authorize(params)
        except _PageError as pe:
            return pe.page()
        if err:
            return self._error_redirect(params, err)
        if params.get("consent") == "cancel":
            return self._error_redirect(params, ("access_denied", 65004, "User declined to consent to access the app."))
        mb = self.state.find_mailbox(params.get("login", ""))
        if mb is None:
            return html_response("<p>AADSTS50034: The user account does not exist in this directory.</p>", 400)
        code = b64url(secrets.token_bytes(48))
        with self.state.lock:
            self.codes[code] = {
                "client_id": app.client_id,
                "redirect_uri": params["redirect_uri"],
                "user": mb.id,
                "scopes": normalize_scopes(params.get("scope")),
                "nonce": params.get("nonce"),
                "challenge": params["code_challenge"],
                "expires": time.time() + CODE_LIFETIME,
                "used": False,
            }
        q = {"code": code, "session_state": str(uuid.uuid4())}
        if params.get("state") is not None:
            q["state"] = params["state"]
        if params.get("response_mode") == "form_post":
            inputs = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in q.items()
            )
            return html_response(
                f'<html><body onload="document.forms[0].submit()"><form method="post" '
                f'action="{html.escape(params["redirect_uri"])}">{inputs}</form></body></html>'
            )
        return redirect(_add_query(params["redirect_uri"], q))

    # ------------------------------------------------------------ token

    def _client(self, req, form):
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = req.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            with contextlib.suppress(Exception):
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        app = self.state.apps.get(client_id or "")
        if app is None:
            raise OAuthError(
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{self.state.domain}'.",
            )
        if secret != app.secret:
            raise OAuthError(
                "invalid_client",
                7000215,
                (
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                    "value, not the client secret ID, for a secret added to app '"
                )
                + app.client_id
                + "'.",
                status=401,
            )
        return app

    def token(self, tenant, req):
        form = req.form()
        app = self._client(req, form)
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = self.codes.get(form.get("code", ""))
            if code is None or code["client_id"] != app.client_id:
                raise OAuthError("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
            if code["used"]:
                raise OAuthError(
                    "invalid_grant",
                    54005,
                    (
                        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an "
                        "existing refresh token."
                    ),
                )
            if code["expires"] < time.time():
                raise OAuthError(
                    "invalid_grant",
                    70008,
                    (
                        "The provided authorization code or refresh token has expired due to inactivity. Send a new "
                        "interactive authorization request for this user and resource."
                    ),
                )
            if form.get("redirect_uri") != code["redirect_uri"]:
                raise OAuthError("invalid_grant", 500117, "The reply uri specified in the request isn't expected.")
            verifier = form.get("code_verifier", "")
            if b64url(hashlib.sha256(verifier.encode()).digest()) != code["challenge"]:
                raise OAuthError(
                    "invalid_grant",
                    501481,
                    "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
                )
            code["used"] = True
            return self._issue(
                app, code["user"], code["scopes"], nonce=code["nonce"], client_info=form.get("client_info") == "1"
            )
        if grant == "refresh_token":
            rt = self.refresh_tokens.get(form.get("refresh_token", ""))
            if rt is None or rt["client_id"] != app.client_id:
                raise OAuthError("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
            if rt["revoked"]:
                raise OAuthError(
                    "invalid_grant",
                    50173,
                    (
                        "The provided grant has expired due to it being revoked, a fresh auth token is needed. The "
                        "user might have changed or reset their password."
                    ),
                )
            if rt["used"] and self.state.settings["single_use_refresh_tokens"]:
                raise OAuthError(
                    "invalid_grant",
                    70000,
                    (
                        "The provided value for the 'refresh_token' is not valid (it was already used, and "
                        "single_use_refresh_tokens is on)."
                    ),
                )
            if rt["expires"] < time.time():
                raise OAuthError("invalid_grant", 700082, "The refresh token has expired due to inactivity.")
            wanted = [s for s in normalize_scopes(form.get("scope")) if s not in OIDC_SCOPES]
            granted = set(rt["scopes"])
            missing = [s for s in wanted if s not in granted]
            if missing:
                raise OAuthError(
                    "invalid_grant",
                    65001,
                    (
                        "The user or administrator has not consented to use the application with ID "
                        f"'{app.client_id}'. "
                        "Send an interactive authorization request for this user and resource. Missing: "
                        f"{' '.join(missing)}"
                    ),
                )
            rt["used"] = True
            scopes = (
                rt["scopes"]
                if not wanted
                else list(dict.fromkeys(wanted + [s for s in rt["scopes"] if s in OIDC_SCOPES]))
            )
            return self._issue(
                app, rt["user"], scopes, nonce=None, client_info=form.get("client_info") == "1", granted=rt["scopes"]
            )
        raise OAuthError("unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'.")

    def _issue(self, app, user_id, scopes, nonce, client_info, granted=None):
        mb = self.state.mailboxes.get(user_id)
        if mb is None:
            raise OAuthError("invalid_grant", 50034, "The user account does not exist in this directory.")
        now = int(time.time())
        lifetime = int(self.state.settings["access_token_lifetime"])
        graph_scopes = [s for s in scopes if s not in OIDC_SCOPES]
        tid = self.state.tenant_id
        claims = {
            "aud": "00000003-0000-0000-c000-000000000000",
            "iss": f"https://sts.windows.net/{tid}/",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "appid": app.client_id,
            "name": mb.display_name,
            "oid": mb.id,
            "scp": " ".join(graph_scopes),
            "sub": b64url(hashlib.sha256(f"{mb.id}{app.client_id}".encode()).digest()),
            "tid": tid,
            "upn": mb.upn,
            "unique_name": mb.upn,
            "uti": b64url(secrets.token_bytes(16)),
            "ver": "1.0",
        }
        access = self.sign(claims)
        self.access_tokens[access] = {
            "user": mb.id,
            "scopes": set(graph_scopes),
            "expires": now + lifetime,
            "client_id": app.client_id,
        }
        body = {
            "token_type": "Bearer",
            "scope": " ".join([*graph_scopes, "openid", "profile", "offline_access"]),
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access,
        }
        if "offline_access" in scopes or granted is not None:
            refresh = "1.A" + b64url(secrets.token_bytes(64))
            self.refresh_tokens[refresh] = {
                "user": mb.id,
                "client_id": app.client_id,
                "scopes": list(granted or scopes),
                "used": False,
                "revoked": False,
                "expires": time.time() + self.state.settings["refresh_token_lifetime"],
            }
            body["refresh_token"] = refresh
        if "openid" in scopes or granted is not None:
            id_claims = {
                "aud": app.client_id,
                "iss": self.issuer(tid),
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
                "name": mb.display_name,
                "oid": mb.id,
                "preferred_username": mb.upn,
                "email": mb.upn,
                "sub": claims["sub"],
                "tid": tid,
                "ver": "2.0",
                "rh": "0.emulator",
                "uti": claims["uti"],
            }
            if nonce:
                id_claims["nonce"] = nonce
            body["id_token"] = self.sign(id_claims)
        if client_info:
            body["client_info"] = b64url(json.dumps({"uid": mb.id, "utid": tid}))
        return json_response(body, headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})

    # ------------------------------------------------------------ Graph side

    def authenticate(self, auth_header):
        """(mailbox, scopes, client_id) for a bearer token, else GraphError 401."""
        www = {
            "WWW-Authenticate": 'Bearer realm="", '
            'authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
            'client_id="00000003-0000-0000-c000-000000000000"'
        }
        if not auth_header or not auth_header.lower().startswith("bearer ") or not auth_header[7:].strip():
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.", headers=www)
        token = auth_header[7:].strip()
        with self.state.lock:
            rec = self.access_tokens.get(token)
            if rec is None:
                raise GraphError(
                    401,
                    "InvalidAuthenticationToken",
                    (
                        "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE "
                        "Compact Serialization Format."
                    )
                    if token.count(".") != 2
                    else "Access token validation failure. Invalid audience.",
                    headers=www,
                )
            if rec["expires"] <= time.time():
                raise GraphError(
                    401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.", headers=www
                )
            mb = self.state.mailboxes.get(rec["user"])
            if mb is None:
                raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure.", headers=www)
            return mb, rec["scopes"], rec["client_id"]

    def expire_access_tokens(self, upn=None):
        with self.state.lock:
            mb = self.state.mailbox(upn) if upn else None
            for rec in self.access_tokens.values():
                if mb is None or rec["user"] == mb.id:
                    rec["expires"] = time.time() - 1

    def revoke_refresh_tokens(self, upn):
        with self.state.lock:
            mb = self.state.mailbox(upn)
            for rec in self.refresh_tokens.values():
                if rec["user"] == mb.id:
                    rec["revoked"] = True
            for rec in self.access_tokens.values():
                if rec["user"] == mb.id:
                    rec["expires"] = time.time() - 1


class _PageError(Exception):
    """An /authorize error that cannot be redirected because the client or redirect_uri is untrusted."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message

    def page(self):
        return html_response(
            f"<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>"
            f"<h2>Sorry, but we're having trouble signing you in.</h2>"
            f"<p id='error'>AADSTS{self.code}: {html.escape(self.message)}</p></body></html>",
            400,
        )


def _add_query(url, params):
    parts = urlsplit(url)
    q = parse_qsl(parts.query, keep_blank_values=True) + [(k, str(v)) for k, v in params.items()]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(q), parts.fragment))
