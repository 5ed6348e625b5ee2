"""Microsoft identity platform v2.0 endpoints: discovery, JWKS, authorize (consent page), token.

Built to what MSAL Python sends and checks (GRAPH_FACTS §7.3): https token endpoint with the
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

from cryptography import x509
from cryptography.exceptions import InvalidSignature
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
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CERT_DOCS = "Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."


def load_certificate(pem):
    if isinstance(pem, str):
        pem = pem.encode()
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise ValueError(f"not a PEM X.509 certificate: {exc}") from None


def _b64url_decode(text):
    """base64url with or without padding: msal sends x5t/x5t#S256 padded (oauth2cli/assertion.py
    _encode_thumbprint uses urlsafe_b64encode without stripping '='), JWT segments unpadded."""
    text = text.strip().rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AppPrincipal:
    """The caller of an app-only (client credentials) request: the app's service principal, not a mailbox.

    It has the attributes request code reads from a caller (id, upn, display_name) so that logging and
    limits keep working; `upn` is None because there is no signed-in user."""

    is_app = True

    def __init__(self, app, roles):
        self.app = app
        self.client_id = app.client_id
        self.id = app.service_principal_id
        self.upn = None
        self.display_name = app.display_name
        self.roles = frozenset(roles)


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
            r"^/([^/]+)/(v2\.0/\.well-known/openid-configuration|discovery/v2\.0/keys|oauth2/v2\.0/(authorize|token|logout)"
            r"|(?:v2\.0/)?adminconsent)$",
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
        if what.endswith("adminconsent"):
            v2 = what.startswith("v2.0/")
            if req.method == "POST":
                return self.admin_consent_submit(tenant, req.form(), v2)
            if req.method == "GET":
                return self.admin_consent_page(tenant, dict(req.query), v2)
            return Response(405, b"")
        if what.endswith("logout"):
            target = req.query.get("post_logout_redirect_uri")
            return redirect(target) if target else html_response("<p>You signed out of your account.</p>")
        if what.endswith("token") and req.method == "POST":
            req.log_info = {"grantType": req.form().get("grant_type") or "", "clientId": req.form().get("client_id")}
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

    def _user_choices(self, params):
        """The tenant's users as radio buttons of a sign-in form, ``login_hint`` (else the
        first) chosen."""
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
        return rows

    def authorize_page(self, tenant, params):
        try:
            app, err = self._check_authorize(params)
        except _PageError as pe:
            return pe.page()
        if err:
            return self._error_redirect(params, err)
        rows = self._user_choices(params)
        hidden = _hidden_inputs(params, skip=("login",))
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

    def _submitted(self, params, check):
        """A sign-in or consent form came back: (what ``check`` found, None), or (None, the
        answer) when the request is invalid or the user pressed Cancel."""
        try:
            app, err, *more = check(params)
        except _PageError as pe:
            return None, pe.page()
        if err:
            return None, self._error_redirect(params, err)
        if params.get("consent") == "cancel":
            # [A] the cancel answer: access_denied with AADSTS65004, on /authorize and on the
            # admin-consent page alike (the v2-admin-consent page shows error + error_description
            # + state on the redirect URI).
            return None, self._error_redirect(
                params, ("access_denied", 65004, "User declined to consent to access the app.")
            )
        return (app, *more), None

    def authorize_submit(self, tenant, params):
        found, answer = self._submitted(params, self._check_authorize)
        if answer:
            return answer
        (app,) = found
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

    # ------------------------------------------------------------ admin consent

    # GET /{tenant}/adminconsent?client_id&redirect_uri&state (v1) and
    # GET /{tenant}/v2.0/adminconsent?client_id&scope&redirect_uri&state (v2): an administrator signs in and
    # approves the app's permissions for the whole tenant; success redirects to
    # redirect_uri?admin_consent=True&tenant=<id>[&scope=…]&state=… ("Admin consent on the Microsoft identity
    # platform", https://learn.microsoft.com/entra/identity-platform/v2-admin-consent: "To request app
    # permissions, you must use the /.default value"; the v1 endpoint behaves as /.default).

    def _check_admin_consent(self, params, v2):
        """(app, error_or_None, grants_app_permissions); raises _PageError when nothing may be redirected to."""
        app = self.state.apps.get(params.get("client_id", ""))
        if app is None:
            raise _PageError(
                700016,
                f"Application with identifier '{params.get('client_id', '')}' was not found in the directory "
                f"'{self.state.domain}'. This can happen if the application has not been installed by the "
                "administrator of the tenant.",
            )
        uri = params.get("redirect_uri", "")
        if not uri and app.redirect_uris:
            # [A] Entra falls back to the registration's reply URL when redirect_uri is left out.
            uri = params["redirect_uri"] = app.redirect_uris[0]
        if not uri or not app.redirect_allowed(uri):
            raise _PageError(
                50011,
                f"The redirect URI '{uri}' specified in the request does not match the redirect URIs "
                f"configured for the application '{app.client_id}'.",
            )
        if not v2:
            return app, None, True
        scopes = (params.get("scope") or "").split()
        if not scopes:
            return (
                app,
                ("invalid_request", 900144, "The request body must contain the following parameter: 'scope'."),
                False,
            )
        return app, None, any(self._is_default_scope(s) for s in scopes)

    def admin_consent_page(self, tenant, params, v2, error=None):
        try:
            app, err, grants = self._check_admin_consent(params, v2)
        except _PageError as pe:
            return pe.page()
        if err:
            return self._error_redirect(params, err)
        with self.state.lock:
            wanted = list(app.application_permissions) if grants else []
        rows = self._user_choices(params)
        hidden = _hidden_inputs(params, skip=("login", "consent"))
        perms = "".join(f"<li>{html.escape(p)} (Application)</li>" for p in wanted) or "<li>Sign you in</li>"
        banner = f'<p id="error" class="error">{html.escape(error)}</p>' if error else ""
        page = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Permissions requested</title>
<style>{_CONSENT_CSS}.error{{color:#a4262c}}</style></head>
<body><main><h2>Graph emulator &mdash; permissions requested</h2>{banner}
<p><b>{html.escape(app.display_name)}</b> ({html.escape(app.client_id)}) asks an administrator to accept, for
the whole organisation ({html.escape(self.state.domain)}):</p><ul>{perms}</ul>
<form method="post" id="consent-form"><p>Sign in as an administrator:</p>
{"".join(rows) or "<p>No users in this tenant.</p>"}{hidden}
<button type="submit" name="consent" value="accept" id="accept">Accept</button>
<button type="submit" name="consent" value="cancel" id="cancel">Cancel</button></form></main></body></html>"""
        return html_response(page)

    def admin_consent_submit(self, tenant, params, v2):
        found, answer = self._submitted(params, lambda p: self._check_admin_consent(p, v2))
        if answer:
            return answer
        app, grants = found
        mb = self.state.find_mailbox(params.get("login", ""))
        if mb is None:
            return self.admin_consent_page(
                tenant, params, v2, "AADSTS50034: The user account does not exist in this directory."
            )
        if not mb.admin:
            # Entra's "Need admin approval" page: "AADSTS90094: … needs permission to access resources in your
            # organization that only an admin can grant. Please ask an admin to grant permission to this app
            # before you can use it." (https://learn.microsoft.com/entra/identity/enterprise-apps/
            # application-sign-in-unexpected-user-consent-error; MicrosoftDocs/azure-docs#29197). The page keeps
            # the form, as Entra's offers "Have an admin account? Sign in with that account".
            return self.admin_consent_page(
                tenant,
                params,
                v2,
                f"Need admin approval. AADSTS90094: {app.display_name} needs permission to access resources in "
                "your organization that only an admin can grant. Please ask an admin to grant permission to this "
                "app before you can use it.",
            )
        if grants:
            self.state.grant_admin_consent(app.client_id)
        q = {"admin_consent": "True", "tenant": self.state.tenant_id}
        if v2:
            q["scope"] = params.get("scope", "")
        if params.get("state") is not None:
            q["state"] = params["state"]
        return redirect(_add_query(params["redirect_uri"], q))

    # ------------------------------------------------------------ token

    def _client(self, req, form, tenant):
        """Authenticate the client: a secret (body or Basic) or a certificate-signed client assertion
        (private_key_jwt). Returns (app, method) with method "secret" or "certificate"."""
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = req.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            with contextlib.suppress(Exception):
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        assertion = form.get("client_assertion")
        if not client_id and assertion:
            with contextlib.suppress(Exception):
                client_id = json.loads(_b64url_decode(assertion.split(".")[1])).get("iss")
        app = self.state.apps.get(client_id or "")
        if app is None:
            raise OAuthError(
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{self.state.domain}'.",
            )
        if assertion:
            self._verify_assertion(app, form, tenant, req)
            return app, "certificate"
        if secret is None:
            # "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or
            # 'client_secret'." (Azure-Samples/ms-identity-javascript-v2#18, MicrosoftDocs/azure-docs#25959)
            raise OAuthError(
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                status=401,
            )
        if app.secret is None or secret != app.secret:
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
        return app, "secret"

    def _token_endpoints(self, tenant):
        """The audiences a client assertion may name: this token endpoint (MSAL uses the discovered
        token_endpoint, msal/application.py: audience=authority.token_endpoint), under any name of the tenant,
        on either listener."""
        names = {tenant, self.state.tenant_id, self.state.domain, "common", "organizations"}
        bases = {self.emu.base_url, getattr(self.emu, "http_base_url", None) or self.emu.base_url}
        return {f"{b}/{n}/oauth2/v2.0/token".lower() for b in bases for n in names} | {
            f"{b}/{n}/oauth2/token".lower() for b in bases for n in names
        }

    def _verify_assertion(self, app, form, tenant, req):
        """Certificate credentials (https://learn.microsoft.com/entra/identity-platform/certificate-credentials):
        a JWT signed RS256 or PS256 by the certificate's key; header x5t (SHA-1 thumbprint) and/or x5t#S256;
        claims aud = token endpoint, iss = sub = client_id, exp, nbf, jti. MSAL Python 1.39 sends PS256 with
        x5t#S256 when given public_certificate and no thumbprint, else RS256 with x5t (application.py)."""
        if form.get("client_assertion_type") != JWT_BEARER:
            raise OAuthError(
                "invalid_request",
                900144,
                f"The request body must contain the following parameter: 'client_assertion_type' with the value "
                f"'{JWT_BEARER}'.",
            )
        malformed = OAuthError("invalid_client", 50027, "JWT token is invalid or malformed.", status=401)
        parts = form["client_assertion"].split(".")
        if len(parts) != 3:
            raise malformed
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except (ValueError, UnicodeDecodeError):
            raise malformed from None
        alg = header.get("alg")
        if alg not in ("RS256", "PS256"):
            # [A] code: Entra refuses other algorithms for certificate credentials (AADSTS5002730 is its
            # "Unsupported key for the signing algorithm", AzureAD/microsoft-authentication-library-for-dotnet#4712).
            raise OAuthError(
                "invalid_request", 5002730, "Invalid JWT token. Unsupported key for the signing algorithm."
            )
        sha1 = sha256 = None
        with contextlib.suppress(Exception):
            sha1 = _b64url_decode(header["x5t"]) if header.get("x5t") else None
        with contextlib.suppress(Exception):
            sha256 = _b64url_decode(header["x5t#S256"]) if header.get("x5t#S256") else None
        if not sha1 and not sha256:
            # AzureAD/microsoft-authentication-library-for-dotnet#124: "AADSTS50027: Invalid JWT token. No
            # certificate thumbprint specified in token header."
            raise OAuthError(
                "invalid_client", 50027, "Invalid JWT token. No certificate thumbprint specified in token header.", 401
            )
        shown = (sha1 or sha256).hex().upper()
        cert = None
        for pem in app.certificates:
            candidate = load_certificate(pem)
            if (sha1 and candidate.fingerprint(hashes.SHA1()) == sha1) or (  # x5t is a SHA-1 thumbprint (RFC 7515)
                sha256 and candidate.fingerprint(hashes.SHA256()) == sha256
            ):
                cert = candidate
                break
        if cert is None:
            # AzureAD/microsoft-authentication-library-for-js#8339 (2026 wording of AADSTS700027).
            raise OAuthError(
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the client assertion is not registered on application. "
                f"[Reason - The key was not found., Thumbprint of key used by client: '{shown}', Please visit the "
                "Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id "
                f"'{app.client_id}'. {CERT_DOCS}]",
                status=401,
            )
        pad = (
            padding.PKCS1v15()
            if alg == "RS256"
            else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
        )
        try:
            cert.public_key().verify(signature, f"{parts[0]}.{parts[1]}".encode(), pad, hashes.SHA256())
        except (InvalidSignature, TypeError, ValueError):
            # pnp/cli-microsoft365#1621 and Azure/azure-sdk-for-java#25109 (the "Found key" form).
            start = cert.not_valid_before_utc.strftime("%m/%d/%Y %H:%M:%S")
            end = cert.not_valid_after_utc.strftime("%m/%d/%Y %H:%M:%S")
            raise OAuthError(
                "invalid_client",
                700027,
                "Client assertion contains an invalid signature. [Reason - The provided signature value did not match "
                f"the expected signature value., Thumbprint of key used by client: '{shown}', Found key "
                f"'Start={start}, End={end}']",
                status=401,
            ) from None
        aud = claims.get("aud")
        if not isinstance(aud, str) or aud.lower() not in self._token_endpoints(tenant):
            # [A] code: Entra answered AADSTS50027 to an assertion whose aud was not the token endpoint
            # (panva/openid-client#348, an aud list).
            raise malformed
        if claims.get("iss") != app.client_id:
            # [A] code and text: the assertion must be issued by the client named in the request.
            raise OAuthError(
                "invalid_client",
                700021,
                f"Client assertion application identifier doesn't match 'client_id' parameter. {CERT_DOCS}",
                status=401,
            )
        if claims.get("sub") != claims.get("iss"):
            # AzureAD/microsoft-authentication-library-for-java#430.
            raise OAuthError(
                "invalid_client", 50048, "Subject must match the issuer claim in the client assertion.", status=401
            )
        now = time.time()
        try:
            exp = float(claims["exp"])
            nbf = float(claims.get("nbf") or 0)
        except (KeyError, TypeError, ValueError):
            raise malformed from None
        # Entra allows a few minutes of clock skew [A: 5 minutes]. MSAL re-sends one assertion for up to 9
        # minutes (oauth2cli/assertion.py AutoRefresher), so jti is not checked for replay.
        if exp < now - 300 or nbf > now + 300:

            def iso(t):
                return time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime(t))

            # Azure/login#180, AzureAD/microsoft-authentication-library-for-java#984.
            raise OAuthError(
                "invalid_client",
                700024,
                f"Client assertion is not within its valid time range. Current time: {iso(now)}, assertion valid "
                f"from {iso(nbf)}, expiry time of assertion {iso(exp)}. {CERT_DOCS}",
                status=401,
            )

    def _is_default_scope(self, scope):
        """A Microsoft Graph resource with /.default: https://graph.microsoft.com/.default, the Graph app id form,
        or this emulator's own host or Graph URL."""
        low = scope.lower()
        if not low.endswith("/.default"):
            return False
        resource = low[: -len("/.default")]
        emu = self.emu
        names = {"https://graph.microsoft.com", GRAPH_APP_ID, emu.base_url.lower(), emu.graph_url.lower()}
        if getattr(emu, "http_base_url", None):
            names |= {emu.http_base_url.lower(), emu.http_base_url.lower() + "/v1.0"}
        return resource.rstrip("/") in names

    def _client_credentials(self, app, form, method):
        scopes = (form.get("scope") or "").split()
        if not scopes:
            raise OAuthError(
                "invalid_request", 900144, "The request body must contain the following parameter: 'scope'."
            )
        for scope in scopes:
            if not self._is_default_scope(scope):
                # microsoftgraph/msgraph-sdk-python#181, microsoftgraph/microsoft-graph-docs#14323 (exact text).
                raise OAuthError(
                    "invalid_scope",
                    1002012,
                    f"The provided value for scope {scope} is not valid. Client credential flows must have a scope "
                    "value with /.default suffixed to the resource identifier (application ID URI).",
                )
        return self._issue_app(app, method)

    def _issue_app(self, app, method):
        """An app-only access token (v1.0 shape of Graph app tokens): roles = the granted application
        permissions, idtyp "app", oid/sub = the service principal; no scp, no upn. Without granted application
        permissions Entra still issues the token, without a roles claim: "it's also possible to do the client
        credentials flow without any application permissions, for authentication but not authorization"
        (will-bartlett, Microsoft, MicrosoftDocs/azure-docs#81503). Client credentials answer with no refresh
        token and no id_token (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow)."""
        now = int(time.time())
        lifetime = int(self.state.settings["access_token_lifetime"])
        tid = self.state.tenant_id
        roles = list(app.granted_roles)
        claims = {
            "aud": "https://graph.microsoft.com",
            "iss": f"https://sts.windows.net/{tid}/",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "app_displayname": app.display_name,
            "appid": app.client_id,
            "appidacr": "2" if method == "certificate" else "1",
            "idp": f"https://sts.windows.net/{tid}/",
            "idtyp": "app",
            "oid": app.service_principal_id,
            "rh": "0.emulator",
            "sub": app.service_principal_id,
            "tid": tid,
            "uti": b64url(secrets.token_bytes(16)),
            "ver": "1.0",
        }
        if roles:
            claims["roles"] = roles
        access = self.sign(claims)
        self.access_tokens[access] = {
            "user": None,
            "app": app.client_id,
            "roles": roles,
            "scopes": set(),
            "expires": now + lifetime,
            "client_id": app.client_id,
        }
        body = {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": access}
        return json_response(body, headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})

    def token(self, tenant, req):
        form = req.form()
        app, method = self._client(req, form, tenant)
        grant = form.get("grant_type")
        if grant == "client_credentials":
            return self._client_credentials(app, form, method)
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
        """(caller, scopes, client_id) for a bearer token, else GraphError 401.

        caller is the signed-in user's Mailbox for a delegated token and an AppPrincipal (caller.is_app) for an
        app-only token; scopes are then the token's roles."""
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
            if rec.get("app"):
                app = self.state.apps.get(rec["app"])
                if app is None:
                    raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure.", headers=www)
                return AppPrincipal(app, rec.get("roles") or ()), frozenset(rec.get("roles") or ()), rec["client_id"]
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


def _hidden_inputs(params, skip):
    """The request's parameters carried through a form as hidden inputs, except ``skip``."""
    return "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k not in skip
    )
