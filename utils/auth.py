"""Sign-in and tokens through MSAL.

Per-user connections (SPEC S2, authorization code flow with PKCE): one
``MicrosoftLogin`` per operation loads the user's serialized MSAL token cache, and
the caller stores ``serialized_cache()`` back when ``cache_changed``, so a rotated
refresh token is never thrown away.

The organisation-wide connection (SPEC O1, client credentials): ``OrganizationLogin``
holds the application's token in memory, one MSAL application per Odoo process and
per application identity; no token is ever stored in the database or logged.
"""

import hashlib
import threading
import time
from urllib.parse import urlsplit

import msal
import requests

from .settings import APPLICATION_SCOPES, GRAPH_SCOPES, MICROSOFT_LOGIN_ENDPOINT


class AuthError(Exception):
    """Sign-in or token refresh failed. ``reconnect`` means only the user can fix it;
    ``organization`` that the organisation's application failed (an administrator fixes
    it, and every mailbox it connects waits meanwhile)."""

    def __init__(self, message, reconnect=False, organization=False):
        super().__init__(message)
        self.reconnect = reconnect
        self.organization = organization


# MSAL reads the authority's discovery documents each time an application object
# is made, which is once per push batch or pull here. They change rarely; MSAL's
# own http_cache would keep them, but its index is not safe to share across threads.
DISCOVERY_TTL = 3600
_discovery_cache = {}  # (url, params, verify) -> (expires at, response)
_discovery_lock = threading.Lock()


def _is_discovery(url):
    path = urlsplit(url).path
    return path.endswith("/.well-known/openid-configuration") or path.endswith("/discovery/instance")


class _PinnedSession(requests.Session):
    """A session whose ``verify`` and ``timeout`` hold for every request.

    MSAL sets ``Session.verify``, but requests lets REQUESTS_CA_BUNDLE override a
    session-level value (psf/requests#3829), which breaks a private CA bundle.
    With ``reuse_discovery``, successful discovery documents are reused process-wide.
    """

    def __init__(self, verify, timeout, reuse_discovery=True):
        super().__init__()
        self.verify = verify
        self._timeout = timeout
        self._reuse_discovery = reuse_discovery

    def request(self, method, url, **kwargs):
        if kwargs.get("verify") is None:
            kwargs["verify"] = self.verify
        kwargs.setdefault("timeout", self._timeout)
        if not (self._reuse_discovery and method.upper() == "GET" and _is_discovery(url)):
            return super().request(method, url, **kwargs)
        key = (url, repr(sorted((kwargs.get("params") or {}).items())), str(kwargs["verify"]))
        with _discovery_lock:
            expires_at, response = _discovery_cache.get(key, (0, None))
        if response is not None and expires_at > time.monotonic():
            return response
        response = super().request(method, url, **kwargs)
        if response.status_code == 200:
            with _discovery_lock:
                _discovery_cache[key] = (time.monotonic() + DISCOVERY_TTL, response)
        return response


def admin_consent_endpoint(app, timeout=10):
    """Where an administrator's browser grants admin consent (O1): next to the authorization
    endpoint the login service announces in its discovery document, as Microsoft's pages are
    (``https://login.microsoftonline.com/{tenant}/adminconsent``). A login service whose browser
    pages live at another address (the demo emulator's plain-HTTP pages) says so there, as it
    does for users' sign-ins; without an answer, beside the configured endpoint (issue 23)."""
    endpoint = ""
    try:
        with _PinnedSession(app.verify, timeout) as session:
            answer = session.request("GET", f"{app.authority}/v2.0/.well-known/openid-configuration")
            if answer.status_code == 200:
                endpoint = answer.json().get("authorization_endpoint") or ""
    except (requests.RequestException, ValueError, AttributeError):
        endpoint = ""
    if "/oauth2/" in endpoint:
        return endpoint.split("/oauth2/", 1)[0] + "/adminconsent"
    return f"{app.authority}/adminconsent"


