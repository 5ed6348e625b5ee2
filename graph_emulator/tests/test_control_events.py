"""POST /_emulator/mailboxes/events: users' Outlook changes in bulk through the control API."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests

from graph_emulator.testing import Webhook, att, event_payload

UPNS = ["alex@contoso.example", "sam@contoso.example", "kim@contoso.example"]
WINDOW = {"startDateTime": "2030-03-01T00:00:00Z", "endDateTime": "2030-04-01T00:00:00Z"}


@pytest.fixture
def hook():
    h = Webhook()
    yield h
    h.close()


def _bulk(emu, items):
    return requests.post(
        emu.http_base_url + "/_emulator/mailboxes/events",
        json={"events": [{"upn": upn, "event": event} for upn, event in items]},
    )


def _subscribe(g, hook):
    expiry = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    r = g.post(
        "/subscriptions",
        json={
            "changeType": "created,updated,deleted",
            "notificationUrl": hook.url,
            "resource": "me/events",
            "expirationDateTime": expiry,
            "clientState": "bulk",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _delta(g, link=None):
    """One delta round (initial with the window, or from a deltaLink): (items, the next deltaLink)."""
    r = g.get(link) if link else g.get("/me/calendarView/delta", params=WINDOW)
    items = []
    while True:
        assert r.status_code == 200, r.text
        items += r.json()["value"]
        if "@odata.deltaLink" in r.json():
            return items, r.json()["@odata.deltaLink"]
        r = g.get(r.json()["@odata.nextLink"])


def test_bulk_events_are_the_users_own_posts(emu, tenant, outlook, alex, hook):
    """Each event lands in its mailbox as the user's POST would put it there: the answer has Graph's shape,
    each mailbox's subscription is notified (through the notifier, after the answer), each mailbox's delta
    lists it, invitations and attendees' copies follow, and no fault rule or request-log entry is involved."""
    subs, links = {}, {}
    for upn in UPNS:
        subs[upn] = _subscribe(outlook(upn), hook)
        items, links[upn] = _delta(outlook(upn))
        assert items == []
    reference = outlook("alex@contoso.example").post(
        "/users/alex@contoso.example/events",
        json=event_payload("Reference", "2030-05-01T10:00:00", "2030-05-01T11:00:00"),
    )
    assert reference.status_code == 201
    assert emu.wait_for_notifications(10)
    hook.received.clear()
    tenant.clear_invitations()
    latency = tenant.add_fault(kind="latency", latency_ms=200)
    logged = tenant.request_stats()["total"]
    tenant.update_settings(hold_notifications=True)
    items = [
        ("alex@contoso.example", event_payload("Bulk alex", attendees=[att("jane.doe@customer.example")])),
        ("sam@contoso.example", event_payload("Bulk sam", "2030-03-05T10:00:00", "2030-03-05T11:00:00")),
        ("kim@contoso.example", event_payload("Bulk kim", attendees=[att("sam@contoso.example")])),
    ]
    try:
        r = _bulk(emu, items)
        assert r.status_code == 201, r.text
        created = r.json()["value"]
        # Queued for the notifier thread like a POST's, not delivered while the request ran.
        assert emu.notifier.wait_held(5) == 4  # three events and the copy of Kim's meeting in Sam's mailbox
        assert hook.received == []
    finally:
        tenant.update_settings(hold_notifications=False)
    assert tenant.deliver_notifications(10) == 4

    assert [e["subject"] for e in created] == ["Bulk alex", "Bulk sam", "Bulk kim"]
    assert set(created[0]) == set(reference.json()) - {"ETag"}
    for (upn, _payload), ev in zip(items, created, strict=True):
        mb = tenant.find_mailbox(upn)
        assert ev["@odata.context"].endswith(f"users('{mb.id}')/events/$entity")
        assert ev["isOrganizer"] and ev["organizer"]["emailAddress"]["address"] == upn
        stored = [e for e in tenant.events_raw(upn) if e["id"] == ev["id"]]
        assert len(stored) == 1 and stored[0]["changeKey"] == ev["changeKey"] and stored[0]["iCalUId"] == ev["iCalUId"]
        notes = [n for n in hook.notifications() if n["subscriptionId"] == subs[upn]]
        mine = [n for n in notes if n["resourceData"]["id"] == ev["id"]]
        assert [n["changeType"] for n in mine] == ["created"]
        assert mine[0]["resourceData"]["@odata.etag"] == ev["@odata.etag"] and mine[0]["clientState"] == "bulk"
        listed, _ = _delta(outlook(upn), links[upn])
        assert ev["id"] in [i["id"] for i in listed]
    # Kim's meeting: Sam got a copy (same iCalUId, notified to Sam's subscription); Jane an invitation.
    copies = [e for e in tenant.events_raw("sam@contoso.example") if e["iCalUId"] == created[2]["iCalUId"]]
    assert len(copies) == 1 and not copies[0]["isOrganizer"]
    assert copies[0]["id"] in [n["resourceData"]["id"] for n in hook.notifications()]
    sent = tenant.list_invitations()
    assert [(i["kind"], i["to"]) for i in sent] == [
        ("request", "jane.doe@customer.example"),
        ("request", "sam@contoso.example"),
    ]
    # No Graph round trip: the latency rule never fired and the request log holds only the deltas read above.
    faults = requests.get(emu.http_base_url + "/_emulator/faults").json()["value"]
    assert [f["fired"] for f in faults if f["id"] == latency["id"]] == [0]
    assert tenant.request_stats()["total"] == logged + len(UPNS)
    assert all(r["actAs"] for r in tenant.request_stats()["requests"][logged:])
    # The rule is live: the app's next Graph request takes it.
    assert alex.get("/me").status_code == 200
    faults = requests.get(emu.http_base_url + "/_emulator/faults").json()["value"]
    assert [f["fired"] for f in faults if f["id"] == latency["id"]] == [1]


