"""Application permissions (client credentials, app-only access): admin consent, the token endpoint driven by
msal itself (secret and certificate), Graph with an app-only token (roles, /me, RBAC for Applications scope,
cross-mailbox $batch, subscriptions), and the control API."""

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import msal
import pytest
import requests

from graph_emulator import GraphEmulator
from graph_emulator.graph import ME_APP_ONLY, OUT_OF_SCOPE
from graph_emulator.testing import (
    CLIENT_ID,
    Graph,
    Webhook,
    app_token,
    assert_graph_error,
    certificate_thumbprint,
    client_assertion,
    event_payload,
    login,
    make_certificate,
    request_app_token,
)

ORG_APP, ORG_SECRET = "org-app", "org-secret"
PERMS = ("Calendars.ReadWrite", "User.Read.All", "MailboxSettings.Read")
GRAPH_DEFAULT = ["https://graph.microsoft.com/.default"]
CONSENT_REDIRECT = "http://localhost:8069/microsoft_outlook/admin_consent"


@pytest.fixture(scope="module")
def cert():
    return make_certificate("org-app")


@pytest.fixture
def org(tenant, cert):
    """The tenant with an org-wide app (secret + certificate, three application permissions requested, nothing
    granted) and alex as tenant administrator."""
    tenant.register_app(
        ORG_APP,
        ORG_SECRET,
        [CONSENT_REDIRECT],
        allow_any_localhost_redirect=False,
        display_name="Org sync",
        certificates=[cert[0]],
        application_permissions=PERMS,
    )
    tenant.set_admin("alex@contoso.example")
    return tenant


def _claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _msal(emu, credential, client_id=ORG_APP):
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=credential,
        authority=emu.authority_url(emu.state.tenant_id),
        http_client=emu.http_session(),
        instance_discovery=False,
    )


def _org_graph(emu, org, scope=None):
    org.grant_admin_consent(ORG_APP)
    if scope is not None:
        org.set_app_mailbox_scope(ORG_APP, scope)
    return Graph(emu, token=app_token(emu, ORG_APP, ORG_SECRET))


# ------------------------------------------------------------------ token endpoint (through msal)


def test_msal_secret_grant_without_consent_has_no_roles_and_graph_refuses(emu, org):
    result = _msal(emu, ORG_SECRET).acquire_token_for_client(GRAPH_DEFAULT)
    assert "access_token" in result, result
    assert "refresh_token" not in result and "id_token" not in result
    assert result["expires_in"] > 3000
    claims = _claims(result["access_token"])
    assert claims["idtyp"] == "app" and claims["appid"] == ORG_APP and claims["appidacr"] == "1"
    assert claims["tid"] == org.tenant_id and claims["oid"] == org.apps[ORG_APP].service_principal_id
    assert "roles" not in claims and "scp" not in claims and "upn" not in claims
    g = Graph(emu, token=result["access_token"])
    assert_graph_error(g.get("/users/alex@contoso.example/events"), 403, "ErrorAccessDenied")
    err = assert_graph_error(g.get("/users/alex@contoso.example"), 403, "Authorization_RequestDenied")
    assert err["message"] == "Insufficient privileges to complete the operation."

    org.grant_admin_consent(ORG_APP)
    # The old token keeps its (absent) roles; a new one carries the granted ones.
    assert g.get("/users/alex@contoso.example/events").status_code == 403
    result = _msal(emu, ORG_SECRET).acquire_token_for_client(GRAPH_DEFAULT)
    assert sorted(_claims(result["access_token"])["roles"]) == sorted(PERMS)
    g = Graph(emu, token=result["access_token"])
    assert g.get("/users/alex@contoso.example/events").status_code == 200
    assert g.get("/users/sam@contoso.example").json()["userPrincipalName"] == "sam@contoso.example"


