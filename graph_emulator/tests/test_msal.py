"""MSAL Python, unchanged, against the emulator (GRAPH_FACTS §7)."""

import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import msal
import pytest
import requests

from graph_emulator.testing import CLIENT_ID, CLIENT_SECRET, REDIRECT, Graph

SCOPES = ["Calendars.ReadWrite", "User.Read", "MailboxSettings.Read"]


@pytest.fixture(autouse=True)
def _no_ca_bundle_env(monkeypatch):
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override Session.verify, which is how msal
    # applies verify=; clear them so verify=emu.ca_path is what counts (see README, TLS trust).
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def _app(emu, cache, tenant="common", **kw):
    kw.setdefault("verify", emu.ca_path)
    return msal.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential=CLIENT_SECRET,
        authority=emu.authority_url(tenant),
        token_cache=cache,
        instance_discovery=False,
        **kw,
    )


def _browser(emu, auth_uri, upn):
    """What a user does in the browser: open the consent page, pick the account, accept."""
    page = requests.get(auth_uri)  # plain HTTP listener: no CA needed in the browser
    assert page.status_code == 200 and auth_uri.startswith("http://")
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    form = {k: v.replace("&amp;", "&") for k, v in form.items()}
    form.update(login=upn, consent="accept")
    redirect = requests.post(auth_uri.split("?")[0], data=form, allow_redirects=False)
    assert redirect.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(redirect.headers["Location"]).query).items()}


def test_msal_auth_code_flow_and_silent_refresh(emu, tenant):
    cache = msal.SerializableTokenCache()
    app = _app(emu, cache, tenant.tenant_id)
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT, login_hint="kim@contoso.example")
    assert flow["auth_uri"].startswith(emu.http_base_url)
    callback = _browser(emu, flow["auth_uri"], "kim@contoso.example")
    result = app.acquire_token_by_auth_code_flow(flow, callback)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == "kim@contoso.example"
    kim = tenant.find_mailbox("kim@contoso.example")
    accounts = app.get_accounts()
    assert accounts and accounts[0]["home_account_id"] == f"{kim.id}.{tenant.tenant_id}"
    me = Graph(emu, token=result["access_token"]).get("/me").json()
    assert me["userPrincipalName"] == "kim@contoso.example"

    # Silent call with a valid cached token: no network, same token.
    again = app.acquire_token_silent(SCOPES, account=accounts[0])
    assert again["access_token"] == result["access_token"]

    # Expire the token server-side, and in the persisted cache the way time would.
    tenant.expire_access_tokens("kim@contoso.example")
    assert Graph(emu, token=result["access_token"]).get("/me").status_code == 401
    data = json.loads(cache.serialize())
    for entry in data["AccessToken"].values():
        entry["expires_on"] = str(int(time.time()) - 10)
    cache2 = msal.SerializableTokenCache()
    cache2.deserialize(json.dumps(data))
    app2 = _app(emu, cache2, tenant.tenant_id)
    refreshed = app2.acquire_token_silent(SCOPES, account=app2.get_accounts()[0])
    assert refreshed and refreshed["access_token"] != result["access_token"], refreshed
    assert refreshed.get("token_source") in (None, "identity_provider")
    assert Graph(emu, token=refreshed["access_token"]).get("/me").status_code == 200
    assert cache2.has_state_changed

    # After revocation, silent acquisition fails and returns the AADSTS error.
    tenant.revoke_refresh_tokens("kim@contoso.example")
    data = json.loads(cache2.serialize())
    for entry in data["AccessToken"].values():
        entry["expires_on"] = str(int(time.time()) - 10)
    cache3 = msal.SerializableTokenCache()
    cache3.deserialize(json.dumps(data))
    app3 = _app(emu, cache3, tenant.tenant_id)
    failed = app3.acquire_token_silent_with_error(SCOPES, account=app3.get_accounts()[0])
    assert failed and failed.get("error") == "invalid_grant"
    assert app3.acquire_token_silent(SCOPES, account=app3.get_accounts()[0]) is None


def test_msal_common_authority_and_state_mismatch(emu, tenant):
    # Also shows the http_client= route, which is immune to CA-bundle environment variables.
    app = _app(emu, msal.SerializableTokenCache(), http_client=emu.http_session(), verify=True)
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    callback = _browser(emu, flow["auth_uri"], "sam@contoso.example")
    bad = dict(callback, state="tampered")
    try:
        app.acquire_token_by_auth_code_flow(flow, bad)
        raise AssertionError("msal accepted a wrong state")
    except ValueError:
        pass
    result = app.acquire_token_by_auth_code_flow(flow, callback)
    assert result["id_token_claims"]["preferred_username"] == "sam@contoso.example"


def test_msal_reports_authorize_error(emu, tenant):
    app = _app(emu, msal.SerializableTokenCache())
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    page = requests.get(flow["auth_uri"])
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    form.update(login="sam@contoso.example", consent="cancel")
    r = requests.post(flow["auth_uri"].split("?")[0], data=form, allow_redirects=False)
    callback = {k: v[0] for k, v in parse_qs(urlsplit(r.headers["Location"]).query).items()}
    result = app.acquire_token_by_auth_code_flow(flow, callback)
    assert result["error"] == "access_denied"


def test_short_token_lifetime_makes_msal_refresh_by_itself(emu, tenant):
    # msal treats tokens expiring within 5 minutes as expired (application.py), so a
    # 200-second lifetime makes every acquire_token_silent go to the token endpoint.
    tenant.update_settings(access_token_lifetime=200)
    app = _app(emu, msal.SerializableTokenCache())
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    first = app.acquire_token_by_auth_code_flow(flow, _browser(emu, flow["auth_uri"], "alex@contoso.example"))
    tenant.clear_requests()
    second = app.acquire_token_silent(SCOPES, account=app.get_accounts()[0])
    assert second["access_token"] != first["access_token"]
    assert tenant.request_stats()["byEndpoint"]["POST /{tenant}/oauth2/v2.0/token"] == 1
    assert Graph(emu, token=second["access_token"]).get("/me").status_code == 200
