"""Events CRUD, formats, time zones, all-day rules, recurrence, concurrency and idempotency."""

import re

import pytest

from graph_emulator.testing import Graph, assert_graph_error, event_payload

DT7 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}$")


def test_me_mailbox_settings_and_categories(alex, tenant):
    me = alex.get("/me").json()
    assert me["userPrincipalName"] == "alex@contoso.example" and me["displayName"] == "Alex Wilber"
    assert me["id"] == tenant.find_mailbox("alex@contoso.example").id
    assert alex.get("/me/mailboxSettings").json()["timeZone"] == "Europe/London"
    cats = alex.get("/me/outlook/masterCategories").json()["value"]
    assert [(c["displayName"], c["color"]) for c in cats][:2] == [
        ("Red category", "preset0"),
        ("Orange category", "preset1"),
    ]
    assert len(cats) == 6
    r = alex.post("/me/outlook/masterCategories", json={"displayName": "Odoo", "color": "preset9"})
    assert r.status_code == 201 and r.json()["displayName"] == "Odoo" and r.json()["id"]
    assert_graph_error(alex.post("/me/outlook/masterCategories", json={"displayName": "odoo"}), 409)
    assert_graph_error(alex.post("/me/outlook/masterCategories", json={"displayName": "X", "color": "blue"}), 400)
    cid = r.json()["id"]
    assert alex.patch(f"/me/outlook/masterCategories/{cid}", json={"color": "preset1"}).json()["color"] == "preset1"
    assert alex.delete(f"/me/outlook/masterCategories/{cid}").status_code == 204
    assert_graph_error(alex.get(f"/me/outlook/masterCategories/{cid}"), 404)


def test_users_by_upn_and_unknown_user(emu, tenant):
    g = Graph(emu, act_as="alex@contoso.example")
    assert g.get("/users/SAM@contoso.example").json()["displayName"] == "Sam Taylor"
    assert_graph_error(g.get("/users/nobody@contoso.example/events"), 404, "ErrorInvalidUser")


def test_create_returns_graph_shape(alex):
    r = alex.post(
        "/me/events",
        json=event_payload(
            "Let's go for lunch",
            "2030-04-15T12:00:00",
            "2030-04-15T14:00:00",
            "Pacific Standard Time",
            body={"contentType": "HTML", "content": "Does late morning work for you?"},
            location={"displayName": "Harry's Bar"},
            attendees=[{"emailAddress": {"address": "jane.doe@customer.example", "name": "Jane"}, "type": "required"}],
        ),
    )
    assert r.status_code == 201, r.text
    ev = r.json()
    assert ev["@odata.etag"] == f'W/"{ev["changeKey"]}"'
    assert ev["start"] == {"dateTime": "2030-04-15T19:00:00.0000000", "timeZone": "UTC"}  # PDT = UTC-7
    assert DT7.match(ev["end"]["dateTime"])
    assert ev["originalStartTimeZone"] == "Pacific Standard Time"
    assert ev["body"] == {
        "contentType": "html",
        "content": "<html><head></head><body>Does late morning work for you?</body></html>",
    }
    assert ev["bodyPreview"] == "Does late morning work for you?"
    assert ev["isOrganizer"] is True and ev["responseStatus"]["response"] == "organizer"
    assert ev["organizer"]["emailAddress"]["address"] == "alex@contoso.example"
    assert ev["type"] == "singleInstance" and ev["seriesMasterId"] is None
    assert ev["attendees"][0]["status"] == {"response": "none", "time": "0001-01-01T00:00:00Z"}
    assert ev["location"]["displayName"] == "Harry's Bar" and ev["locations"][0]["displayName"] == "Harry's Bar"
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$", ev["createdDateTime"])
    assert ev["iCalUId"] and ev["webLink"] and "transactionId" not in ev
    got = alex.get(f"/me/events/{ev['id']}")
    assert got.status_code == 200 and got.json()["subject"] == "Let's go for lunch"
    also = alex.post("/me/calendar/events", json=event_payload("via calendar"))
    assert also.status_code == 201


