"""Fidelity against Microsoft's own artefacts: every response body (and every request body the
tests send) is checked field by field against the msgraph-sdk (v1.0) kiota models — property
names must exist on the model, and values must have the model's type (string, bool, int,
date-time, enum member, nested object, collection). Change-notification payloads are not
modelled in msgraph-sdk v1.0, so they are checked against the documented field list."""

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

pytest.importorskip("msgraph")

from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from msgraph.generated.models.event import Event
from msgraph.generated.models.event_collection_response import EventCollectionResponse
from msgraph.generated.models.mailbox_settings import MailboxSettings
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.outlook_category import OutlookCategory
from msgraph.generated.models.outlook_category_collection_response import OutlookCategoryCollectionResponse
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.models.subscription_collection_response import SubscriptionCollectionResponse
from msgraph.generated.models.user import User
from msgraph.generated.users.item.calendar_view.delta.delta_get_response import DeltaGetResponse

from graph_emulator.testing import Webhook, att, event_payload

# Types Graph declares open (extra keys are legal there).
OPEN_TYPES = {"InnerError"}
_DT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})?$")


class _Probe:
    """Stands in for a kiota ParseNode to learn which typed getter a field deserializer calls."""

    def __init__(self):
        self.call = None

    def __getattr__(self, name):
        def record(*args):
            self.call = (name, args)
            return None

        return record


def validate(data, model, path="$"):
    """Raise AssertionError if `data` does not fit the kiota model class `model`."""
    assert isinstance(data, dict), f"{path}: expected object for {model.__name__}, got {type(data).__name__}"
    fields = model().get_field_deserializers()
    for key, value in data.items():
        if key.startswith("@") or "@odata." in key:
            continue
        if key not in fields:
            assert model.__name__ in OPEN_TYPES, f"{path}.{key}: not a property of {model.__name__}"
            continue
        if value is None:
            continue
        probe = _Probe()
        fields[key](probe)
        name, args = probe.call
        where = f"{path}.{key}"
        if name == "get_str_value":
            assert isinstance(value, str), f"{where}: expected string, got {value!r}"
        elif name == "get_bool_value":
            assert isinstance(value, bool), f"{where}: expected bool, got {value!r}"
        elif name == "get_int_value":
            assert isinstance(value, int) and not isinstance(value, bool), f"{where}: expected int, got {value!r}"
        elif name == "get_float_value":
            assert isinstance(value, (int, float)), f"{where}: expected number"
        elif name == "get_datetime_value":
            assert isinstance(value, str) and _DT.match(value), f"{where}: expected DateTimeOffset, got {value!r}"
        elif name == "get_date_value":
            date.fromisoformat(value)
        elif name == "get_time_value":
            assert re.match(r"^\d{2}:\d{2}:\d{2}(\.\d+)?$", value), f"{where}: expected time"
        elif name == "get_uuid_value":
            uuid.UUID(value)
        elif name == "get_enum_value":
            _check_enum(value, args[0], where)
        elif name == "get_collection_of_enum_values":
            assert isinstance(value, list)
            for v in value:
                _check_enum(v, args[0], where)
        elif name == "get_collection_of_primitive_values":
            assert isinstance(value, list) and all(isinstance(v, args[0]) for v in value), (
                f"{where}: expected list of {args[0]}"
            )
        elif name == "get_object_value":
            validate(value, args[0], where)
        elif name == "get_collection_of_object_values":
            assert isinstance(value, list), f"{where}: expected collection"
            for i, item in enumerate(value):
                validate(item, args[0], f"{where}[{i}]")
        else:
            raise AssertionError(f"{where}: unhandled kiota getter {name}")
    # Also make sure kiota itself parses it.
    import json

    JsonParseNodeFactory().get_root_parse_node("application/json", json.dumps(data).encode()).get_object_value(model)


def _check_enum(value, enum_cls, where):
    allowed = {m.value for m in enum_cls}
    # kiota enums may be flag-like, comma separated.
    assert all(v.strip() in allowed for v in str(value).split(",")), f"{where}: {value!r} not in {enum_cls.__name__}"


def test_validator_catches_mistakes():
    with pytest.raises(AssertionError):
        validate({"subject": "x", "colour": "red"}, Event)
    with pytest.raises(AssertionError):
        validate({"isAllDay": "yes"}, Event)
    with pytest.raises(AssertionError):
        validate({"sensitivity": "secret"}, Event)
    with pytest.raises(AssertionError):
        validate({"attendees": [{"emailAddress": {"adress": "a@b"}}]}, Event)


