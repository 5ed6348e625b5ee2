"""Subscriptions: validation handshake, limits, renew/delete, notifications, retries, lifecycle."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from graph_emulator.testing import Webhook, assert_graph_error, event_payload


def _iso(minutes):
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


@pytest.fixture
def hook():
    h = Webhook()
    yield h
    h.close()


def _sub(g, hook, **extra):
    payload = {
        "changeType": "created,updated,deleted",
        "notificationUrl": hook.url,
        "resource": "me/events",
        "expirationDateTime": _iso(600),
        "clientState": "s3cret",
    }
    payload.update(extra)
    return g.post("/subscriptions", json=payload)


def test_create_runs_handshake_and_returns_subscription(alex, hook, tenant):
    r = _sub(alex, hook, lifecycleNotificationUrl=hook.url + "?lifecycle=1")
    assert r.status_code == 201, r.text
    sub = r.json()
    assert (
        sub["resource"] == "me/events"
        and sub["clientState"] == "s3cret"
        and sub["changeType"] == "created,updated,deleted"
    )
    assert sub["creatorId"] == tenant.find_mailbox("alex@contoso.example").id and sub["applicationId"] == "test-client"
    assert len(hook.validations) == 2 and hook.validations[0].startswith(
        "Validation: Testing client application reachability"
    )
    assert alex.get(f"/subscriptions/{sub['id']}").json()["id"] == sub["id"]
    assert [s["id"] for s in alex.get("/subscriptions").json()["value"]] == [sub["id"]]


@pytest.mark.parametrize("mode", ["bad-echo", "500"])
def test_failed_validation_is_400_and_creates_nothing(alex, tenant, mode):
    h = Webhook(mode=mode)
    try:
        err = assert_graph_error(_sub(alex, h), 400)
        assert "validation" in err["message"].lower()
        assert tenant.list_subscriptions() == []
    finally:
        h.close()


def test_unreachable_and_http_urls(alex, tenant, hook):
    assert_graph_error(_sub(alex, hook, notificationUrl="http://127.0.0.1:9/nothing"), 400)
    tenant.update_settings(allow_http_notifications=False)
    assert_graph_error(_sub(alex, hook), 400, "ValidationError")


def test_expiration_limits_and_renewal(alex, hook, tenant):
    assert_graph_error(_sub(alex, hook, expirationDateTime=_iso(10081)), 400, "ExtensionError")
    assert_graph_error(_sub(alex, hook, expirationDateTime=_iso(-5)), 400)
    assert_graph_error(_sub(alex, hook, expirationDateTime=None), 400)
    short = _sub(alex, hook, expirationDateTime=_iso(5)).json()
    exp = datetime.strptime(short["expirationDateTime"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    assert exp >= datetime.now(UTC) + timedelta(minutes=44)
    tenant.update_settings(subscription_legacy_4230_error=True)
    err = assert_graph_error(_sub(alex, hook, expirationDateTime=_iso(5000)), 400, "ExtensionError")
    assert err["message"] == "Subscription expiration can only be 4230 minutes in the future."
    renewed = alex.patch(f"/subscriptions/{short['id']}", json={"expirationDateTime": _iso(3000)})
    assert renewed.status_code == 200 and renewed.json()["expirationDateTime"][:16] == _iso(3000)[:16]
    assert_graph_error(alex.patch(f"/subscriptions/{short['id']}", json={"lifecycleNotificationUrl": hook.url}), 400)
    assert alex.delete(f"/subscriptions/{short['id']}").status_code == 204
    assert_graph_error(alex.get(f"/subscriptions/{short['id']}"), 404)


def test_bad_resource_and_foreign_mailbox(alex, hook):
    assert_graph_error(_sub(alex, hook, resource="me/messages"), 400)
    assert_graph_error(_sub(alex, hook, resource="users/sam@contoso.example/events"), 403)
    assert_graph_error(_sub(alex, hook, changeType="created,moved"), 400)


def test_notifications_are_batched_and_carry_client_state(emu, alex, hook, tenant, outlook):
    sub = _sub(alex, hook).json()
    ev = alex.post("/me/events", json=event_payload("N1")).json()
    outlook("alex@contoso.example").patch(f"/me/events/{ev['id']}", json={"subject": "edited in Outlook"})
    alex.delete(f"/me/events/{ev['id']}")
    assert emu.wait_for_notifications(10)
    notes = hook.notifications()
    assert [n["changeType"] for n in notes] == ["created", "updated", "deleted"]
    alex_id = tenant.find_mailbox("alex@contoso.example").id
    for n in notes:
        assert n["subscriptionId"] == sub["id"] and n["clientState"] == "s3cret" and n["tenantId"] == tenant.tenant_id
        assert n["resource"] == f"Users/{alex_id}/Events/{ev['id']}"
        assert n["resourceData"]["id"] == ev["id"] and n["resourceData"]["@odata.type"] == "#Microsoft.Graph.Event"
        assert n["resourceData"]["@odata.etag"].startswith('W/"')
    assert len(hook.received) < 3  # batched into fewer POSTs than changes


def test_change_type_filter_and_attendee_mailbox(emu, alex, hook, tenant, outlook):
    sam = outlook("sam@contoso.example")
    sub = _sub(sam, hook, changeType="created").json()
    alex.post(
        "/me/events", json=event_payload("Invite", attendees=[{"emailAddress": {"address": "sam@contoso.example"}}])
    )
    assert emu.wait_for_notifications(10)
    notes = hook.notifications()
    assert [(n["changeType"], n["subscriptionId"]) for n in notes] == [("created", sub["id"])]


def test_failed_delivery_is_retried(emu, alex, hook, tenant):
    _sub(alex, hook)
    hook.fail_next = 2
    alex.post("/me/events", json=event_payload("Retry me"))
    assert emu.wait_for_notifications(10)
    assert [r["failed"] for r in hook.received] == [True, True, False]
    log = tenant.notification_log[-1]
    assert log["delivered"] and [a["status"] for a in log["attempts"]] == [500, 500, 202]


def test_slow_receiver_counts_as_failure(emu, alex, tenant):
    tenant.update_settings(notification_timeout=0.3, notification_retry_delays=[0.1])
    h = Webhook()
    try:
        _sub(alex, h)
        original = h.server.RequestHandlerClass.do_POST

        def slow(self):
            time.sleep(0.6)
            original(self)

        h.server.RequestHandlerClass.do_POST = slow
        alex.post("/me/events", json=event_payload("slow"))
        assert emu.wait_for_notifications(10)
        log = tenant.notification_log[-1]
        assert not log["delivered"] and [a.get("error") for a in log["attempts"]] == ["ReadTimeout", "ReadTimeout"]
    finally:
        h.close()


def test_lifecycle_notifications(emu, alex, hook, tenant):
    sub = _sub(alex, hook, lifecycleNotificationUrl=hook.url).json()
    for event in ("reauthorizationRequired", "missed", "subscriptionRemoved"):
        tenant.trigger_lifecycle(sub["id"], event)
    assert emu.wait_for_notifications(10)
    events = [n["lifecycleEvent"] for n in hook.notifications()]
    assert sorted(events) == ["missed", "reauthorizationRequired", "subscriptionRemoved"]
    assert all(n["subscriptionId"] == sub["id"] and n["clientState"] == "s3cret" for n in hook.notifications())
    assert_graph_error(alex.get(f"/subscriptions/{sub['id']}"), 404)


def test_occurrence_change_is_notified_with_the_master_id(emu, alex, hook, tenant, outlook):
    """GRAPH_FACTS §11 (Microsoft Q&A 1445179): a change to one occurrence of a series is notified with the series
    master's id as the resource."""
    master = alex.post(
        "/me/events",
        json=event_payload(
            "Series",
            "2030-03-05T09:00:00",
            "2030-03-05T10:00:00",
            recurrence={
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "startDate": "2030-03-05", "numberOfOccurrences": 3},
            },
        ),
    ).json()
    window = {"startDateTime": "2030-03-01T00:00:00Z", "endDateTime": "2030-04-01T00:00:00Z"}
    occ = alex.get(f"/me/events/{master['id']}/instances", params=window).json()["value"]
    _sub(alex, hook)
    outlook("alex@contoso.example").patch(f"/me/events/{occ[1]['id']}", json={"subject": "moved in Outlook"})
    assert emu.wait_for_notifications(10)
    notes = hook.notifications()
    assert [(n["changeType"], n["resourceData"]["id"]) for n in notes] == [("updated", master["id"])]
