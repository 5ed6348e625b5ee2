"""Microsoft's official Python SDK (msgraph-sdk) as a real client of the emulator, unchanged: only its base URL,
its httpx client (trusting the emulator CA) and a TokenCredential returning an emulator token are configured.
Covers events CRUD on /me and /users/{upn}, calendarView through PageIterator, calendarView delta through the
SDK's own request builder (…/calendarView/delta()), and subscriptions create/renew/delete."""

import asyncio
import ssl
import time
from datetime import UTC, datetime, timedelta

import httpx
from azure.core.credentials import AccessToken
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph import graph_request_adapter as sdk_adapter
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.event import Event
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import CalendarViewRequestBuilder
from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import DeltaRequestBuilder
from msgraph_core import GraphClientFactory, PageIterator

from graph_emulator.testing import Webhook

ALEX = "alex@contoso.example"


class EmulatorToken:
    """An azure-core TokenCredential (async form) that hands out an emulator access token."""

    def __init__(self, token):
        self.token = token

    async def get_token(self, *scopes, **kwargs):
        return AccessToken(self.token, int(time.time()) + 3000)


def _client(emu, token):
    http = httpx.AsyncClient(verify=ssl.create_default_context(cafile=emu.ca_path), trust_env=False)
    auth = AzureIdentityAuthenticationProvider(
        EmulatorToken(token), scopes=["https://graph.microsoft.com/.default"], allowed_hosts=["127.0.0.1"]
    )
    # The SDK's own default middleware options (its /users/me-token-to-replace → /me rewrite among them).
    client = GraphClientFactory.create_with_default_middleware(client=http, options=sdk_adapter.options)
    adapter = GraphRequestAdapter(auth, client=client)
    adapter.base_url = emu.graph_url
    return GraphServiceClient(request_adapter=adapter), adapter, http


def _event(subject, day, hour):
    return Event(
        subject=subject,
        start=DateTimeTimeZone(date_time=f"2030-03-{day:02d}T{hour:02d}:00:00", time_zone="UTC"),
        end=DateTimeTimeZone(date_time=f"2030-03-{day:02d}T{hour:02d}:30:00", time_zone="UTC"),
    )


def _run(emu, alex, scenario):
    async def main():
        client, adapter, http = _client(emu, alex.s.headers["Authorization"][7:])
        try:
            return await scenario(client, adapter)
        finally:
            await http.aclose()

    return asyncio.run(main())


def test_sdk_events_crud_on_me_and_users_upn(emu, alex, tenant):
    """issue 11 (msgraph-sdk): create, get, update and delete events on /me and on /users/{upn}."""

    async def scenario(client, _adapter):
        created = await client.me.events.post(_event("SDK me", 4, 9))
        assert created.id and created.subject == "SDK me"
        got = await client.me.events.by_event_id(created.id).get()
        assert got.start.date_time.startswith("2030-03-04T09:00:00")
        patched = await client.me.events.by_event_id(created.id).patch(Event(subject="SDK me 2"))
        assert patched.subject == "SDK me 2" and patched.change_key != created.change_key
        user = client.users.by_user_id(ALEX)  # "@" percent-encoded in the path by kiota
        other = await user.events.post(_event("SDK upn", 5, 10))
        listed = await user.events.get()
        assert sorted(e.subject for e in listed.value) == ["SDK me 2", "SDK upn"]
        await user.events.by_event_id(other.id).delete()
        await client.me.events.by_event_id(created.id).delete()
        return (await client.me.events.get()).value

    assert _run(emu, alex, scenario) == []
    assert tenant.events_raw(ALEX) == []


def test_sdk_calendar_view_with_page_iterator(emu, alex, tenant):
    """issue 11 (msgraph-sdk): calendarView pages followed by msgraph_core's PageIterator."""
    me = tenant.act_as(ALEX)
    for i in range(12):
        me.create_event(
            {
                "subject": f"v{i:02d}",
                "start": {"dateTime": f"2030-03-10T{8 + i:02d}:00:00", "timeZone": "UTC"},
                "end": {"dateTime": f"2030-03-10T{8 + i:02d}:30:00", "timeZone": "UTC"},
            }
        )

    async def scenario(client, adapter):
        params = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
            start_date_time="2030-03-01T00:00:00Z", end_date_time="2030-04-01T00:00:00Z", top=5
        )
        first = await client.me.calendar_view.get(RequestConfiguration(query_parameters=params))
        assert len(first.value) == 5 and first.odata_next_link
        seen = []
        iterator = PageIterator(first, adapter)
        await iterator.iterate(lambda ev: seen.append(ev.subject) or True)
        return seen

    assert _run(emu, alex, scenario) == [f"v{i:02d}" for i in range(12)]


def test_sdk_calendar_view_delta_request_builder(emu, alex, tenant):
    """issue 11 (msgraph-sdk): delta through client.me.calendar_view.delta (URL …/calendarView/delta()),
    nextLink pages and the deltaLink round that reports a change."""
    me = tenant.act_as(ALEX)
    first = me.create_event(
        {
            "subject": "d0",
            "start": {"dateTime": "2030-03-11T08:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-03-11T09:00:00", "timeZone": "UTC"},
        }
    )
    for i in range(1, 4):
        me.create_event(
            {
                "subject": f"d{i}",
                "start": {"dateTime": f"2030-03-12T{8 + i:02d}:00:00", "timeZone": "UTC"},
                "end": {"dateTime": f"2030-03-12T{8 + i:02d}:30:00", "timeZone": "UTC"},
            }
        )

    async def scenario(client, _adapter):
        params = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            start_date_time="2030-03-01T00:00:00Z", end_date_time="2030-04-01T00:00:00Z"
        )
        config = RequestConfiguration(query_parameters=params)
        config.headers.add("Prefer", "odata.maxpagesize=2")
        page = await client.me.calendar_view.delta.get(config)
        subjects = [e.subject for e in page.value]
        while page.odata_next_link:
            page = await client.me.calendar_view.delta.with_url(page.odata_next_link).get()
            subjects += [e.subject for e in page.value]
        assert sorted(subjects) == ["d0", "d1", "d2", "d3"] and page.odata_delta_link
        await client.me.events.by_event_id(first["id"]).patch(Event(subject="d0 moved"))
        later = await client.me.calendar_view.delta.with_url(page.odata_delta_link).get()
        return [e.subject for e in later.value]

    assert _run(emu, alex, scenario) == ["d0 moved"]


def test_sdk_subscriptions_create_renew_delete(emu, alex, tenant):
    """issue 11 (msgraph-sdk): subscriptions create (with the validation handshake), renew and delete."""
    hook = Webhook()

    async def scenario(client, _adapter):
        expires = datetime.now(UTC) + timedelta(hours=2)
        sub = await client.subscriptions.post(
            Subscription(
                change_type="created,updated,deleted",
                notification_url=hook.url,
                resource="me/events",
                expiration_date_time=expires,
                client_state="sdk-state",
            )
        )
        assert sub.id and sub.client_state == "sdk-state" and len(hook.validations) == 1
        renewed = await client.subscriptions.by_subscription_id(sub.id).patch(
            Subscription(expiration_date_time=expires + timedelta(hours=1))
        )
        assert renewed.expiration_date_time > sub.expiration_date_time
        await client.subscriptions.by_subscription_id(sub.id).delete()
        return sub.id

    try:
        _run(emu, alex, scenario)
        assert tenant.list_subscriptions() == []
    finally:
        hook.close()