@pytest.mark.parametrize("form", ["thumbprint", "public_certificate"])
def test_msal_certificate_grant(emu, org, cert, form):
    cert_pem, key_pem = cert
    org.grant_admin_consent(ORG_APP)
    if form == "thumbprint":  # msal: RS256 with x5t (SHA-1)
        credential = {"private_key": key_pem, "thumbprint": certificate_thumbprint(cert_pem)}
    else:  # msal 1.39: PS256 with x5t#S256 and x5c
        credential = {"private_key": key_pem, "public_certificate": cert_pem}
    result = _msal(emu, credential).acquire_token_for_client(GRAPH_DEFAULT)
    assert "access_token" in result, result
    claims = _claims(result["access_token"])
    assert claims["appidacr"] == "2" and sorted(claims["roles"]) == sorted(PERMS)
    assert (
        Graph(emu, token=result["access_token"])
        .get(
            "/users/kim@contoso.example/calendarView/delta",
            params={
                "startDateTime": "2030-01-01T00:00:00Z",
                "endDateTime": "2030-02-01T00:00:00Z",
            },
        )
        .status_code
        == 200
    )
    assert org.token_request_count(client_id=ORG_APP, grant_type="client_credentials") == 1


def test_wrong_secret_and_wrong_certificate(emu, org, cert):
    result = _msal(emu, "not-the-secret").acquire_token_for_client(GRAPH_DEFAULT)
    assert result["error"] == "invalid_client" and result["error_codes"] == [7000215]
    other_cert, other_key = make_certificate("stranger")
    result = _msal(
        emu, {"private_key": other_key, "thumbprint": certificate_thumbprint(other_cert)}
    ).acquire_token_for_client(GRAPH_DEFAULT)
    assert result["error"] == "invalid_client" and result["error_codes"] == [700027]
    assert "not registered on application" in result["error_description"]
    # The registered certificate's thumbprint, signed with another key: invalid signature.
    result = _msal(
        emu, {"private_key": other_key, "thumbprint": certificate_thumbprint(cert[0])}
    ).acquire_token_for_client(GRAPH_DEFAULT)
    assert result["error_codes"] == [700027] and "invalid signature" in result["error_description"]

    endpoint = f"{emu.base_url}/{org.tenant_id}/oauth2/v2.0/token"

    def post(assertion):
        return requests.post(
            endpoint,
            verify=emu.ca_path,
            data={
                "client_id": ORG_APP,
                "grant_type": "client_credentials",
                "scope": GRAPH_DEFAULT[0],
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
            },
        )

    r = post(client_assertion("https://elsewhere.example/token", ORG_APP, cert[1], cert[0]))
    assert r.status_code == 401 and r.json()["error_codes"] == [50027]
    r = post(client_assertion(endpoint, ORG_APP, cert[1], cert[0], exp=1_000_000_000))
    assert r.status_code == 401 and r.json()["error_codes"] == [700024]
    assert "not within its valid time range" in r.json()["error_description"]
    r = post(client_assertion(endpoint, ORG_APP, cert[1], cert[0], sub="someone-else"))
    assert r.status_code == 401 and r.json()["error_codes"] == [50048]
    assert post(client_assertion(endpoint, ORG_APP, cert[1], cert[0])).status_code == 200
    # Neither a secret nor an assertion.
    r = requests.post(
        endpoint, verify=emu.ca_path, data={"client_id": ORG_APP, "grant_type": "client_credentials", "scope": "x"}
    )
    assert r.json()["error"] == "invalid_client" and r.json()["error_codes"] == [7000218]


def test_invalid_scope_and_accepted_resources(emu, org):
    result = _msal(emu, ORG_SECRET).acquire_token_for_client(["https://graph.microsoft.com/User.Read.All"])
    assert result["error"] == "invalid_scope" and result["error_codes"] == [1002012]
    assert result["error_description"].startswith(
        "AADSTS1002012: The provided value for scope https://graph.microsoft.com/User.Read.All is not valid. "
        "Client credential flows must have a scope value with /.default suffixed to the resource identifier"
    )
    for scope in ("Calendars.Read", "openid https://graph.microsoft.com/.default"):
        r = request_app_token(emu, ORG_APP, ORG_SECRET, scope=scope)
        assert r.status_code == 400 and r.json()["error"] == "invalid_scope", r.text
    for scope in (
        f"{emu.graph_url}/.default",
        f"{emu.base_url}/.default",
        "00000003-0000-0000-c000-000000000000/.default",
    ):
        r = request_app_token(emu, ORG_APP, ORG_SECRET, scope=scope)
        assert r.status_code == 200, r.text
        assert set(r.json()) == {"token_type", "expires_in", "ext_expires_in", "access_token"}


