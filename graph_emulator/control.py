"""Control and inspection API under /_emulator/ (JSON). Each route maps onto a
TenantState method so tests can use either HTTP or `emu.state` directly."""

import re

from cryptography.hazmat.primitives import hashes

from . import meetings, webui
from .errors import GraphError
from .httpio import Response, json_response


def _err(status, message):
    return json_response({"error": {"code": "EmulatorControlError", "message": message}}, status)


def _app_json(app):
    from .identity import load_certificate

    thumbprints = [load_certificate(pem).fingerprint(hashes.SHA1()).hex().upper() for pem in app.certificates]
    return {
        "client_id": app.client_id,
        "display_name": app.display_name,
        "redirect_uris": app.redirect_uris,
        "allow_any_localhost_redirect": app.allow_any_localhost_redirect,
        "has_secret": app.secret is not None,
        "certificate_thumbprints": thumbprints,
        "application_permissions": list(app.application_permissions),
        "granted_roles": list(app.granted_roles),
        "mailbox_scope": None if app.mailbox_scope is None else list(app.mailbox_scope),
        "service_principal_id": app.service_principal_id,
    }


def _create_events(emu, state, body):
    """POST /_emulator/mailboxes/events {"events": [{"upn", "event"}, ...]}: each user creates the event in
    Outlook, as their own POST /users/{upn}/events would (state.create_events), without the latency and
    overhead of one Graph round trip each. 201 {"value": [the event as Graph answers that POST, ...]}."""
    from . import graph

    items = body.get("events") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ValueError('{"events": [{"upn": ..., "event": {...}}, ...]} expected')
    pairs = []
    for index, item in enumerate(items):
        if not (isinstance(item, dict) and isinstance(item.get("upn"), str) and isinstance(item.get("event"), dict)):
            raise ValueError(f"events[{index}]: an object with upn (string) and event (object) expected")
        pairs.append((item["upn"], item["event"]))
    try:
        created = state.create_events(pairs, render=lambda ev: graph.event_entity(emu, ev))
    except GraphError as err:
        if not hasattr(err, "bulk_index"):
            raise
        # The events before it were created (and notified), as after separate POSTs; nothing after it was.
        return json_response(dict(err.body(), index=err.bulk_index, value=err.bulk_created), err.status, err.headers)
    return json_response({"value": created}, 201)


def handle(emu, req):
    state = emu.state
    path, method = req.path.rstrip("/"), req.method
    try:
        body = req.json() if req.body else {}
    except GraphError as err:
        return _err(400, err.message)
    body = body or {}
    try:
        return _route(emu, state, req, path, method, body)
    except KeyError as exc:
        return _err(404, f"not found: {exc.args[0] if exc.args else ''}")
    except ValueError as exc:
        return _err(400, str(exc))
    except GraphError as err:
        return json_response(err.body(), err.status, err.headers)