class MicrosoftLogin:
    # A connection test must ask the login service itself, not a kept answer.
    reuse_discovery = True

    def __init__(self, app, token_cache=None, timeout=15):
        self.expires_at = 0.0  # of the last access token given
        self._cache = msal.SerializableTokenCache()
        if token_cache:
            self._cache.deserialize(token_cache)
        official = urlsplit(app.login_endpoint).hostname == urlsplit(MICROSOFT_LOGIN_ENDPOINT).hostname
        try:
            # MSAL reads the authority's discovery document here already.
            self._msal = msal.ConfidentialClientApplication(
                app.client_id,
                client_credential=app.client_secret,
                authority=app.authority,
                token_cache=self._cache,
                http_client=_PinnedSession(app.verify, timeout, self.reuse_discovery),
                # Instance discovery asks Microsoft about the host: pointless, and
                # unreachable, for a private or emulated login endpoint.
                instance_discovery=None if official else False,
            )
        except ValueError as exc:
            raise AuthError(
                f"The login endpoint {app.authority} does not answer as a Microsoft login service: {exc}"
            ) from None
        except requests.RequestException as exc:
            raise AuthError(f"Cannot reach the login endpoint {app.authority}: {type(exc).__name__}") from None

    # -- the browser flow ---------------------------------------------------------------

    def begin(self, redirect_uri, login_hint=None):
        """Start a sign-in; keep the returned flow (JSON-safe) until the callback."""
        return self._msal.initiate_auth_code_flow(list(GRAPH_SCOPES), redirect_uri=redirect_uri, login_hint=login_hint)

    def complete(self, flow, callback_params):
        """Finish a sign-in with the query of the redirect; return the id token claims."""
        try:
            result = self._msal.acquire_token_by_auth_code_flow(flow, dict(callback_params))
        except ValueError:
            # MSAL's own words: the state does not match the flow it was given.
            raise AuthError("This sign-in answer does not belong to the sign-in you started. Start again.") from None
        except requests.RequestException as exc:
            raise AuthError(f"Cannot reach the login endpoint: {type(exc).__name__}") from None
        if "error" in result:
            raise AuthError(_describe_error(result))
        return result.get("id_token_claims") or {}

    # -- tokens ----------------------------------------------------------------------------

    def access_token(self, force_refresh=False):
        """A valid access token, refreshed silently when needed (or when forced)."""
        accounts = self._msal.get_accounts()
        if not accounts:
            raise AuthError("Not connected to Microsoft 365: connect again from your preferences.", reconnect=True)
        try:
            result = self._msal.acquire_token_silent_with_error(
                list(GRAPH_SCOPES), account=accounts[0], force_refresh=force_refresh
            )
        except requests.RequestException as exc:
            raise AuthError(f"Cannot reach the login endpoint: {type(exc).__name__}") from None
        if not result:
            raise AuthError(
                "The Microsoft 365 sign-in has expired: connect again from your preferences.", reconnect=True
            )
        if "access_token" not in result:
            # invalid_grant: revoked, expired or password changed; interaction_required: new consent.
            reconnect = result.get("error") in ("invalid_grant", "interaction_required", "invalid_client")
            raise AuthError(_describe_error(result), reconnect=reconnect)
        # When the token expires (time.time()); MSAL gives its remaining life, from its cache too.
        self.expires_at = time.time() + float(result.get("expires_in") or 0)
        return result["access_token"]

    @property
    def cache_changed(self):
        return self._cache.has_state_changed

    def serialized_cache(self):
        return self._cache.serialize()


