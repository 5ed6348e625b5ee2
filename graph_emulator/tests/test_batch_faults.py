"""$batch, injected faults, Graph's Outlook limits and the control/inspection API."""

import threading
import time

import pytest
import requests

from graph_emulator.testing import UNKNOWN_ID, assert_graph_error, event_payload


def _batch(g, requests_):
    return g.post("/$batch", json={"requests": requests_})


def test_batch_runs_items_with_dependencies(alex):
    body = {
        "subject": "B",
        "start": {"dateTime": "2030-03-04T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2030-03-04T11:00:00", "timeZone": "UTC"},
    }
    r = _batch(
        alex,
        [
            {
                "id": "1",
                "method": "POST",
                "url": "/me/events",
                "body": body,
                "headers": {"Content-Type": "application/json"},
            },
            {"id": "2", "method": "GET", "url": "/me", "dependsOn": ["1"]},
            {"id": "3", "method": "GET", "url": "/me/events/" + UNKNOWN_ID},
            {"id": "4", "method": "GET", "url": "me/mailboxSettings", "dependsOn": ["3"]},
            {
                "id": "5",
                "method": "GET",
                "url": "/me/events",
                "headers": {"Prefer": 'outlook.timezone="Pacific Standard Time"'},
            },
        ],
    )
    assert r.status_code == 200
    res = {x["id"]: x for x in r.json()["responses"]}
    assert res["1"]["status"] == 201 and res["1"]["body"]["subject"] == "B"
    assert res["2"]["status"] == 200 and res["2"]["body"]["userPrincipalName"] == "alex@contoso.example"
    assert res["3"]["status"] == 404 and res["3"]["body"]["error"]["code"] == "ErrorItemNotFound"
    assert res["4"]["status"] == 424
    assert res["5"]["body"]["value"][0]["start"]["timeZone"] == "Pacific Standard Time"
    assert "Preference-Applied" in res["5"]["headers"]


@pytest.mark.parametrize(
    "items,fragment",
    [
        ([{"id": str(i), "method": "GET", "url": "/me"} for i in range(21)], "limit of 20"),
        ([{"id": "1", "method": "GET", "url": "/me"}, {"id": "1", "method": "GET", "url": "/me"}], "duplicated"),
        ([{"id": "1", "method": "POST", "url": "/me/events", "body": {"subject": "x"}}], "Content-Type"),
        ([{"id": "1", "method": "GET", "url": "/me", "dependsOn": ["9"]}], "depends on"),
    ],
)
def test_batch_validation(alex, items, fragment):
    err = assert_graph_error(_batch(alex, items), 400)
    assert fragment in err["message"]


def test_batch_items_are_throttled_individually(alex, tenant):
    tenant.add_fault(kind="status", status=429, count=2, retry_after=3, mailbox="alex@contoso.example")
    r = _batch(alex, [{"id": str(i), "method": "GET", "url": "/me/events"} for i in range(4)])
    statuses = [x["status"] for x in r.json()["responses"]]
    assert r.status_code == 200 and statuses == [429, 429, 200, 200]
    assert r.json()["responses"][0]["headers"]["Retry-After"] == "3"


def test_status_faults_per_mailbox(alex, sam, tenant):
    tenant.add_fault(kind="status", status=503, count=1, retry_after=2, mailbox="alex@contoso.example")
    tenant.add_fault(kind="status", status=504, count=1, mailbox="alex@contoso.example", method="POST")
    assert sam.get("/me/events").status_code == 200
    r = alex.get("/me/events")
    assert_graph_error(r, 503, "ServiceUnavailable")
    assert r.headers["Retry-After"] == "2"
    assert alex.get("/me/events").status_code == 200
    assert_graph_error(alex.post("/me/events", json=event_payload()), 504, "GatewayTimeout")
    assert alex.post("/me/events", json=event_payload()).status_code == 201
    tenant.add_fault(kind="status", status=429, count=None, retry_after=1.5)
    r = alex.get("/me")
    assert_graph_error(r, 429, "TooManyRequests")
    assert r.headers["Retry-After"] == "1.5"
    tenant.add_fault(kind="status", status=412, count=1)
    tenant.clear_faults()
    assert alex.get("/me").status_code == 200
    tenant.add_fault(kind="status", status=412, count=1)
    assert_graph_error(alex.get("/me/events"), 412, "ErrorIrresolvableConflict")


def test_outlook_user_is_never_faulted(tenant, outlook):
    tenant.add_fault(kind="status", status=503, count=None)
    assert outlook("alex@contoso.example").get("/me/events").status_code == 200


def test_dropped_connection(emu, alex, tenant):
    tenant.add_fault(kind="drop", count=1, mailbox="alex@contoso.example")
    with pytest.raises(requests.ConnectionError):
        alex.get("/me/events")
    assert alex.get("/me/events").status_code == 200
    assert "dropped" in [r["status"] for r in tenant.request_stats()["requests"]]


def test_batch_is_one_round_trip_for_latency_and_drops(emu, alex, tenant):
    """A $batch is delayed once and dropped whole; its items are not delayed one by one."""
    tenant.add_fault(kind="latency", latency_ms=300, count=None, mailbox="alex@contoso.example")
    requests_ = [{"id": str(i), "method": "GET", "url": "/me/events"} for i in range(5)]
    started = time.monotonic()
    answer = alex.post("/$batch", json={"requests": requests_})
    elapsed = time.monotonic() - started
    assert answer.status_code == 200 and [r["status"] for r in answer.json()["responses"]] == [200] * 5
    assert 0.3 <= elapsed < 1.0, elapsed
    tenant.clear_faults()
    tenant.add_fault(kind="drop", count=1, mailbox="alex@contoso.example")
    with pytest.raises(requests.ConnectionError):
        alex.post("/$batch", json={"requests": requests_})
    assert alex.post("/$batch", json={"requests": requests_}).status_code == 200


