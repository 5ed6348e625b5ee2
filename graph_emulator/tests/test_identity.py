"""Identity platform: discovery, consent page, token endpoint, Graph authentication."""

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from graph_emulator.testing import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT,
    Graph,
    assert_graph_error,
    authorize,
    login,
    pkce,
    redeem,
)


def _b64d(seg):
    return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))


def _get(emu, path, **kw):
    return requests.get(emu.base_url + path, verify=emu.ca_path, **kw)


@pytest.mark.parametrize("tenant_seg", ["common", "organizations", "TENANT_ID"])
def test_discovery_document(emu, tenant, tenant_seg):
    seg = tenant.tenant_id if tenant_seg == "TENANT_ID" else tenant_seg
    doc = _get(emu, f"/{seg}/v2.0/.well-known/openid-configuration").json()
    assert doc["token_endpoint"] == f"{emu.base_url}/{seg}/oauth2/v2.0/token"
    assert doc["token_endpoint"].startswith("https://")
    assert doc["authorization_endpoint"] == f"{emu.http_base_url}/{seg}/oauth2/v2.0/authorize"
    assert doc["issuer"] == f"{emu.base_url}/{tenant.tenant_id}/v2.0"
    assert doc["jwks_uri"].endswith(f"/{seg}/discovery/v2.0/keys")


def test_discovery_unknown_tenant(emu, tenant):
    r = _get(emu, "/not-a-tenant/v2.0/.well-known/openid-configuration")
    assert r.status_code == 400 and r.json()["error"] == "invalid_tenant"


def test_consent_page_lists_users_and_preselects_login_hint(emu, tenant):
    _, challenge = pkce()
    r = requests.get(
        f"{emu.http_base_url}/common/oauth2/v2.0/authorize",
        params={
            "client_id": CLIENT_ID,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "scope": "User.Read openid",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "login_hint": "sam@contoso.example",
        },
    )
    assert r.status_code == 200
    for upn in ("alex@contoso.example", "sam@contoso.example", "kim@contoso.example"):
        assert upn in r.text
    assert 'value="sam@contoso.example" checked' in r.text
    assert 'value="alex@contoso.example" checked' not in r.text


@pytest.mark.parametrize(
    "change,aadsts",
    [({"client_id": "nope"}, "AADSTS700016"), ({"redirect_uri": "https://evil.example/cb"}, "AADSTS50011")],
)
def test_authorize_untrusted_client_or_redirect_shows_error_page(emu, tenant, change, aadsts):
    _, challenge = pkce()
    params = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "User.Read",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(change)
    r = requests.get(f"{emu.http_base_url}/common/oauth2/v2.0/authorize", params=params, allow_redirects=False)
    assert r.status_code == 400 and aadsts in r.text and "Location" not in r.headers


@pytest.mark.parametrize(
    "change,error",
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
    ],
)
def test_authorize_errors_redirect_back(emu, tenant, change, error):
    _, challenge = pkce()
    params = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "User.Read",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "abc",
    }
    params.update(change)
    params = {k: v for k, v in params.items() if v is not None}
    r = requests.get(f"{emu.http_base_url}/common/oauth2/v2.0/authorize", params=params, allow_redirects=False)
    assert r.status_code == 302
    loc = r.headers["Location"]
    assert loc.startswith(REDIRECT)
    q = parse_qs(urlsplit(loc).query)
    assert q["error"] == [error] and q["state"] == ["abc"] and q["error_description"][0].startswith("AADSTS")


def test_user_cancel_gives_access_denied(emu, tenant):
    _, challenge = pkce()
    r = requests.post(
        f"{emu.http_base_url}/common/oauth2/v2.0/authorize",
        data={
            "client_id": CLIENT_ID,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "scope": "User.Read",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "s",
            "consent": "cancel",
            "login": "alex@contoso.example",
        },
        allow_redirects=False,
    )
    q = parse_qs(urlsplit(r.headers["Location"]).query)
    assert q["error"] == ["access_denied"]


def test_code_exchange_returns_signed_id_token_with_nonce_and_client_info(emu, tenant):
    code, verifier = authorize(emu, "sam@contoso.example", nonce="abc123hashed")
    r = redeem(emu, code, verifier)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert set(body) >= {"access_token", "refresh_token", "id_token", "client_info", "scope", "ext_expires_in"}
    header, payload, sig = body["id_token"].split(".")
    claims = json.loads(_b64d(payload))
    sam = tenant.find_mailbox("sam@contoso.example")
    assert claims["nonce"] == "abc123hashed"
    assert claims["aud"] == CLIENT_ID and claims["iss"] == f"{emu.base_url}/{tenant.tenant_id}/v2.0"
    assert claims["oid"] == sam.id and claims["tid"] == tenant.tenant_id
    assert claims["preferred_username"] == "sam@contoso.example" and claims["name"] == "Sam Taylor"
    assert json.loads(_b64d(body["client_info"])) == {"uid": sam.id, "utid": tenant.tenant_id}
    # RS256 signature verifies against the published JWKS.
    jwks = _get(emu, "/common/discovery/v2.0/keys").json()
    key = next(k for k in jwks["keys"] if k["kid"] == json.loads(_b64d(header))["kid"])
    pub = rsa.RSAPublicNumbers(
        int.from_bytes(_b64d(key["e"]), "big"), int.from_bytes(_b64d(key["n"]), "big")
    ).public_key()
    pub.verify(_b64d(sig), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())