class OrganizationLogin:
    """The organisation's application token (client credentials, SPEC O1).

    MSAL keeps the token in its in-memory cache until shortly before it expires, so
    every mailbox of every job in this process shares one token: a handful of token
    requests per process per day. The MSAL application is made once per application
    identity (authority, client, credential) and process.
    """

    _apps = {}  # key -> (MSAL application, lock of its token requests)
    _apps_lock = threading.Lock()

    def __init__(self, app, timeout=15):
        self._msal, self._token_lock = self._application(app, timeout)

    @classmethod
    def _application(cls, app, timeout):
        credential = client_credential(app)
        key = (
            app.authority,
            app.client_id,
            hashlib.sha256(
                repr(sorted(credential.items()) if isinstance(credential, dict) else credential).encode()
            ).hexdigest(),
            str(app.verify),
        )
        # Made once per process, under the lock: threads starting together would otherwise each
        # read the discovery documents and ask for a token of their own.
        with cls._apps_lock:
            if key not in cls._apps:
                cls._apps[key] = (cls._new_application(app, credential, timeout), threading.Lock())
            return cls._apps[key]

    @staticmethod
    def _new_application(app, credential, timeout):
        official = urlsplit(app.login_endpoint).hostname == urlsplit(MICROSOFT_LOGIN_ENDPOINT).hostname
        try:
            return msal.ConfidentialClientApplication(
                app.client_id,
                client_credential=credential,
                authority=app.authority,
                http_client=_PinnedSession(app.verify, timeout),
                instance_discovery=None if official else False,
            )
        except ValueError as exc:
            raise AuthError(
                f"The organisation's Microsoft 365 application cannot sign in: {exc}", organization=True
            ) from None
        except requests.RequestException as exc:
            raise AuthError(
                f"Cannot reach the login endpoint {app.authority}: {type(exc).__name__}", organization=True
            ) from None

    def access_token(self, force_refresh=False):
        """The application's access token (from MSAL's cache unless forced or expiring)."""
        try:
            # One token request at a time per application: the others then find it in MSAL's cache.
            with self._token_lock:
                if force_refresh:
                    self._msal.remove_tokens_for_client()
                result = self._msal.acquire_token_for_client(list(APPLICATION_SCOPES))
        except requests.RequestException as exc:
            raise AuthError(f"Cannot reach the login endpoint: {type(exc).__name__}", organization=True) from None
        if "access_token" not in result:
            raise AuthError(
                "The organisation's Microsoft 365 connection does not work: " + _describe_error(result),
                organization=True,
            )
        return result["access_token"]

    @classmethod
    def forget_all(cls):
        """Drop every process-wide application and its tokens (settings changed, or a test)."""
        with cls._apps_lock:
            cls._apps.clear()


def client_credential(app):
    """What MSAL signs in with: the secret, or the certificate's private key and its
    SHA-1 thumbprint (the ``x5t`` Entra matches against the uploaded certificate)."""
    if not (app.organization and app.certificate):
        return app.client_secret
    thumbprint = (app.certificate_thumbprint or "").replace(":", "").strip() or certificate_thumbprint(app.certificate)
    if not thumbprint:
        raise AuthError(
            "The certificate holds no public certificate to take the thumbprint from: paste the certificate "
            "together with its private key, or fill in its thumbprint.",
            organization=True,
        )
    return {"private_key": app.certificate, "thumbprint": thumbprint}


def _first_certificate(pem):
    """The first X.509 certificate in ``pem``, or None."""
    from cryptography import x509  # pylint: disable=import-outside-toplevel  # msal's own dependency

    start = (pem or "").find("-----BEGIN CERTIFICATE-----")
    if start < 0:
        return None
    try:
        return x509.load_pem_x509_certificate(pem[start:].encode())
    except ValueError:
        return None


def certificate_thumbprint(pem):
    """SHA-1 thumbprint (hex, upper case, as Azure shows it) of the first certificate in ``pem``, or ""."""
    from cryptography.hazmat.primitives import hashes  # pylint: disable=import-outside-toplevel

    certificate = _first_certificate(pem)
    return certificate.fingerprint(hashes.SHA1()).hex().upper() if certificate else ""  # Entra's x5t is SHA-1


def certificate_expiry(pem):
    """When the first certificate in ``pem`` expires (naive UTC datetime), or None."""
    certificate = _first_certificate(pem)
    return certificate.not_valid_after_utc.replace(tzinfo=None) if certificate else None


def _describe_error(result):
    """Plain words for an OAuth error answer (never includes a token)."""
    code = result.get("error", "error")
    description = (result.get("error_description") or "").split("\r\n")[0].split(" Trace ID:")[0]
    hints = {
        "invalid_client": (
            "The Azure client ID, secret or certificate is wrong or expired: ask your administrator to check them."
        ),
        "invalid_scope": "The application's permissions were not granted: grant admin consent in Settings.",
        "invalid_grant": "Microsoft refused the sign-in (expired or revoked): connect again from your preferences.",
        "access_denied": "The sign-in was cancelled or consent was refused.",
        "unauthorized_client": "This Azure app may not be used for this sign-in: check its platform and redirect URI.",
    }
    hint = hints.get(code, "Microsoft refused the sign-in.")
    return f"{hint} ({code}: {description})" if description else f"{hint} ({code})"