def test_concurrency_limit_and_budget(emu, alex, tenant):
    tenant.add_fault(kind="latency", latency_ms=1000, count=None, mailbox="alex@contoso.example")
    results = []

    def call():
        results.append(alex.get("/me/events"))

    threads = [threading.Thread(target=call) for _ in range(7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 4 and codes.count(429) == 3
    throttled = next(r for r in results if r.status_code == 429)
    assert throttled.json()["error"]["code"] == "ApplicationThrottled" and "Retry-After" in throttled.headers
    tenant.clear_faults()
    tenant.update_settings(mailbox_budget=3, mailbox_budget_window=60)
    assert [alex.get("/me").status_code for _ in range(4)][-1] == 429


def test_latency_fault(alex, tenant):
    import time

    tenant.add_fault(kind="latency", latency_ms=300, count=1)
    t0 = time.time()
    alex.get("/me")
    assert time.time() - t0 >= 0.3


def test_request_log_counts(alex, tenant):
    tenant.clear_requests()
    ev = alex.post("/me/events", json=event_payload()).json()
    alex.get(f"/me/events/{ev['id']}")
    alex.get(f"/me/events/{ev['id']}")
    stats = tenant.request_stats()
    assert stats["byEndpoint"]["GET /v1.0/me/events/{id}"] == 2
    assert stats["byEndpoint"]["POST /v1.0/me/events"] == 1
    assert stats["byMailbox"] == {"alex@contoso.example": 3}


def test_control_api_over_http(emu, tenant, alex):
    base = emu.http_base_url + "/_emulator"
    r = requests.post(
        f"{base}/users", json={"upn": "lee@contoso.example", "displayName": "Lee", "timeZone": "Asia/Tokyo"}
    )
    assert r.status_code == 201 and r.json()["timeZone"] == "Asia/Tokyo"
    assert "lee@contoso.example" in [u["userPrincipalName"] for u in requests.get(f"{base}/users").json()["value"]]
    assert (
        requests.post(
            f"{base}/apps", json={"client_id": "c2", "secret": "s2", "redirect_uris": ["https://x/cb"]}
        ).status_code
        == 201
    )
    ev = requests.post(
        emu.graph_url + "/me/events",
        json=event_payload("Lee's", attendees=[{"emailAddress": {"address": "x@customer.example"}}]),
        headers={"X-Emulator-Act-As": "lee@contoso.example"},
        verify=emu.ca_path,
    ).json()
    raw = requests.get(f"{base}/mailboxes/lee@contoso.example/events").json()["value"]
    assert [e["id"] for e in raw] == [ev["id"]]
    inv = requests.get(f"{base}/invitations", params={"attendee": "x@customer.example"}).json()["value"]
    assert inv[0]["kind"] == "request" and inv[0]["internal"] is False
    assert requests.delete(f"{base}/invitations").status_code == 204
    f = requests.post(
        f"{base}/faults", json={"kind": "status", "status": 503, "count": 1, "mailbox": "alex@contoso.example"}
    )
    assert f.status_code == 201 and requests.get(f"{base}/faults").json()["value"][0]["status"] == 503
    assert requests.delete(f"{base}/faults").status_code == 204
    assert requests.post(f"{base}/faults", json={"kind": "explode"}).status_code == 400
    assert requests.get(f"{base}/requests").json()["total"] >= 1
    assert requests.post(f"{base}/tokens/expire", json={"upn": "alex@contoso.example"}).status_code == 200
    assert alex.get("/me").status_code == 401
    assert requests.post(f"{base}/delta/expire", json={"upn": "alex@contoso.example"}).status_code == 200
    assert requests.get(f"{base}/subscriptions").json() == {"value": []}
    assert requests.post(f"{base}/subscriptions/nope/lifecycle", json={"lifecycleEvent": "missed"}).status_code == 404
    s = requests.patch(f"{base}/settings", json={"strict_all_day": False}).json()
    assert s["strict_all_day"] is False
    assert requests.patch(f"{base}/settings", json={"nope": 1}).status_code == 400
    ext = requests.post(
        f"{base}/mailboxes/kim@contoso.example/external-invitations",
        json={
            "organizer": {"address": "jane.doe@customer.example", "name": "Jane"},
            "event": event_payload("From Jane"),
        },
    ).json()
    upd = requests.post(
        f"{base}/mailboxes/kim@contoso.example/events/{ext['id']}/external-update", json={"subject": "From Jane v2"}
    )
    assert upd.json()["subject"] == "From Jane v2"
    cancelled = requests.post(f"{base}/mailboxes/kim@contoso.example/events/{ext['id']}/external-cancel").json()
    assert cancelled["isCancelled"] and cancelled["subject"] == "Canceled: From Jane v2"
    assert requests.get(f"{base}/tenant").json()["tenantId"] == tenant.tenant_id
    assert requests.post(f"{base}/reset").status_code == 200
    assert requests.get(f"{base}/users").json()["value"] == []


def test_web_page(emu, tenant, outlook):
    from datetime import datetime, timedelta

    day = (datetime.utcnow() + timedelta(days=1)).strftime("%Y-%m-%d")
    outlook("kim@contoso.example").post(
        "/me/events",
        json=event_payload("Visible <meeting>", f"{day}T10:00:00", f"{day}T11:00:00", categories=["Green category"]),
    )
    for path in ("/", "/_emulator/ui"):
        page = requests.get(emu.http_base_url + path)
        assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
        assert (
            "Visible &lt;meeting&gt;" in page.text
            and "Green category" in page.text
            and "kim@contoso.example" in page.text
        )
