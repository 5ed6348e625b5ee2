"""Meetings across mailboxes: attendee copies, propagation, responses and recorded invitations."""

from graph_emulator.testing import assert_graph_error, att, event_payload

SAM, KIM = "sam@contoso.example", "kim@contoso.example"


def _copy(tenant, upn, ical):
    found = tenant.find_events(upn, ical_uid=ical)
    assert len(found) == 1, found
    return found[0]


def test_invite_creates_copies_and_records_invitations(alex, tenant):
    ev = alex.post(
        "/me/events",
        json=event_payload(
            "Kickoff", attendees=[att(SAM), att("jane.doe@customer.example", "Jane")], categories=["Red category"]
        ),
    ).json()
    cp = _copy(tenant, SAM, ev["iCalUId"])
    assert cp["id"] != ev["id"] and cp["isOrganizer"] is False and cp["responseStatus"]["response"] == "notResponded"
    assert cp["organizer"]["emailAddress"]["address"] == "alex@contoso.example" and cp["categories"] == []
    assert tenant.find_events(KIM) == []
    inv = tenant.list_invitations()
    assert sorted((i["kind"], i["to"], i["internal"]) for i in inv) == [
        ("request", "jane.doe@customer.example", False),
        ("request", SAM, True),
    ]


def test_update_propagates_and_invitation_rules(alex, tenant):
    ev = alex.post("/me/events", json=event_payload("Plan", attendees=[att(SAM), att("bob@acme.example")])).json()
    tenant.clear_invitations()
    alex.patch(
        f"/me/events/{ev['id']}",
        json={
            "subject": "Plan v2",
            "start": {"dateTime": "2030-03-04T12:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-03-04T13:00:00", "timeZone": "UTC"},
        },
    )
    cp = _copy(tenant, SAM, ev["iCalUId"])
    assert cp["subject"] == "Plan v2" and cp["start"]["dateTime"].startswith("2030-03-04T12:00")
    assert sorted((i["kind"], i["to"]) for i in tenant.list_invitations()) == [
        ("update", "bob@acme.example"),
        ("update", SAM),
    ]
    tenant.clear_invitations()
    # Attendee-only change: only added and removed people hear about it.
    alex.patch(f"/me/events/{ev['id']}", json={"attendees": [att(SAM), att(KIM)]})
    assert sorted((i["kind"], i["to"]) for i in tenant.list_invitations()) == [
        ("cancel", "bob@acme.example"),
        ("request", KIM),
    ]
    assert _copy(tenant, KIM, ev["iCalUId"])["subject"] == "Plan v2"
    tenant.clear_invitations()
    # Personal properties send nothing.
    alex.patch(f"/me/events/{ev['id']}", json={"categories": ["Blue category"], "showAs": "free"})
    assert tenant.list_invitations() == []
    # Removing an internal attendee cancels their copy.
    alex.patch(f"/me/events/{ev['id']}", json={"attendees": [att(SAM)]})
    kim_copy = _copy(tenant, KIM, ev["iCalUId"])
    assert kim_copy["isCancelled"] is True and kim_copy["subject"].startswith("Canceled: ")


def test_delete_and_cancel_mark_copies_cancelled(alex, tenant, outlook):
    a = alex.post("/me/events", json=event_payload("A", attendees=[att(SAM)])).json()
    b = alex.post("/me/events", json=event_payload("B", attendees=[att(SAM), att("jane.doe@customer.example")])).json()
    tenant.clear_invitations()
    assert alex.delete(f"/me/events/{a['id']}").status_code == 204
    ca = _copy(tenant, SAM, a["iCalUId"])
    assert ca["isCancelled"] and ca["subject"] == "Canceled: A"
    # An attendee cannot cancel; the organizer can, with a comment.
    sam_b = _copy(tenant, SAM, b["iCalUId"])
    assert_graph_error(outlook(SAM).post(f"/me/events/{sam_b['id']}/cancel", json={"comment": "no"}), 400)
    r = alex.post(f"/me/events/{b['id']}/cancel", json={"comment": "Sorry, cancelled"})
    assert r.status_code == 202 and r.content == b""
    assert_graph_error(alex.get(f"/me/events/{b['id']}"), 404)
    assert _copy(tenant, SAM, b["iCalUId"])["isCancelled"]
    cancels = [i for i in tenant.list_invitations(kind="cancel") if i["iCalUId"] == b["iCalUId"]]
    assert sorted(i["to"] for i in cancels) == ["jane.doe@customer.example", SAM]
    assert all(i["comment"] == "Sorry, cancelled" for i in cancels)


def test_attendee_responses_update_organizer(alex, tenant, outlook):
    ev = alex.post("/me/events", json=event_payload("Review", attendees=[att(SAM), att(KIM)])).json()
    sam_copy = _copy(tenant, SAM, ev["iCalUId"])
    r = outlook(SAM).post(f"/me/events/{sam_copy['id']}/accept", json={"comment": "ok", "sendResponse": True})
    assert r.status_code == 202
    org = alex.get(f"/me/events/{ev['id']}").json()
    status = {a["emailAddress"]["address"]: a["status"]["response"] for a in org["attendees"]}
    assert status == {SAM: "accepted", KIM: "none"}
    assert org["changeKey"] != ev["changeKey"]
    assert _copy(tenant, SAM, ev["iCalUId"])["responseStatus"]["response"] == "accepted"
    kim_copy = _copy(tenant, KIM, ev["iCalUId"])
    assert outlook(KIM).post(f"/me/events/{kim_copy['id']}/decline", json={"sendResponse": True}).status_code == 202
    assert tenant.find_events(KIM, ical_uid=ev["iCalUId"]) == []
    org = alex.get(f"/me/events/{ev['id']}").json()
    assert {a["emailAddress"]["address"]: a["status"]["response"] for a in org["attendees"]}[KIM] == "declined"
    assert [i["response"] for i in tenant.list_invitations(kind="response")] == ["accepted", "declined"]
    assert_graph_error(alex.post(f"/me/events/{ev['id']}/accept", json={}), 400)