# ------------------------------------------------------------------ admin consent


def _consent_form(page):
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    return {k: v.replace("&amp;", "&").replace("&quot;", '"').replace("&#x27;", "'") for k, v in form.items()}


def test_admin_consent_page_non_admin_cancel_accept(emu, org):
    url = f"{emu.http_base_url}/{org.tenant_id}/adminconsent"  # plain HTTP: a browser without the CA
    params = {"client_id": ORG_APP, "redirect_uri": CONSENT_REDIRECT, "state": "xyz"}
    page = requests.get(url, params=params)
    assert page.status_code == 200
    assert 'name="login"' in page.text and 'id="accept"' in page.text and 'id="cancel"' in page.text
    for perm in PERMS:
        assert perm in page.text
    form = _consent_form(page)

    r = requests.post(url, data=dict(form, login="sam@contoso.example", consent="accept"), allow_redirects=False)
    assert r.status_code == 200 and "AADSTS90094" in r.text and 'id="accept"' in r.text
    assert "needs permission to access resources in your organization that only an admin can grant" in r.text
    assert org.apps[ORG_APP].granted_roles == []

    r = requests.post(url, data=dict(form, login="alex@contoso.example", consent="cancel"), allow_redirects=False)
    assert r.status_code == 302
    q = parse_qs(urlsplit(r.headers["Location"]).query)
    assert r.headers["Location"].startswith(CONSENT_REDIRECT)
    assert q["error"] == ["access_denied"] and q["state"] == ["xyz"] and "error_description" in q
    assert org.apps[ORG_APP].granted_roles == []

    r = requests.post(url, data=dict(form, login="alex@contoso.example", consent="accept"), allow_redirects=False)
    assert r.status_code == 302
    q = parse_qs(urlsplit(r.headers["Location"]).query)
    assert q == {"admin_consent": ["True"], "tenant": [org.tenant_id], "state": ["xyz"]}
    assert sorted(org.apps[ORG_APP].granted_roles) == sorted(PERMS)


def test_admin_consent_v2_endpoint_and_errors(emu, org):
    url = f"{emu.base_url}/organizations/v2.0/adminconsent"
    params = {
        "client_id": ORG_APP,
        "redirect_uri": CONSENT_REDIRECT,
        "state": "s1",
        "scope": "https://graph.microsoft.com/.default",
    }
    page = requests.get(url, params=params, verify=emu.ca_path)
    form = dict(_consent_form(page), login="alex@contoso.example", consent="accept")
    r = requests.post(url, data=form, allow_redirects=False, verify=emu.ca_path)
    q = parse_qs(urlsplit(r.headers["Location"]).query)
    assert q["admin_consent"] == ["True"] and q["scope"] == ["https://graph.microsoft.com/.default"]
    assert q["tenant"] == [org.tenant_id] and q["state"] == ["s1"]
    assert org.apps[ORG_APP].granted_roles

    r = requests.get(url, params=dict(params, client_id="ghost"), allow_redirects=False, verify=emu.ca_path)
    assert r.status_code == 400 and "AADSTS700016" in r.text and "Location" not in r.headers
    r = requests.get(
        url, params=dict(params, redirect_uri="https://evil.example/cb"), allow_redirects=False, verify=emu.ca_path
    )
    assert r.status_code == 400 and "AADSTS50011" in r.text and "Location" not in r.headers


# ------------------------------------------------------------------ Graph with an app-only token