def test_prefer_timezone_and_body_text(alex):
    ev = alex.post(
        "/me/events",
        json=event_payload(
            "tz",
            "2030-07-01T09:00:00",
            "2030-07-01T10:00:00",
            "Europe/Paris",
            body={"contentType": "html", "content": "<p>Hello <b>there</b></p>"},
        ),
    ).json()
    r = alex.get(
        f"/me/events/{ev['id']}",
        headers={"Prefer": 'outlook.timezone="Eastern Standard Time", outlook.body-content-type="text"'},
    )
    body = r.json()
    assert body["start"] == {"dateTime": "2030-07-01T03:00:00.0000000", "timeZone": "Eastern Standard Time"}
    assert body["body"] == {"contentType": "text", "content": "Hello there"}
    applied = r.headers["Preference-Applied"]
    assert 'outlook.timezone="Eastern Standard Time"' in applied and 'outlook.body-content-type="text"' in applied
    assert "Preference-Applied" not in alex.get(f"/me/events/{ev['id']}").headers
    assert_graph_error(alex.get(f"/me/events/{ev['id']}", headers={"Prefer": 'outlook.timezone="Mars/Olympus"'}), 400)


def test_all_day_rules(alex, tenant):
    ok = alex.post(
        "/me/events",
        json=event_payload("Holiday", "2030-11-11T00:00:00", "2030-11-12T00:00:00", "Europe/London", isAllDay=True),
    )
    assert ok.status_code == 201
    r = alex.get(f"/me/events/{ok.json()['id']}", headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'}).json()
    assert (
        r["start"]["dateTime"] == "2030-11-11T00:00:00.0000000"
        and r["end"]["dateTime"] == "2030-11-12T00:00:00.0000000"
    )
    bad = alex.post(
        "/me/events", json=event_payload("Bad", "2030-11-11T09:00:00", "2030-11-11T17:00:00", isAllDay=True)
    )
    assert_graph_error(bad, 400, "ErrorInvalidRequest")
    tenant.update_settings(strict_all_day=False)
    lenient = alex.post(
        "/me/events", json=event_payload("Lenient", "2030-11-11T09:00:00", "2030-11-11T17:00:00", isAllDay=True)
    )
    assert lenient.status_code == 201
    assert lenient.json()["start"]["dateTime"].startswith("2030-11-11T00:00:00")
    assert lenient.json()["end"]["dateTime"].startswith("2030-11-12T00:00:00")


@pytest.mark.parametrize(
    "payload,code",
    [
        (dict(event_payload(), colour="red"), "RequestBodyRead"),
        (dict(event_payload(), attendees=[{"emailAddress": {"address": "a@b.c"}, "type": "boss"}]), "RequestBodyRead"),
        (dict(event_payload(), sensitivity="secret"), "RequestBodyRead"),
        (event_payload(start="2030-02-30T10:00:00"), "ErrorInvalidRequest"),
        (event_payload(start="tomorrow"), "ErrorInvalidRequest"),
        (event_payload(tz="Nowhere Standard Time"), "TimeZoneNotSupportedException"),
        (event_payload(start="2030-03-04T12:00:00", end="2030-03-04T11:00:00"), "ErrorInvalidRequest"),
        ({"subject": "no dates"}, "ErrorInvalidRequest"),
    ],
)
def test_create_validation_errors(alex, payload, code):
    err = assert_graph_error(alex.post("/me/events", json=payload), 400, code)
    if payload.get("colour"):
        assert "The property 'colour' does not exist on type 'microsoft.graph.event'" in err["message"]
    assert alex.get("/me/events").json()["value"] == []


def test_patch_returns_full_event_new_changekey_and_if_match(alex):
    ev = alex.post("/me/events", json=event_payload("v1", categories=["Blue category"])).json()
    r = alex.patch(f"/me/events/{ev['id']}", json={"subject": "v2", "showAs": "free"})
    assert r.status_code == 200
    upd = r.json()
    assert upd["subject"] == "v2" and upd["categories"] == ["Blue category"] and upd["start"] == ev["start"]
    assert upd["changeKey"] != ev["changeKey"] and upd["lastModifiedDateTime"] >= ev["lastModifiedDateTime"]
    stale = alex.patch(f"/me/events/{ev['id']}", json={"subject": "v3"}, headers={"If-Match": ev["@odata.etag"]})
    assert_graph_error(stale, 412, "ErrorIrresolvableConflict")
    fresh = alex.patch(f"/me/events/{ev['id']}", json={"subject": "v3"}, headers={"If-Match": upd["@odata.etag"]})
    assert fresh.status_code == 200
    assert_graph_error(alex.delete(f"/me/events/{ev['id']}", headers={"If-Match": upd["@odata.etag"]}), 412)
    assert_graph_error(alex.patch(f"/me/events/{ev['id']}", json={"bogus": 1}), 400, "RequestBodyRead")
    assert_graph_error(alex.patch(f"/me/events/{ev['id']}", json={"transactionId": "new"}), 400)
    assert alex.get(f"/me/events/{ev['id']}").json()["subject"] == "v3"


def test_location_update_replaces_locations(alex):
    ev = alex.post("/me/events", json=event_payload(locations=[{"displayName": "A"}, {"displayName": "B"}])).json()
    assert [loc["displayName"] for loc in ev["locations"]] == ["A", "B"] and ev["location"]["displayName"] == "A"
    upd = alex.patch(f"/me/events/{ev['id']}", json={"location": {"displayName": "C"}}).json()
    assert [loc["displayName"] for loc in upd["locations"]] == ["C"]


def test_delete_and_ids_are_case_sensitive(alex):
    ev = alex.post("/me/events", json=event_payload()).json()
    # Same header (still well formed), different case in the rest: another, unknown item.
    assert_graph_error(alex.get(f"/me/events/{ev['id'][:12] + ev['id'][12:].swapcase()}"), 404, "ErrorItemNotFound")
    assert alex.delete(f"/me/events/{ev['id']}").status_code == 204
    assert_graph_error(alex.get(f"/me/events/{ev['id']}"), 404, "ErrorItemNotFound")
    assert_graph_error(alex.delete(f"/me/events/{ev['id']}"), 404)


def test_transaction_id_replay_is_refused(alex, tenant):
    p = event_payload("once", transactionId="odoo-activity-42")
    a = alex.post("/me/events", json=p)
    assert a.status_code == 201 and a.json()["transactionId"] == "odoo-activity-42"
    assert_graph_error(alex.post("/me/events", json=p), 400, "ErrorDuplicateTransactionId")
    assert len(tenant.events_raw("alex@contoso.example")) == 1


def test_list_events_paging_filter_and_select(alex):
    ids = [alex.post("/me/events", json=event_payload(f"e{i}", transactionId=f"t{i}")).json()["id"] for i in range(5)]
    page = alex.get("/me/events", params={"$top": 2}).json()
    assert len(page["value"]) == 2 and "@odata.nextLink" in page
    seen = [e["id"] for e in page["value"]]
    while "@odata.nextLink" in page:
        page = alex.get(page["@odata.nextLink"]).json()
        seen += [e["id"] for e in page["value"]]
    assert sorted(seen) == sorted(ids)
    found = alex.get("/me/events", params={"$filter": "subject eq 'e3'", "$select": "subject"}).json()["value"]
    assert len(found) == 1 and found[0]["subject"] == "e3" and "body" not in found[0] and found[0]["id"] == ids[3]
    assert_graph_error(alex.get("/me/events", params={"$filter": "contains(subject,'e')"}), 400)


def test_extended_property_filter(alex):
    prop = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name OdooId"
    ev = alex.post(
        "/me/events", json=event_payload(singleValueExtendedProperties=[{"id": prop, "value": "calendar.event,7"}])
    ).json()
    alex.post("/me/events", json=event_payload("other"))
    flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{prop}' and ep/value eq 'calendar.event,7')"
    found = alex.get(
        "/me/events", params={"$filter": flt, "$expand": f"singleValueExtendedProperties($filter=id eq '{prop}')"}
    ).json()["value"]
    assert [e["id"] for e in found] == [ev["id"]]
    assert found[0]["singleValueExtendedProperties"][0]["value"] == "calendar.event,7"


def test_calendar_view_requires_window_and_filters(alex):
    alex.post("/me/events", json=event_payload("in", "2030-05-02T10:00:00", "2030-05-02T11:00:00"))
    alex.post("/me/events", json=event_payload("out", "2030-06-02T10:00:00", "2030-06-02T11:00:00"))
    view = alex.get(
        "/me/calendarView", params={"startDateTime": "2030-05-01T00:00:00Z", "endDateTime": "2030-05-31T00:00:00+00:00"}
    ).json()
    assert [e["subject"] for e in view["value"]] == ["in"]
    assert_graph_error(alex.get("/me/calendarView"), 400, "ErrorInvalidParameter")


def test_query_option_names_are_case_insensitive(alex):
    """Graph Explorer's own sample is /me/calendarview?startdatetime=…&enddatetime=…: option names are
    case-insensitive (https://learn.microsoft.com/en-us/graph/query-parameters)."""
    alex.post("/me/events", json=event_payload("in", "2030-05-02T10:00:00", "2030-05-02T11:00:00"))
    alex.post("/me/events", json=event_payload("in too", "2030-05-03T10:00:00", "2030-05-03T11:00:00"))
    view = alex.get(
        "/me/calendarview",
        params={"startdatetime": "2030-05-01T00:00:00Z", "ENDDATETIME": "2030-05-31T00:00:00Z", "$TOP": "1"},
    )
    assert view.status_code == 200, view.text
    assert [e["subject"] for e in view.json()["value"]] == ["in"]
    assert "@odata.nextLink" in view.json()


def test_recurrence_expansion_exceptions_and_deleted_occurrences(alex):
    master = alex.post(
        "/me/events",
        json=event_payload(
            "Weekly",
            "2030-03-04T09:00:00",
            "2030-03-04T09:30:00",
            "Europe/London",
            recurrence={
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                "range": {"type": "numbered", "startDate": "2030-03-04", "numberOfOccurrences": 6},
            },
        ),
    ).json()
    assert master["type"] == "seriesMaster" and master["recurrence"]["pattern"]["daysOfWeek"] == ["monday"]
    listed = alex.get("/me/events").json()["value"]
    assert [e["type"] for e in listed] == ["seriesMaster"]
    window = {"startDateTime": "2030-03-01T00:00:00Z", "endDateTime": "2030-05-01T00:00:00Z"}
    occ = alex.get("/me/calendarView", params=dict(window, **{"$top": 50})).json()["value"]
    assert len(occ) == 6 and all(o["type"] == "occurrence" and o["seriesMasterId"] == master["id"] for o in occ)
    assert len({o["iCalUId"] for o in occ}) == 6 and len({o["id"] for o in occ}) == 6
    # London moves to BST on 2030-03-31: wall-clock 09:00 stays, UTC shifts.
    assert occ[0]["start"]["dateTime"].startswith("2030-03-04T09:00") and occ[4]["start"]["dateTime"].startswith(
        "2030-04-01T08:00"
    )
    moved = alex.patch(
        f"/me/events/{occ[1]['id']}",
        json={
            "subject": "Moved",
            "start": {"dateTime": "2030-03-11T15:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-03-11T15:30:00", "timeZone": "UTC"},
        },
    )
    assert moved.status_code == 200 and moved.json()["type"] == "exception" and moved.json()["id"] == occ[1]["id"]
    assert alex.delete(f"/me/events/{occ[2]['id']}").status_code == 204
    after = alex.get("/me/calendarView", params=dict(window, **{"$top": 50})).json()["value"]
    assert len(after) == 5
    assert [e["type"] for e in after].count("exception") == 1
    assert next(e for e in after if e["type"] == "exception")["subject"] == "Moved"
    inst = alex.get(f"/me/events/{master['id']}/instances", params=dict(window, **{"$top": 50})).json()["value"]
    assert len(inst) == 5
    assert alex.get(f"/me/events/{occ[0]['id']}").json()["type"] == "occurrence"


@pytest.mark.parametrize(
    "pattern,expected",
    [
        ({"type": "daily", "interval": 2}, ["2030-01-01", "2030-01-03", "2030-01-05"]),
        ({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 15}, ["2030-01-15", "2030-02-15", "2030-03-15"]),
        (
            {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"},
            ["2030-01-25", "2030-02-22", "2030-03-29"],
        ),
        (
            {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 1, "month": 1},
            ["2030-01-01", "2031-01-01", "2032-01-01"],
        ),
    ],
)
def test_recurrence_patterns(alex, pattern, expected):
    alex.post(
        "/me/events",
        json=event_payload(
            "R",
            "2030-01-01T10:00:00",
            "2030-01-01T11:00:00",
            recurrence={
                "pattern": pattern,
                "range": {"type": "numbered", "startDate": "2030-01-01", "numberOfOccurrences": 3},
            },
        ),
    )
    view = alex.get(
        "/me/calendarView", params={"startDateTime": "2029-12-01T00:00:00Z", "endDateTime": "2033-01-01T00:00:00Z"}
    ).json()["value"]
    assert [e["start"]["dateTime"][:10] for e in view] == expected


def test_bad_recurrence_is_rejected(alex):
    r = alex.post(
        "/me/events",
        json=event_payload(
            recurrence={"pattern": {"type": "hourly"}, "range": {"type": "noEnd", "startDate": "2030-01-01"}}
        ),
    )
    assert_graph_error(r, 400)


def test_immutable_id_preference_is_acknowledged(alex):
    ev = alex.post("/me/events", json=event_payload(), headers={"Prefer": 'IdType="ImmutableId"'})
    assert ev.headers["Preference-Applied"] == 'IdType="ImmutableId"'
    assert alex.get(f"/me/events/{ev.json()['id']}").status_code == 200
