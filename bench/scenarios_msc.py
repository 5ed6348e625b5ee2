"""The same work done by Odoo's own Outlook sync (``microsoft_calendar``), against the same emulator.

microsoft_calendar is not touched: its endpoint constants are re-pointed at the
emulator in this process only, and its plain ``requests.request`` calls (no
``verify=``) trust the emulator's CA through REQUESTS_CA_BUNDLE. The user gets
tokens from the emulator through MSAL and stored where microsoft_calendar keeps
them (``microsoft_calendar_token`` + validity, ``microsoft_calendar_rtoken``).
Changes are made the way a user's requests make them: one committed transaction
each, as the user; microsoft_calendar then calls Graph in its post-commit hooks.
"""

import os
import time
from datetime import datetime, timedelta

from odoo import api

from .common import (
    CLIENT_ID,
    CLIENT_SECRET,
    CUSTOMER_DOMAIN,
    ORG_DOMAIN,
    STRANGER_DOMAIN,
    TENANT,
    Meter,
    create_outlook_events,
    create_user,
    outlook_event,
    superuser_env,
)
from .connect import msal_tokens
from .scenarios_o365 import change_mix

PATCHED = []


def point_microsoft_calendar_at(emu):
    """Re-point microsoft_account's endpoints at the emulator (this process only; Odoo's files unchanged)."""
    from odoo.addons.microsoft_account.models import microsoft_service

    original_graph = microsoft_service.DEFAULT_MICROSOFT_GRAPH_ENDPOINT
    microsoft_service.DEFAULT_MICROSOFT_GRAPH_ENDPOINT = emu.base_url  # its URIs start with /v1.0
    microsoft_service.DEFAULT_MICROSOFT_TOKEN_ENDPOINT = emu.base_url + f"/{TENANT}/oauth2/v2.0/token"
    microsoft_service.DEFAULT_MICROSOFT_AUTH_ENDPOINT = emu.base_url + f"/{TENANT}/oauth2/v2.0/authorize"
    # _do_request's default ``preuri`` captured the Graph endpoint when the module was imported.
    function = microsoft_service.MicrosoftService._do_request
    function.__defaults__ = tuple(emu.base_url if d == original_graph else d for d in function.__defaults__)
    # requests.request(...) without verify=: only the environment can make it trust the emulator's CA.
    os.environ["REQUESTS_CA_BUNDLE"] = emu.ca_path
    PATCHED[:] = [
        "microsoft_service.DEFAULT_MICROSOFT_GRAPH_ENDPOINT",
        "microsoft_service.DEFAULT_MICROSOFT_TOKEN_ENDPOINT",
        "microsoft_service.DEFAULT_MICROSOFT_AUTH_ENDPOINT",
        "MicrosoftService._do_request default preuri",
        "REQUESTS_CA_BUNDLE",
    ]


def configure_microsoft_calendar(registry):
    with registry.cursor() as cr:
        params = superuser_env(cr)["ir.config_parameter"]
        params.set_param("microsoft_calendar_client_id", CLIENT_ID)
        params.set_param("microsoft_calendar_client_secret", CLIENT_SECRET)
        params.set_param("microsoft_calendar_sync_paused", False)


def make_msc_user(registry, emu, login):
    """A user connected the way microsoft_calendar stores a connection (tokens from MSAL)."""
    from odoo.addons.o365_calendar_sync.utils.settings import AzureAppSettings

    upn = f"{login}@{ORG_DOMAIN}"
    emu.state.add_user(upn, display_name=login, time_zone="UTC")
    app = AzureAppSettings(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        tenant=TENANT,
        login_endpoint=emu.base_url,
        graph_endpoint=emu.graph_url,
        ca_bundle=emu.ca_path,
    )
    access_token, refresh_token, ttl = msal_tokens(emu, app, upn)
    with registry.cursor() as cr:
        env = superuser_env(cr)
        user = create_user(env, login, upn)
        user._set_microsoft_auth_tokens(access_token, refresh_token, ttl)
        user.microsoft_synchronization_stopped = False
        return user.id, upn