def test_external_invitation_lands_in_mailbox(emu, tenant, outlook):
    kim = tenant.act_as(KIM)
    ev = kim.receive_invitation(
        {"address": "jane.doe@customer.example", "name": "Jane Doe"},
        event_payload("Customer workshop", attendees=[att(KIM), att("jane.doe@customer.example")]),
    )
    got = outlook(KIM).get(f"/me/events/{ev['id']}").json()
    assert got["isOrganizer"] is False and got["organizer"]["emailAddress"]["address"] == "jane.doe@customer.example"
    assert outlook(KIM).post(f"/me/events/{ev['id']}/tentativelyAccept", json={}).status_code == 202
    assert tenant.list_invitations(kind="response")[0]["to"] == "jane.doe@customer.example"


def test_recurring_meeting_copy_and_occurrence_delete(alex, tenant):
    master = alex.post(
        "/me/events",
        json=event_payload(
            "Daily",
            "2030-03-04T09:00:00",
            "2030-03-04T09:15:00",
            attendees=[att(SAM)],
            recurrence={
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "startDate": "2030-03-04", "numberOfOccurrences": 3},
            },
        ),
    ).json()
    assert _copy(tenant, SAM, master["iCalUId"])["type"] == "seriesMaster"
    view = alex.get(
        "/me/calendarView", params={"startDateTime": "2030-03-01T00:00:00Z", "endDateTime": "2030-03-10T00:00:00Z"}
    ).json()["value"]
    alex.delete(f"/me/events/{view[1]['id']}")
    sam_view = tenant.calendar_view(SAM, "2030-03-01T00:00:00Z", "2030-03-10T00:00:00Z")
    assert [e["start"]["dateTime"][:10] for e in sam_view] == ["2030-03-04", "2030-03-06"]


def _weekly_series(alex, attendees, count=4):
    return alex.post(
        "/me/events",
        json=event_payload(
            "Weekly review",
            "2030-03-05T09:00:00",
            "2030-03-05T10:00:00",
            "Europe/London",
            attendees=attendees,
            recurrence={
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"]},
                "range": {"type": "numbered", "startDate": "2030-03-05", "numberOfOccurrences": count},
            },
        ),
    ).json()


def _instances(alex, master):
    window = {"startDateTime": "2030-03-01T00:00:00Z", "endDateTime": "2030-05-01T00:00:00Z", "$top": 50}
    return alex.get(f"/me/events/{master['id']}/instances", params=window).json()["value"]


def test_series_invitations_exceptions_and_cancelled_occurrences(alex, tenant):
    """GRAPH_FACTS §11: one request per attendee for the whole series; PATCH of an occurrence makes an exception and
    updates that date only; DELETE of an occurrence cancels that date and the master lists it in
    cancelledOccurrences; a master PATCH sends one update for the series plus one per edited instance, and keeps
    the exceptions unless the pattern or the series' times change."""
    master = _weekly_series(alex, [att("jane@acme.example")])
    assert [(i["kind"], i["to"]) for i in tenant.list_invitations()] == [("request", "jane@acme.example")]
    occ = _instances(alex, master)
    assert len(occ) == 4 and {o["type"] for o in occ} == {"occurrence"}
    tenant.clear_invitations()
    moved = alex.patch(f"/me/events/{occ[1]['id']}", json={"location": {"displayName": "Room 2"}}).json()
    assert moved["type"] == "exception" and moved["seriesMasterId"] == master["id"]
    assert [(i["kind"], i["eventId"]) for i in tenant.list_invitations()] == [("update", occ[1]["id"])]
    tenant.clear_invitations()
    assert alex.delete(f"/me/events/{occ[2]['id']}").status_code == 204
    assert [i["kind"] for i in tenant.list_invitations()] == ["cancel"]
    got = alex.get(f"/me/events/{master['id']}").json()
    assert got["cancelledOccurrences"] == [f"OID.{master['id']}.2030-03-19"]
    assert len(_instances(alex, master)) == 3
    tenant.clear_invitations()
    # The whole event sent again with a new subject: the same pattern and times, the exception stays.
    same = {k: master[k] for k in ("start", "end", "recurrence")}
    alex.patch(f"/me/events/{master['id']}", json=dict(same, subject="Weekly review v2"))
    assert [i["kind"] for i in tenant.list_invitations()] == ["update", "update"], "series + edited instance"
    assert [o["type"] for o in _instances(alex, master)].count("exception") == 1
    # A new range end keeps the exception inside it.
    shorter = dict(master["recurrence"], range=dict(master["recurrence"]["range"], numberOfOccurrences=3))
    alex.patch(f"/me/events/{master['id']}", json={"recurrence": shorter})
    assert [o["type"] for o in _instances(alex, master)].count("exception") == 1
    # A new start regenerates the occurrences: the exception is gone.
    alex.patch(
        f"/me/events/{master['id']}",
        json={
            "start": {"dateTime": "2030-03-05T11:00:00", "timeZone": "Europe/London"},
            "end": {"dateTime": "2030-03-05T12:00:00", "timeZone": "Europe/London"},
        },
    )
    assert {o["type"] for o in _instances(alex, master)} == {"occurrence"}