def test_bulk_events_refusals(emu, tenant):
    """An unknown user or a malformed item creates nothing; a payload Graph refuses stops the bulk there,
    the events before it staying created."""
    r = _bulk(emu, [("alex@contoso.example", event_payload("A")), ("nobody@contoso.example", event_payload("B"))])
    assert r.status_code == 404 and "nobody@contoso.example" in r.json()["error"]["message"]
    bad = requests.post(emu.http_base_url + "/_emulator/mailboxes/events", json={"events": [{"upn": "x"}]})
    assert bad.status_code == 400 and "events[0]" in bad.json()["error"]["message"]
    assert tenant.events_raw("alex@contoso.example") == []
    r = _bulk(
        emu,
        [
            ("alex@contoso.example", event_payload("A")),
            ("sam@contoso.example", event_payload("B", colour="red")),
            ("kim@contoso.example", event_payload("C")),
        ],
    )
    assert r.status_code == 400 and r.json()["index"] == 1, r.text
    assert r.json()["error"]["code"] == "RequestBodyRead"
    assert [e["subject"] for e in r.json()["value"]] == ["A"]
    assert [len(tenant.events_raw(u)) for u in UPNS] == [1, 0, 0]


def test_bulk_events_take_the_lock_in_chunks(tenant):
    """state.create_events holds the state lock for per_lock events at a time, not for the whole bulk."""
    me = threading.get_ident()
    holds = []  # events rendered during each of this thread's holds of the lock

    class CountingLock:
        """The state's lock, counting this thread's outermost holds (the notifier and persistence threads
        take it too, through this object, and are left uncounted)."""

        def __init__(self, lock):
            self.lock, self.depth = lock, 0

        def __enter__(self):
            self.lock.acquire()
            if threading.get_ident() == me:
                self.depth += 1
                if self.depth == 1:
                    holds.append(0)
            return self

        def __exit__(self, *exc):
            if threading.get_ident() == me:
                self.depth -= 1
            self.lock.release()

    def render(ev):
        holds[-1] += 1
        return ev["subject"]

    real = tenant.lock
    tenant.lock = CountingLock(real)
    try:
        subjects = tenant.create_events([(UPNS[i % 3], event_payload(f"E{i}")) for i in range(7)], render, per_lock=3)
    finally:
        tenant.lock = real
    assert subjects == [f"E{i}" for i in range(7)]
    assert holds == [0, 3, 3, 1]  # the mailboxes looked up, then three holds