# -- push ------------------------------------------------------------------------------------


def scenario_msc_push(registry, emu, out, changes):
    creates, edits, deletes = change_mix(changes)
    stamp = time.strftime("%H%M%S")
    user_id, upn = make_msc_user(registry, emu, f"bench_msc_push_{stamp}")
    out.update(changes=creates + edits + deletes, creates=creates, edits=edits, deletes=deletes, upn=upn)
    ids = []
    base = datetime.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    with Meter(emu) as total:
        for i in range(creates):
            with registry.cursor() as cr:
                env = api.Environment(cr, user_id, {})
                start = base + timedelta(days=i % 200, hours=i % 8)
                event = env["calendar.event"].create(
                    {
                        "name": f"Bench meeting {i}",
                        "start": start,
                        "stop": start + timedelta(minutes=30),
                        "user_id": user_id,
                        "partner_ids": [(6, 0, [env.user.partner_id.id])],
                    }
                )
                ids.append(event.id)
        for event_id in ids[:edits]:
            with registry.cursor() as cr:
                env = api.Environment(cr, user_id, {})
                env["calendar.event"].browse(event_id).write({"name": f"Bench meeting edited {event_id}"})
        for event_id in ids[len(ids) - deletes :]:
            with registry.cursor() as cr:
                api.Environment(cr, user_id, {})["calendar.event"].browse(event_id).unlink()
    out["total"] = total.result
    events = emu.state.events_raw(upn)
    edited = sum(1 for e in events if "Bench meeting edited" in e["subject"])
    with registry.cursor() as cr:
        unsynced = superuser_env(cr)["calendar.event"].search_count(
            [("id", "in", ids[: len(ids) - deletes]), "|", ("microsoft_id", "=", False), ("need_sync_m", "=", True)]
        )
    out["verified"] = len(events) == creates - deletes and edited == min(edits, creates - deletes) and not unsynced
    out["verification"] = (
        f"{len(events)} events in the mailbox (expected {creates - deletes}), {edited} edited, "
        f"{unsynced} Odoo events not marked as synced"
    )
    out["patched"] = list(PATCHED)


# -- pull ------------------------------------------------------------------------------------


def scenario_msc_pull(registry, emu, out, events):
    stamp = time.strftime("%H%M%S")
    user_id, upn = make_msc_user(registry, emu, f"bench_msc_pull_{stamp}")
    matching = events // 2
    with registry.cursor() as cr:
        emails = [f"m{stamp}.{i}@{CUSTOMER_DOMAIN}" for i in range(matching)]
        superuser_env(cr)["res.partner"].create(
            [{"name": f"Bench Contact {i}", "email": e} for i, e in enumerate(emails)]
        )
    attendees = emails + [f"nobody{stamp}.{i}@{STRANGER_DOMAIN}" for i in range(events - matching)]
    graph_ids = create_outlook_events(
        emu, upn, [outlook_event(i, a, day_offset=1 + i % 90) for i, a in enumerate(attendees)]
    )
    out.update(events=events, with_contact=matching, upn=upn)
    # What the cron _sync_all_microsoft_calendar does for one user.
    with Meter(emu) as m, registry.cursor() as cr:
        user = api.Environment(cr, user_id, {})["res.users"].browse(user_id)
        user.with_user(user).sudo()._sync_microsoft_calendar()
    out["total"] = m.result
    with registry.cursor() as cr:
        imported = superuser_env(cr)["calendar.event"].search_count([("microsoft_id", "in", graph_ids)])
    out["imported"] = imported
    out["verified"] = imported == events
    out["verification"] = f"{imported} calendar events created in Odoo (microsoft_calendar imports every event)"
    out["events_per_request"] = events / max(m.result["graph"]["http"], 1)
    out["ingest_per_s"] = events / m.result["wall_s"]
    out["patched"] = list(PATCHED)
