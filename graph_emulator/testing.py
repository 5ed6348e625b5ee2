"""Helpers for tests that drive the emulator over real HTTP: scripted sign-in, a tiny Graph client,
a webhook receiver."""

import base64
import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

from .events import DEFAULT_HDR, _build_id

SCOPES = ["Calendars.ReadWrite", "User.Read", "MailboxSettings.ReadWrite"]
# A well-formed event id that no event has: GET answers 404 ErrorItemNotFound (a malformed id: 400).
UNKNOWN_ID = _build_id(1, bytes(32), 0, DEFAULT_HDR)
CLIENT_ID, CLIENT_SECRET = "test-client", "test-secret"
REDIRECT = "http://localhost:8069/microsoft_outlook/callback"


def pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(emu, upn, scopes=SCOPES, client_id=CLIENT_ID, redirect_uri=REDIRECT, nonce="n0nce", state="st8"):
    """Walk the consent page like a browser; returns (code, verifier)."""
    verifier, challenge = pkce()
    params = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": " ".join([*scopes, "openid", "profile", "offline_access"]),
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "login_hint": upn,
    }
    url = f"{emu.browser_base_url}/common/oauth2/v2.0/authorize"
    page = requests.get(url, params=params, verify=emu.ca_path)
    assert page.status_code == 200, page.text
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    form = {k: v.replace("&amp;", "&").replace("&quot;", '"').replace("&#x27;", "'") for k, v in form.items()}
    form.update(login=upn, consent="accept")
    resp = requests.post(url, data=form, allow_redirects=False, verify=emu.ca_path)
    assert resp.status_code == 302, resp.text
    q = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert q["state"] == [state]
    return q["code"][0], verifier


def redeem(emu, code, verifier, client_id=CLIENT_ID, secret=CLIENT_SECRET, redirect_uri=REDIRECT, scopes=SCOPES):
    return requests.post(
        f"{emu.base_url}/common/oauth2/v2.0/token",
        verify=emu.ca_path,
        data={
            "client_id": client_id,
            "client_secret": secret,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_info": "1",
            "scope": " ".join([*scopes, "openid", "profile", "offline_access"]),
        },
    )


def login(emu, upn, scopes=SCOPES):
    code, verifier = authorize(emu, upn, scopes)
    resp = redeem(emu, code, verifier, scopes=scopes)
    assert resp.status_code == 200, resp.text
    return resp.json()


class Graph:
    """requests.Session bound to one identity: a bearer token or X-Emulator-Act-As."""

    def __init__(self, emu, token=None, act_as=None):
        self.emu = emu
        self.s = requests.Session()
        # Passed per request: REQUESTS_CA_BUNDLE in the environment overrides Session.verify.
        if token:
            self.s.headers["Authorization"] = f"Bearer {token}"
        if act_as:
            self.s.headers["X-Emulator-Act-As"] = act_as

    def url(self, path):
        return path if path.startswith("http") else self.emu.graph_url + path

    def get(self, path, **kw):
        kw.setdefault("verify", self.emu.ca_path)
        return self.s.get(self.url(path), **kw)

    def post(self, path, json=None, **kw):
        kw.setdefault("verify", self.emu.ca_path)
        return self.s.post(self.url(path), json=json, **kw)

    def patch(self, path, json=None, **kw):
        kw.setdefault("verify", self.emu.ca_path)
        return self.s.patch(self.url(path), json=json, **kw)

    def delete(self, path, **kw):
        kw.setdefault("verify", self.emu.ca_path)
        return self.s.delete(self.url(path), **kw)


GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"