def test_code_is_single_use_and_checks_verifier_redirect_and_secret(emu, tenant):
    code, verifier = authorize(emu, "alex@contoso.example")
    bad = redeem(emu, code, verifier, secret="wrong")
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert bad.json()["error_codes"] == [7000215]
    r = redeem(emu, code, "not-the-verifier")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert r.json()["error_description"].startswith("AADSTS501481")
    r = redeem(emu, code, verifier, redirect_uri="http://localhost:8069/other")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert redeem(emu, code, verifier).status_code == 200
    again = redeem(emu, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert "AADSTS54005" in again.json()["error_description"]


def _refresh(emu, rt, scope="Calendars.ReadWrite User.Read offline_access openid profile"):
    return requests.post(
        f"{emu.base_url}/common/oauth2/v2.0/token",
        verify=emu.ca_path,
        data={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "grant_type": "refresh_token",
            "refresh_token": rt,
            "scope": scope,
            "client_info": "1",
        },
    )


def test_refresh_rotates_and_old_token_stays_valid_like_entra(emu, tenant):
    first = login(emu, "alex@contoso.example")
    r = _refresh(emu, first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert Graph(emu, token=second["access_token"]).get("/me").status_code == 200
    assert _refresh(emu, first["refresh_token"]).status_code == 200
    wider = _refresh(emu, second["refresh_token"], "Mail.Send")
    assert wider.status_code == 400 and "AADSTS65001" in wider.json()["error_description"]


def test_single_use_refresh_tokens_on_demand(emu, tenant):
    tenant.update_settings(single_use_refresh_tokens=True)
    try:
        first = login(emu, "alex@contoso.example")
        assert _refresh(emu, first["refresh_token"]).status_code == 200
        reused = _refresh(emu, first["refresh_token"])
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    finally:
        tenant.update_settings(single_use_refresh_tokens=False)


def test_revoked_refresh_token_and_expired_access_token(emu, tenant):
    tokens = login(emu, "alex@contoso.example")
    g = Graph(emu, token=tokens["access_token"])
    assert g.get("/me").status_code == 200
    tenant.expire_access_tokens("alex@contoso.example")
    err = assert_graph_error(g.get("/me"), 401, "InvalidAuthenticationToken")
    assert "expired" in err["message"]
    tenant.revoke_refresh_tokens("alex@contoso.example")
    r = _refresh(emu, tokens["refresh_token"])
    assert r.status_code == 400 and "AADSTS50173" in r.json()["error_description"]


def test_graph_rejects_missing_and_unknown_tokens(emu, tenant):
    resp = Graph(emu).get("/me")
    assert_graph_error(resp, 401, "InvalidAuthenticationToken")
    assert "WWW-Authenticate" in resp.headers
    assert_graph_error(Graph(emu, token="a.b.c").get("/me/events"), 401, "InvalidAuthenticationToken")


def test_scopes_must_cover_the_call(emu, tenant):
    token = login(emu, "alex@contoso.example", scopes=["Calendars.Read"])["access_token"]
    g = Graph(emu, token=token)
    assert g.get("/me/events").status_code == 200
    assert_graph_error(g.post("/me/events", json={"subject": "x"}), 403, "ErrorAccessDenied")
    assert_graph_error(g.get("/me"), 403, "Authorization_RequestDenied")
    assert_graph_error(g.get("/me/outlook/masterCategories"), 403, "ErrorAccessDenied")
    # Another user's mailbox needs the .Shared scopes.
    assert_graph_error(g.get("/users/sam@contoso.example/events"), 403, "ErrorAccessDenied")


def test_token_endpoint_rejects_unknown_grant_and_client(emu, tenant):
    r = requests.post(
        f"{emu.base_url}/common/oauth2/v2.0/token",
        verify=emu.ca_path,
        data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "password"},
    )
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = requests.post(
        f"{emu.base_url}/common/oauth2/v2.0/token",
        verify=emu.ca_path,
        data={"client_id": "ghost", "client_secret": "x", "grant_type": "authorization_code", "code": "x"},
    )
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"


def test_form_post_response_mode_and_context_manager(tmp_path):
    from graph_emulator import GraphEmulator

    with GraphEmulator(data_dir=str(tmp_path), browser_http=False) as emu:
        assert emu.authority_url("common") == emu.base_url + "/common"
        doc = requests.get(emu.base_url + "/common/v2.0/.well-known/openid-configuration", verify=emu.ca_path).json()
        assert doc["authorization_endpoint"].startswith(emu.base_url)  # browser_http=False keeps https
        emu.state.add_user("zoe@contoso.example", "Zoe")
        emu.state.register_app("c", "s", ["https://app.example/cb"], allow_any_localhost_redirect=False)
        _, challenge = pkce()
        r = requests.post(
            emu.base_url + "/common/oauth2/v2.0/authorize",
            verify=emu.ca_path,
            data={
                "client_id": "c",
                "response_type": "code",
                "redirect_uri": "https://app.example/cb",
                "scope": "User.Read openid",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "state": "xyz",
                "response_mode": "form_post",
                "login": "zoe@contoso.example",
                "consent": "accept",
            },
        )
        assert r.status_code == 200 and 'action="https://app.example/cb"' in r.text
        assert 'name="state" value="xyz"' in r.text and 'name="code"' in r.text
