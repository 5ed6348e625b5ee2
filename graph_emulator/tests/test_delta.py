"""calendarView delta: paging, tokens, changes, tombstones, window, expiry."""

from graph_emulator.testing import assert_graph_error, event_payload

WINDOW = {"startDateTime": "2030-03-01T00:00:00Z", "endDateTime": "2030-04-01T00:00:00Z"}


def _round(g, url_or_params, page_size=2):
    """Follow nextLinks to the deltaLink; returns (items, deltaLink, pages)."""
    headers = {"Prefer": f"odata.maxpagesize={page_size}"}
    if isinstance(url_or_params, str):
        r = g.get(url_or_params, headers=headers)
    else:
        r = g.get("/me/calendarView/delta", params=url_or_params, headers=headers)
    items, pages = [], 0
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        pages += 1
        assert ("@odata.nextLink" in body) != ("@odata.deltaLink" in body)
        assert len(body["value"]) <= page_size
        items += body["value"]
        if "@odata.deltaLink" in body:
            assert f"odata.maxpagesize={page_size}" in r.headers.get("Preference-Applied", "")
            return items, body["@odata.deltaLink"], pages
        assert "$skiptoken=" in body["@odata.nextLink"]
        r = g.get(body["@odata.nextLink"], headers=headers)


def test_initial_round_pages_and_later_rounds_report_changes(alex, outlook):
    ids = [
        alex.post(
            "/me/events", json=event_payload(f"E{i}", f"2030-03-0{i + 2}T10:00:00", f"2030-03-0{i + 2}T11:00:00")
        ).json()["id"]
        for i in range(5)
    ]
    outside = alex.post("/me/events", json=event_payload("Later", "2030-05-02T10:00:00", "2030-05-02T11:00:00")).json()
    items, link, pages = _round(alex, WINDOW)
    assert pages == 3 and sorted(i["id"] for i in items) == sorted(ids)
    assert all(i["@odata.type"] == "#microsoft.graph.event" and i["subject"] for i in items)
    assert "$deltatoken=" in link and "startDateTime" not in link

    again, link2, _ = _round(alex, link)
    assert again == []

    # Outlook-side edits, a delete, a move out of the window, a move into it.
    g = outlook("alex@contoso.example")
    g.patch(f"/me/events/{ids[0]}", json={"subject": "E0 edited"})
    g.delete(f"/me/events/{ids[1]}")
    g.patch(
        f"/me/events/{ids[2]}",
        json={
            "start": {"dateTime": "2030-06-01T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-06-01T11:00:00", "timeZone": "UTC"},
        },
    )
    g.patch(
        f"/me/events/{outside['id']}",
        json={
            "start": {"dateTime": "2030-03-20T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-03-20T11:00:00", "timeZone": "UTC"},
        },
    )
    new = g.post("/me/events", json=event_payload("New", "2030-03-25T10:00:00", "2030-03-25T11:00:00")).json()
    changes, _link3, _ = _round(alex, link2)
    updated = {i["id"]: i for i in changes if "@removed" not in i}
    removed = {i["id"]: i for i in changes if "@removed" in i}
    assert set(updated) == {ids[0], outside["id"], new["id"]}
    assert updated[ids[0]]["subject"] == "E0 edited"
    assert set(removed) == {ids[1], ids[2]}
    assert removed[ids[1]] == {"@odata.type": "#microsoft.graph.event", "id": ids[1], "@removed": {"reason": "deleted"}}
    # The old deltaLink can be replayed (Graph allows it); it yields the same changes again.
    replay, _, _ = _round(alex, link2)
    assert {i["id"] for i in replay} == set(updated) | set(removed)


def test_delta_expands_recurrence_and_honours_timezone(alex):
    alex.post(
        "/me/events",
        json=event_payload(
            "Series",
            "2030-03-04T09:00:00",
            "2030-03-04T10:00:00",
            recurrence={
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                "range": {"type": "endDate", "startDate": "2030-03-04", "endDate": "2030-03-25"},
            },
        ),
    )
    r = alex.get(
        "/me/calendarView/delta", params=WINDOW, headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'}
    )
    body = r.json()
    # The series master comes with its occurrences (GRAPH_FACTS §10).
    assert sorted(i["type"] for i in body["value"]) == ["occurrence"] * 4 + ["seriesMaster"]
    body["value"] = [i for i in body["value"] if i["type"] == "occurrence"]
    assert body["value"][0]["start"] == {"dateTime": "2030-03-04T01:00:00.0000000", "timeZone": "Pacific Standard Time"}


def test_delta_errors_expiry_and_reset(alex, tenant):
    assert_graph_error(alex.get("/me/calendarView/delta"), 400, "ErrorInvalidParameter")
    assert_graph_error(alex.get("/me/calendarView/delta", params=dict(WINDOW, **{"$select": "subject"})), 400)
    _, link, _ = _round(alex, WINDOW)
    tenant.expire_delta_tokens("alex@contoso.example")
    err = assert_graph_error(alex.get(link), 410, "SyncStateNotFound")
    assert "sync state generation is not found" in err["message"]
    assert_graph_error(alex.get("/me/calendarView/delta", params={"$deltatoken": "garbage"}), 410, "SyncStateNotFound")
    _, link, _ = _round(alex, WINDOW)
    tenant.expire_delta_tokens("alex@contoso.example", mode="reset")
    r = alex.get(link)
    assert r.status_code == 410 and r.headers["Location"].endswith("/me/calendarView/delta?$deltatoken=")
    # Tokens are bound to their mailbox.
    _, link, _ = _round(alex, WINDOW)
    other = alex.get(
        link.replace("/me/", "/users/sam@contoso.example/"), headers={"X-Emulator-Act-As": "sam@contoso.example"}
    )
    assert other.status_code == 410


def test_delta_for_users_path(emu, outlook):
    g = outlook("sam@contoso.example")
    g.post("/me/events", json=event_payload("S", "2030-03-05T10:00:00", "2030-03-05T11:00:00"))
    body = g.get("/users/sam@contoso.example/calendarView/delta", params=WINDOW).json()
    assert [i["subject"] for i in body["value"]] == ["S"]
    assert body["@odata.deltaLink"].startswith(
        emu.graph_url + "/users/sam@contoso.example/calendarView/delta?$deltatoken="
    )