def test_me_is_refused_and_roles_are_checked_per_endpoint(emu, org):
    g = _org_graph(emu, org)
    err = assert_graph_error(g.get("/me/events"), 400, "BadRequest")
    assert err["message"] == ME_APP_ONLY
    assert_graph_error(g.get("/me"), 400, "BadRequest")
    assert g.get("/users/alex@contoso.example/mailboxSettings").json()["timeZone"] == "Europe/London"
    sam = org.find_mailbox("sam@contoso.example")
    r = g.post(f"/users/{sam.id}/events", json=event_payload("App-made"))
    assert r.status_code == 201, r.text
    assert org.find_events("sam@contoso.example", subject="App-made")
    # Calendars.Read only: reads work, writes are refused; no MailboxSettings role.
    org.register_app("reader", "r", application_permissions=["Calendars.Read"])
    org.grant_admin_consent("reader")
    reader = Graph(emu, token=app_token(emu, "reader", "r"))
    assert reader.get(f"/users/{sam.id}/events").status_code == 200
    err = assert_graph_error(reader.post(f"/users/{sam.id}/events", json=event_payload()), 403, "ErrorAccessDenied")
    assert err["message"] == "Access is denied. Check credentials and try again."
    assert_graph_error(reader.get(f"/users/{sam.id}/mailboxSettings"), 403, "ErrorAccessDenied")
    assert_graph_error(reader.get(f"/users/{sam.id}"), 403, "Authorization_RequestDenied")


def test_rbac_scope_and_cross_mailbox_batch(emu, org):
    g = _org_graph(emu, org, scope=["alex@contoso.example", "kim@contoso.example"])
    err = assert_graph_error(g.get("/users/sam@contoso.example/events"), 403, "ErrorAccessDenied")
    assert err["message"] == OUT_OF_SCOPE
    org.clear_requests()
    body = {
        "requests": [
            {
                "id": "1",
                "method": "POST",
                "url": "/users/alex@contoso.example/events",
                "headers": {"Content-Type": "application/json"},
                "body": event_payload("For Alex", transactionId="tx-1"),
            },
            {
                "id": "2",
                "method": "POST",
                "url": "/users/sam@contoso.example/events",
                "headers": {"Content-Type": "application/json"},
                "body": event_payload("For Sam"),
            },
            {
                "id": "3",
                "method": "POST",
                "url": f"/users/{org.find_mailbox('kim@contoso.example').id}/events",
                "headers": {"Content-Type": "application/json"},
                "body": event_payload("For Kim", transactionId="tx-1"),
            },
            {
                "id": "4",
                "method": "POST",
                "url": "/users/alex@contoso.example/events",
                "headers": {"Content-Type": "application/json"},
                "body": event_payload("Alex again", transactionId="tx-1"),
            },
        ]
    }
    r = g.post("/$batch", json=body)
    assert r.status_code == 200
    by_id = {x["id"]: x for x in r.json()["responses"]}
    assert by_id["1"]["status"] == 201 and by_id["3"]["status"] == 201
    assert by_id["2"]["status"] == 403 and by_id["2"]["body"]["error"]["message"] == OUT_OF_SCOPE
    # transactionId duplicates are per mailbox, as with delegated tokens.
    assert by_id["4"]["status"] == 400 and by_id["4"]["body"]["error"]["code"] == "ErrorDuplicateTransactionId"
    assert not org.find_events("sam@contoso.example", subject="For Sam")
    stats = org.request_stats()
    assert stats["byMailbox"] == {"alex@contoso.example": 2, "sam@contoso.example": 1, "kim@contoso.example": 1}
    items = [x for x in stats["requests"] if x["inBatch"]]
    assert {x["clientId"] for x in items} == {ORG_APP} and not any(x["actAs"] for x in items)


def test_faults_and_limits_apply_per_target_mailbox(emu, org):
    g = _org_graph(emu, org)
    org.add_fault(kind="status", status=429, mailbox="sam@contoso.example", count=1, retry_after=3)
    body = {
        "requests": [
            {"id": "a", "method": "GET", "url": "/users/alex@contoso.example/events"},
            {"id": "s", "method": "GET", "url": "/users/sam@contoso.example/events"},
            {"id": "k", "method": "GET", "url": "/users/kim@contoso.example/events"},
        ]
    }
    out = {x["id"]: x for x in g.post("/$batch", json=body).json()["responses"]}
    assert out["a"]["status"] == 200 and out["k"]["status"] == 200
    assert out["s"]["status"] == 429 and out["s"]["headers"]["Retry-After"] == "3"
    # The per-(app, mailbox) budget: Sam's mailbox is exhausted, Alex's is not.
    org.update_settings(mailbox_budget=2)
    for _ in range(2):
        assert g.get("/users/sam@contoso.example/events").status_code in (200, 429)
    assert_graph_error(g.get("/users/sam@contoso.example/events"), 429, "ApplicationThrottled")
    assert g.get("/users/alex@contoso.example/events").status_code == 200
    # A mailbox-narrowed drop rule hits an app batch that addresses that mailbox.
    org.update_settings(mailbox_budget=10000)
    org.add_fault(kind="drop", mailbox="kim@contoso.example", count=1)
    with pytest.raises(requests.ConnectionError):
        g.post("/$batch", json={"requests": [body["requests"][2]]})
    assert g.post("/$batch", json={"requests": [body["requests"][2]]}).status_code == 200