REQUESTS_SENT = [
    event_payload("Plain"),
    event_payload(
        "Full",
        "2030-04-15T12:00:00",
        "2030-04-15T14:00:00",
        "Pacific Standard Time",
        body={"contentType": "html", "content": "<p>x</p>"},
        location={"displayName": "Room"},
        attendees=[att("sam@contoso.example"), att("jane.doe@customer.example", kind="optional")],
        categories=["Blue category"],
        sensitivity="private",
        showAs="oof",
        isReminderOn=False,
        reminderMinutesBeforeStart=5,
        transactionId="tx-1",
        importance="high",
    ),
    event_payload("All day", "2030-11-11T00:00:00", "2030-11-12T00:00:00", isAllDay=True),
    event_payload(
        "Series",
        recurrence={
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"},
            "range": {"type": "endDate", "startDate": "2030-03-04", "endDate": "2030-04-30"},
        },
    ),
]


@pytest.mark.parametrize("payload", REQUESTS_SENT, ids=[p["subject"] for p in REQUESTS_SENT])
def test_event_requests_and_responses_fit_the_model(alex, payload):
    validate(payload, Event)
    created = alex.post("/me/events", json=payload)
    assert created.status_code == 201
    validate(created.json(), Event)
    ev_id = created.json()["id"]
    validate(alex.get(f"/me/events/{ev_id}", headers={"Prefer": 'outlook.body-content-type="text"'}).json(), Event)
    patch = {"subject": "changed", "categories": ["Red category"]}
    validate(patch, Event)
    validate(alex.patch(f"/me/events/{ev_id}", json=patch).json(), Event)
    validate(alex.get("/me/events").json(), EventCollectionResponse)
    view = alex.get(
        "/me/calendarView", params={"startDateTime": "2030-01-01T00:00:00Z", "endDateTime": "2031-01-01T00:00:00Z"}
    ).json()
    validate(view, EventCollectionResponse)


def test_delta_pages_fit_the_model(alex, outlook):
    alex.post("/me/events", json=REQUESTS_SENT[3]).json()
    one = alex.post("/me/events", json=REQUESTS_SENT[1]).json()
    window = {"startDateTime": "2030-03-01T00:00:00Z", "endDateTime": "2030-05-01T00:00:00Z"}
    page = alex.get("/me/calendarView/delta", params=window, headers={"Prefer": "odata.maxpagesize=3"}).json()
    validate(page, DeltaGetResponse)
    while "@odata.nextLink" in page:
        page = alex.get(page["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=3"}).json()
        validate(page, DeltaGetResponse)
    alex.delete(f"/me/events/{one['id']}")
    later = alex.get(page["@odata.deltaLink"]).json()
    validate(later, DeltaGetResponse)
    assert any("@removed" in v for v in later["value"])


def test_directory_settings_categories_fit_the_model(alex):
    validate(alex.get("/me").json(), User)
    validate(alex.get("/me/mailboxSettings").json(), MailboxSettings)
    validate(alex.get("/me/outlook/masterCategories").json(), OutlookCategoryCollectionResponse)
    body = {"displayName": "Odoo", "color": "preset9"}
    validate(body, OutlookCategory)
    validate(alex.post("/me/outlook/masterCategories", json=body).json(), OutlookCategory)


def test_errors_fit_the_odata_error_model(alex, tenant):
    validate(alex.get("/me/events/nope").json(), ODataError)
    validate(alex.post("/me/events", json={"subject": "x", "bogus": 1}).json(), ODataError)
    tenant.add_fault(kind="status", status=429, count=1)
    validate(alex.get("/me").json(), ODataError)


def test_subscriptions_and_notifications_fit(emu, alex, tenant):
    hook = Webhook()
    try:
        payload = {
            "changeType": "created,updated",
            "notificationUrl": hook.url,
            "resource": "me/events",
            "expirationDateTime": (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "clientState": "abc",
            "lifecycleNotificationUrl": hook.url,
        }
        validate(payload, Subscription)
        sub = alex.post("/subscriptions", json=payload).json()
        validate(sub, Subscription)
        validate(alex.get("/subscriptions").json(), SubscriptionCollectionResponse)
        alex.post("/me/events", json=event_payload())
        tenant.trigger_lifecycle(sub["id"], "reauthorizationRequired")
        assert emu.wait_for_notifications(10)
        # changeNotification (documented resource, not in msgraph-sdk v1.0 models).
        change_fields = {
            "id",
            "subscriptionId",
            "subscriptionExpirationDateTime",
            "changeType",
            "resource",
            "resourceData",
            "clientState",
            "tenantId",
            "lifecycleEvent",
            "encryptedContent",
            "includeResourceData",
        }
        for note in hook.notifications():
            assert set(note) <= change_fields, set(note) - change_fields
            assert _DT.match(note["subscriptionExpirationDateTime"])
            if "lifecycleEvent" in note:
                assert note["lifecycleEvent"] in {"reauthorizationRequired", "subscriptionRemoved", "missed"}
            else:
                assert note["changeType"] in {"created", "updated", "deleted"}
                assert set(note["resourceData"]) == {"@odata.type", "@odata.id", "@odata.etag", "id"}
    finally:
        hook.close()