def _route(emu, state, req, path, method, body):
    if path in ("/_emulator/ui", "") or path == "/_emulator/ui/event":
        return webui.page(emu, req)
    if path == "/_emulator/reset" and method == "POST":
        state.reset()
        return json_response({"ok": True})
    if path == "/_emulator/tenant" and method == "GET":
        return json_response(
            {
                "tenantId": state.tenant_id,
                "domain": state.domain,
                "baseUrl": emu.base_url,
                "httpBaseUrl": emu.http_base_url,
                "graphUrl": emu.graph_url,
                "authority": emu.authority_url(),
                "caPath": emu.ca_path,
            }
        )
    if path == "/_emulator/settings":
        if method == "GET":
            return json_response(state.settings)
        if method in ("PATCH", "POST"):
            return json_response(state.update_settings(**body))
    if path == "/_emulator/users":
        if method == "GET":
            with state.lock:
                return json_response(
                    {
                        "value": [
                            dict(mb.user_json(), timeZone=mb.time_zone, isAdmin=mb.admin)
                            for mb in state.mailboxes.values()
                        ]
                    }
                )
        if method == "POST":
            mb = state.add_user(
                body["upn"] if "upn" in body else body["userPrincipalName"],
                body.get("displayName"),
                body.get("timeZone", "UTC"),
                body.get("id"),
                admin=bool(body.get("admin") or body.get("isAdmin")),
            )
            return json_response(dict(mb.user_json(), timeZone=mb.time_zone, isAdmin=mb.admin), 201)
    m = re.match(r"^/_emulator/users/([^/]+)$", path)
    if m and method == "PATCH":
        # {"admin": true|false}: make the user a tenant administrator (state.set_admin)
        mb = state.set_admin(m.group(1), bool(body.get("admin", body.get("isAdmin"))))
        return json_response(dict(mb.user_json(), timeZone=mb.time_zone, isAdmin=mb.admin))
    if path == "/_emulator/apps":
        if method == "GET":
            with state.lock:
                return json_response({"value": [_app_json(a) for a in state.apps.values()]})
        if method == "POST":
            app = state.register_app(
                body["client_id"],
                body.get("secret"),
                body.get("redirect_uris", []),
                body.get("allow_any_localhost_redirect", True),
                body.get("display_name", "Registered app"),
                certificates=body.get("certificates", ()),
                application_permissions=body.get("application_permissions", ()),
            )
            with state.lock:
                return json_response(_app_json(app), 201)
    m = re.match(r"^/_emulator/apps/([^/]+)(?:/(admin-consent|mailbox-scope))?$", path)
    if m:
        client_id, what = m.group(1), m.group(2)
        if what is None and method == "GET":
            with state.lock:
                return json_response(_app_json(state.app(client_id)))
        if what == "admin-consent" and method == "POST":
            return json_response({"granted": state.grant_admin_consent(client_id)})
        if what == "admin-consent" and method == "DELETE":
            state.revoke_admin_consent(client_id)
            return Response(204)
        if what == "mailbox-scope" and method == "GET":
            with state.lock:
                scope = state.app(client_id).mailbox_scope
                return json_response({"upns": None if scope is None else list(scope)})
        if what == "mailbox-scope" and method in ("PUT", "POST", "PATCH"):
            return json_response({"upns": state.set_app_mailbox_scope(client_id, body.get("upns"))})
        if what == "mailbox-scope" and method == "DELETE":
            state.set_app_mailbox_scope(client_id, None)
            return Response(204)
    if path == "/_emulator/mailboxes/events" and method == "POST":
        return _create_events(emu, state, body)
    m = re.match(r"^/_emulator/mailboxes/([^/]+)/(events|calendarView|external-invitations|categories)$", path)
    if m:
        upn, what = m.group(1), m.group(2)
        if what == "events" and method == "GET":
            return json_response({"value": state.events_raw(upn, include_private_fields=True)})
        if what == "calendarView" and method == "GET":
            return json_response(
                {"value": state.calendar_view(upn, req.query.get("startDateTime"), req.query.get("endDateTime"))}
            )
        if what == "categories" and method == "GET":
            return json_response({"value": list(state.mailbox(upn).categories)})
        if what == "external-invitations" and method == "POST":
            return json_response(state.act_as(upn).receive_invitation(body["organizer"], body["event"]), 201)
    m = re.match(r"^/_emulator/mailboxes/([^/]+)/events/([^/]+)/(external-update|external-cancel)$", path)
    if m and method == "POST":
        with state.lock:
            mb = state.mailbox(m.group(1))
            if m.group(3) == "external-update":
                ev = meetings.external_update(state, mb, m.group(2), body)
            else:
                ev = meetings.external_cancel(state, mb, m.group(2))
            from . import events as E

            return json_response(E.render(ev, {}, emu.base_url))
    if path == "/_emulator/invitations":
        if method == "GET":
            return json_response({"value": state.list_invitations(req.query.get("attendee"), req.query.get("kind"))})
        if method == "DELETE":
            state.clear_invitations()
            return Response(204)
    if path == "/_emulator/requests":
        if method == "GET":
            return json_response(state.request_stats())
        if method == "DELETE":
            state.clear_requests()
            return Response(204)
    if path == "/_emulator/faults":
        if method == "GET":
            with state.lock:
                return json_response({"value": [dict(f) for f in state.faults]})
        if method == "POST":
            rules = body if isinstance(body, list) else [body]
            return json_response({"value": [state.add_fault(**r) for r in rules]}, 201)
        if method == "DELETE":
            state.clear_faults()
            return Response(204)
    if path == "/_emulator/delta/expire" and method == "POST":
        state.expire_delta_tokens(body["upn"], body.get("mode", "expire"))
        return json_response({"ok": True})
    if path == "/_emulator/tokens/expire" and method == "POST":
        state.expire_access_tokens(body.get("upn"))
        return json_response({"ok": True})
    if path == "/_emulator/tokens/revoke" and method == "POST":
        state.revoke_refresh_tokens(body["upn"])
        return json_response({"ok": True})
    if path == "/_emulator/subscriptions" and method == "GET":
        return json_response({"value": state.list_subscriptions()})
    m = re.match(r"^/_emulator/subscriptions/([^/]+)/lifecycle$", path)
    if m and method == "POST":
        return json_response(state.trigger_lifecycle(m.group(1), body.get("lifecycleEvent") or body.get("event")), 202)
    if path == "/_emulator/notifications":
        if method == "GET":
            with state.lock:
                return json_response({"value": list(state.notification_log)})
        if method == "DELETE":
            with state.lock:
                state.notification_log.clear()
            return Response(204)
    if path == "/_emulator/notifications/deliver" and method == "POST":
        # Deliver the notifications held back by the hold_notifications setting, now, and wait for the answers.
        return json_response({"delivered": state.deliver_notifications(float(body.get("timeout", 10)))})
    if path == "/_emulator/flush" and method == "POST":
        # Write the persisted state to data_dir now (tests; no sleeping for the debounced writer).
        return json_response({"flushed": state.flush()})
    if path == "/_emulator/notifications/wait" and method == "POST":
        return json_response({"idle": emu.notifier.wait_idle(float(body.get("timeout", 10)))})
    return _err(404, f"unknown control endpoint {method} {path}")