def _iso(minutes):
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def test_app_subscriptions_in_several_mailboxes_notify(emu, org, outlook):
    g = _org_graph(emu, org, scope=["alex@contoso.example", "kim@contoso.example"])
    hook = Webhook()
    try:
        kim = org.find_mailbox("kim@contoso.example")

        def sub(resource, **extra):
            payload = {
                "changeType": "created,updated,deleted",
                "notificationUrl": hook.url,
                "lifecycleNotificationUrl": hook.url,
                "resource": resource,
                "expirationDateTime": _iso(600),
                "clientState": "org",
            }
            return g.post("/subscriptions", json=payload, **extra)

        r1 = sub(f"users/{kim.id}/events")
        assert r1.status_code == 201, r1.text
        r2 = sub("users/alex@contoso.example/events", headers={"Prefer": 'IdType="ImmutableId"'})
        assert r2.status_code == 201, r2.text
        assert r1.json()["applicationId"] == ORG_APP
        assert r1.json()["creatorId"] == org.apps[ORG_APP].service_principal_id
        err = assert_graph_error(sub("users/sam@contoso.example/events"), 403, "ExtensionError")
        assert OUT_OF_SCOPE in err["message"]
        assert_graph_error(sub("me/events"), 400, "BadRequest")
        listed = {s["id"] for s in g.get("/subscriptions").json()["value"]}
        assert listed == {r1.json()["id"], r2.json()["id"]}
        # A delegated token of another app does not see them.
        alex = Graph(emu, token=login(emu, "alex@contoso.example")["access_token"])
        assert alex.get("/subscriptions").json()["value"] == []
        assert_graph_error(alex.get(f"/subscriptions/{r1.json()['id']}"), 404)

        created = outlook("kim@contoso.example").post("/me/events", json=event_payload("Kim's own")).json()
        outlook("alex@contoso.example").post("/me/events", json=event_payload("Alex's own"))
        assert emu.wait_for_notifications(10)
        notes = hook.notifications()
        kim_notes = [n for n in notes if n["subscriptionId"] == r1.json()["id"]]
        alex_notes = [n for n in notes if n["subscriptionId"] == r2.json()["id"]]
        assert kim_notes and kim_notes[0]["resourceData"]["id"] == created["id"]
        assert kim_notes[0]["clientState"] == "org" and kim_notes[0]["tenantId"] == org.tenant_id
        assert alex_notes and alex_notes[0]["resourceData"]["id"] != alex_notes[0]["resource"]  # immutable form
        org.trigger_lifecycle(r1.json()["id"], "reauthorizationRequired")
        assert emu.wait_for_notifications(10)
        assert any(n.get("lifecycleEvent") == "reauthorizationRequired" for n in hook.notifications())

        # Each subscription request counts against the mailbox it acts on, as a request to that mailbox
        # would: a fault (or limit) on Kim's mailbox does not touch Alex's subscription.
        org.clear_requests()
        org.add_fault(status=503, mailbox="kim@contoso.example", method="PATCH", count=1)
        refused = g.patch(f"/subscriptions/{r1.json()['id']}", json={"expirationDateTime": _iso(900)})
        assert refused.status_code == 503
        assert g.patch(f"/subscriptions/{r2.json()['id']}", json={"expirationDateTime": _iso(900)}).status_code == 200
        logged = {r["mailbox"] for r in org.request_stats()["requests"] if r["method"] == "PATCH"}
        assert logged == {"kim@contoso.example", "alex@contoso.example"}
        renewed = g.patch(f"/subscriptions/{r1.json()['id']}", json={"expirationDateTime": _iso(900)})
        assert renewed.status_code == 200, renewed.text
        assert g.delete(f"/subscriptions/{r1.json()['id']}").status_code == 204
        assert {s["id"] for s in g.get("/subscriptions").json()["value"]} == {r2.json()["id"]}
    finally:
        hook.close()