def make_certificate(common_name="graph-emulator-test-app", days=365):
    """A self-signed certificate and its RSA key, as PEM strings: (certificate_pem, private_key_pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert_pem, key_pem


def certificate_thumbprint(certificate_pem, algorithm="sha1"):
    """Hex thumbprint of a PEM certificate (what msal's client_credential "thumbprint" wants: SHA-1)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_pem_x509_certificate(certificate_pem.encode())
    return cert.fingerprint(hashes.SHA1() if algorithm == "sha1" else hashes.SHA256()).hex().upper()


def client_assertion(audience, client_id, private_key_pem, certificate_pem, lifetime=600, **overrides):
    """A client assertion JWT signed RS256 with x5t, as MSAL builds it (oauth2cli/assertion.py). `overrides`
    replace claims (aud, iss, sub, exp, nbf, …) for negative tests."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    def enc(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "x5t": enc(bytes.fromhex(certificate_thumbprint(certificate_pem)))}
    claims = {"aud": audience, "iss": client_id, "sub": client_id, "exp": now + lifetime, "nbf": now, "iat": now}
    claims["jti"] = str(uuid.uuid4())
    claims.update(overrides)
    signing_input = f"{enc(json.dumps(header).encode())}.{enc(json.dumps(claims).encode())}"
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    return f"{signing_input}.{enc(key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()))}"


def request_app_token(
    emu, client_id, secret=None, private_key_pem=None, certificate_pem=None, tenant=None, scope=GRAPH_DEFAULT_SCOPE
):
    """POST grant_type=client_credentials to the token endpoint; returns the requests.Response."""
    tenant = tenant or emu.state.tenant_id
    endpoint = f"{emu.base_url}/{tenant}/oauth2/v2.0/token"
    data = {"client_id": client_id, "grant_type": "client_credentials", "scope": scope}
    if private_key_pem:
        data["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        data["client_assertion"] = client_assertion(endpoint, client_id, private_key_pem, certificate_pem)
    else:
        data["client_secret"] = secret
    return requests.post(endpoint, data=data, verify=emu.ca_path)


def app_token(emu, client_id, secret=None, private_key_pem=None, certificate_pem=None):
    """An app-only access token (client credentials) by secret, or by a certificate-signed client assertion
    (private_key_pem + certificate_pem). Use it as Graph(emu, token=app_token(...))."""
    resp = request_app_token(emu, client_id, secret, private_key_pem, certificate_pem)
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def event_payload(subject="Meeting", start="2030-03-04T10:00:00", end="2030-03-04T11:00:00", tz="UTC", **extra):
    data = {"subject": subject, "start": {"dateTime": start, "timeZone": tz}, "end": {"dateTime": end, "timeZone": tz}}
    data.update(extra)
    return data


def att(address, name=None, kind="required"):
    return {"emailAddress": {"address": address, "name": name or address.split("@")[0]}, "type": kind}


def assert_graph_error(resp, status, code=None):
    assert resp.status_code == status, (resp.status_code, resp.text)
    err = resp.json()["error"]
    assert set(err) >= {"code", "message", "innerError"}
    assert "request-id" in err["innerError"] and "date" in err["innerError"]
    if code:
        assert err["code"] == code, err
    return err


class Webhook:
    """A local notification receiver: answers validation, records notifications."""

    def __init__(self, mode="ok", delay=0.0):
        self.mode, self.delay = mode, delay
        self.received, self.validations = [], []
        self.fail_next = 0
        self.lock = threading.Lock()
        self.event = threading.Event()
        hook = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                q = parse_qs(urlsplit(self.path).query)
                if "validationToken" in q:
                    hook.validations.append(q["validationToken"][0])
                    if hook.mode == "bad-echo":
                        out, status = b"wrong", 200
                    elif hook.mode == "500":
                        out, status = b"", 500
                    else:
                        out, status = q["validationToken"][0].encode(), 200
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    return
                with hook.lock:
                    failing = hook.fail_next > 0
                    if failing:
                        hook.fail_next -= 1
                    hook.received.append({"path": self.path, "body": json.loads(body or b"{}"), "failed": failing})
                status = 500 if failing else 202
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                hook.event.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"

    def notifications(self):
        with self.lock:
            return [n for r in self.received if not r["failed"] for n in r["body"].get("value", [])]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