def test_delegated_flows_unchanged_beside_app_tokens(emu, org):
    g = _org_graph(emu, org)
    alex = Graph(emu, token=login(emu, "alex@contoso.example")["access_token"])
    assert alex.get("/me").json()["userPrincipalName"] == "alex@contoso.example"
    assert alex.post("/me/events", json=event_payload("Delegated")).status_code == 201
    assert_graph_error(alex.get("/users/sam@contoso.example/events"), 403, "ErrorAccessDenied")
    assert g.get("/users/alex@contoso.example/events").json()["value"][0]["subject"] == "Delegated"
    assert org.token_request_count(client_id=CLIENT_ID, grant_type="authorization_code") == 1
    assert org.token_request_count(client_id=ORG_APP, grant_type="client_credentials") == 1


# ------------------------------------------------------------------ control API and persistence


def test_control_api(emu, tenant, cert):
    def ctl(method, path, **kw):
        return requests.request(method, f"{emu.base_url}/_emulator{path}", verify=emu.ca_path, **kw)

    r = ctl(
        "POST",
        "/apps",
        json={
            "client_id": "ctl-app",
            "secret": None,
            "certificates": [cert[0]],
            "application_permissions": ["Calendars.Read"],
        },
    )
    assert r.status_code == 201 and r.json()["granted_roles"] == [] and not r.json()["has_secret"]
    assert r.json()["certificate_thumbprints"] == [certificate_thumbprint(cert[0])]
    assert ctl("POST", "/apps/ctl-app/admin-consent").json() == {"granted": ["Calendars.Read"]}
    assert ctl("PUT", "/apps/ctl-app/mailbox-scope", json={"upns": ["kim@contoso.example"]}).status_code == 200
    assert ctl("GET", "/apps/ctl-app").json()["mailbox_scope"] == ["kim@contoso.example"]
    token = app_token(emu, "ctl-app", private_key_pem=cert[1], certificate_pem=cert[0])
    g = Graph(emu, token=token)
    assert g.get("/users/kim@contoso.example/events").status_code == 200
    assert_graph_error(g.get("/users/alex@contoso.example/events"), 403, "ErrorAccessDenied")
    # A certificate-only app has no secret to authenticate with.
    assert request_app_token(emu, "ctl-app", "anything").status_code == 401
    assert ctl("DELETE", "/apps/ctl-app/mailbox-scope").status_code == 204
    assert ctl("DELETE", "/apps/ctl-app/admin-consent").status_code == 204
    assert ctl("GET", "/apps/ctl-app").json()["granted_roles"] == []
    r = ctl("PATCH", "/users/sam@contoso.example", json={"admin": True})
    assert r.json()["isAdmin"] is True and tenant.find_mailbox("sam@contoso.example").admin
    r = ctl("POST", "/users", json={"upn": "boss@contoso.example", "admin": True})
    assert r.status_code == 201 and r.json()["isAdmin"] is True


def test_persisted_across_restart_and_reset(tmp_path, cert):
    with GraphEmulator(data_dir=str(tmp_path), persist_interval=60) as emu:
        emu.state.add_user("ann@contoso.example", admin=True)
        emu.state.register_app("p", "s", certificates=[cert[0]], application_permissions=PERMS)
        emu.state.grant_admin_consent("p")
        emu.state.set_app_mailbox_scope("p", ["ann@contoso.example"])
        sp = emu.state.apps["p"].service_principal_id
        token = app_token(emu, "p", "s")
    with GraphEmulator(data_dir=str(tmp_path)) as emu:
        assert emu.restored
        app = emu.state.apps["p"]
        assert app.granted_roles == list(PERMS) and app.mailbox_scope == ["ann@contoso.example"]
        assert app.service_principal_id == sp and app.certificates == [cert[0].strip() + "\n"]
        assert emu.state.find_mailbox("ann@contoso.example").admin
        assert Graph(emu, token=token).get("/users/ann@contoso.example/events").status_code == 200
        emu.state.reset()
        assert emu.state.apps == {} and emu.state.token_request_count() == 0
