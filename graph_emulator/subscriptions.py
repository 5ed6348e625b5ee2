"""Change-notification subscriptions and webhook delivery (GRAPH_FACTS §3).

Creating a subscription performs the real validation handshake; notifications
are batched and POSTed from a background thread with retries, so a slow or
failing receiver never blocks a Graph request."""

import json
import queue
import re
import threading
import time
import uuid
from datetime import timedelta
from urllib.parse import quote, urlsplit

import requests

from . import timezones
from .errors import GraphError, bad_request

CHANGE_TYPES = {"created", "updated", "deleted"}
LIFECYCLE_EVENTS = {"reauthorizationRequired", "subscriptionRemoved", "missed"}
FIELDS = {
    "changeType",
    "notificationUrl",
    "lifecycleNotificationUrl",
    "resource",
    "expirationDateTime",
    "clientState",
    "latestSupportedTlsVersion",
    "includeResourceData",
    "encryptionCertificate",
    "encryptionCertificateId",
    "notificationUrlAppId",
    "notificationQueryOptions",
    "@odata.type",
}
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def render(sub):
    out = {k: v for k, v in sub.items() if not k.startswith("_")}
    out["expirationDateTime"] = timezones.fmt_utc_stamp(sub["_expires"])
    return out


def _check_url(state, url, field):
    parts = urlsplit(url or "")
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS and state.settings["allow_http_notifications"]:
        return  # emulator liberty, see README
    raise bad_request(
        f"Subscription validation request failed. {field} must be a valid https URL.", code="ValidationError"
    )


def _expiry(state, text):
    if not text:
        raise bad_request(
            "expirationDateTime is a required property for subscription creation.", code="ValidationError"
        )
    when = timezones.parse_local(text, "UTC", "expirationDateTime")
    now = timezones.now_utc()
    max_minutes = int(state.settings["subscription_max_minutes"])
    if when <= now:
        raise bad_request("Subscription expiration can only be in the future.", code="ExtensionError")
    if state.settings["subscription_legacy_4230_error"] and when > now + timedelta(minutes=4230):
        raise bad_request("Subscription expiration can only be 4230 minutes in the future.", code="ExtensionError")
    if when > now + timedelta(minutes=max_minutes):
        raise bad_request(
            f"Subscription expiration can only be {max_minutes} minutes in the future.", code="ExtensionError"
        )
    floor = now + timedelta(minutes=int(state.settings["subscription_min_minutes"]))
    return max(when, floor)


def _resource_mailbox(state, resource, caller):
    m = re.match(r"^/?(me|users/([^/]+))/(events|calendar/events)$", resource or "", re.I)
    if not m:
        raise bad_request(
            f"Resource '{resource}' is not supported for change notifications in this emulator "
            "(use me/events or users/{id}/events).",
            code="InvalidRequest",
        )
    if m.group(1).lower() == "me":
        if getattr(caller, "is_app", False):
            raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
        return caller
    mb = state.find_mailbox(m.group(2).strip("'"))
    if mb is None:
        raise GraphError(404, "ResourceNotFound", f"Resource '{resource}' not found.")
    return mb


def validate_endpoint(state, url):
    """The handshake: POST url?validationToken=…; expect 200 text/plain echo within the timeout."""
    token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
    sep = "&" if "?" in url else "?"
    try:
        resp = requests.post(
            f"{url}{sep}validationToken={quote(token)}",
            data=b"",
            headers={"Content-Type": "text/plain; charset=utf-8"},
            timeout=float(state.settings["validation_timeout"]),
        )
    except requests.Timeout:
        raise bad_request("Subscription validation request timed out.", code="ValidationError") from None
    except requests.RequestException as exc:
        raise bad_request(
            "Subscription validation request failed. Notification endpoint must respond with 200 OK "
            f"to validation request. ({type(exc).__name__})",
            code="ValidationError",
        ) from exc
    if resp.status_code != 200:
        raise bad_request(
            (
                "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation "
                f"request. Got {resp.status_code}."
            ),
            code="ValidationError",
        )
    if resp.text != token:
        raise bad_request(
            "Subscription validation request failed. Response must exactly match validationToken query parameter.",
            code="ValidationError",
        )


def create(state, caller, payload, client_id, act_as, immutable=False, check=None):
    """POST /subscriptions. Validation runs without the state lock: the receiver may call back into Graph.

    An app-only caller (caller.is_app) may subscribe to any mailbox its roles and mailbox scope allow: `check`
    (graph.Context.require_mailbox) raises for the others. "Only application permissions can subscribe to other
    users' mailboxes" (GRAPH_FACTS §10; https://learn.microsoft.com/graph/change-notifications-overview)."""
    if not isinstance(payload, dict):
        raise bad_request("The request body must be a JSON object.", code="BadRequest")
    unknown = set(payload) - FIELDS
    if unknown:
        from .errors import unknown_property

        raise unknown_property(sorted(unknown)[0], "microsoft.graph.subscription")
    types = [t.strip() for t in (payload.get("changeType") or "").split(",") if t.strip()]
    if not types or set(types) - CHANGE_TYPES:
        raise bad_request(f"Invalid changeType '{payload.get('changeType')}'.", code="ValidationError")
    with state.lock:
        mb = _resource_mailbox(state, payload.get("resource"), caller)
        if getattr(caller, "is_app", False):
            try:
                if check is not None:
                    check(mb, "Calendars.Read", "Calendars.ReadWrite")
            except GraphError as err:
                # Graph wraps the mailbox's refusal: "Operation: Create; Exception: [Status Code: Forbidden;
                # Reason: Access to OData is disabled.]" (microsoftgraph/msgraph-sdk-java#510,
                # msgraph-sdk-javascript#252).
                raise GraphError(
                    403,
                    "ExtensionError",
                    f"Operation: Create; Exception: [Status Code: Forbidden; Reason: {err.message}]",
                ) from None
        elif mb is not caller and not act_as:
            raise GraphError(
                403,
                "ExtensionError",
                (
                    "Operation: Create; Exception: [Status Code: Forbidden; Reason: Access is denied. Check "
                    "credentials and try again.]"
                ),
            )
        _check_url(state, payload.get("notificationUrl"), "notificationUrl")
        if payload.get("lifecycleNotificationUrl"):
            _check_url(state, payload["lifecycleNotificationUrl"], "lifecycleNotificationUrl")
        expires = _expiry(state, payload.get("expirationDateTime"))
        if len(payload.get("clientState") or "") > 128:
            raise bad_request("clientState must be at most 128 characters.", code="ValidationError")
        active = len(state.subscriptions.keys_of(mb.id))
        if active >= 1000:
            raise GraphError(403, "ExtensionError", "Too many active subscriptions for this mailbox (limit 1000).")
    validate_endpoint(state, payload["notificationUrl"])
    if payload.get("lifecycleNotificationUrl"):
        validate_endpoint(state, payload["lifecycleNotificationUrl"])
    sub = {
        "id": str(uuid.uuid4()),
        "resource": payload["resource"],
        "applicationId": client_id or "outlook",
        "changeType": ",".join(types),
        "clientState": payload.get("clientState"),
        "notificationUrl": payload["notificationUrl"],
        "notificationQueryOptions": None,
        "lifecycleNotificationUrl": payload.get("lifecycleNotificationUrl"),
        "expirationDateTime": None,
        "creatorId": caller.id,
        "includeResourceData": None,
        "latestSupportedTlsVersion": payload.get("latestSupportedTlsVersion") or "v1_2",
        "encryptionCertificate": None,
        "encryptionCertificateId": None,
        "notificationUrlAppId": None,
        "_mailbox": mb.id,
        "_expires": expires,
        "_types": set(types),
        "_immutable": bool(immutable),  # resourceData ids in the immutable form
    }
    with state.lock:
        state.subscriptions[sub["id"]] = sub
    return sub


def _immutable_id(event_id):
    from .events import to_immutable

    return to_immutable(event_id)


def visible(sub, ctx):
    """Whether a caller may see/renew/delete a subscription: act-as sees all; an app-only caller every
    subscription of its app; a delegated caller those created for it (graph.py, GET /subscriptions)."""
    return _visible(sub, ctx.caller, ctx.act_as)


def _visible(sub, caller, act_as):
    if act_as:
        return True
    if getattr(caller, "is_app", False):
        return sub["applicationId"] == caller.client_id
    return sub["creatorId"] == caller.id


def get(state, caller, sub_id, act_as):
    sub = state.subscriptions.get(sub_id)
    if sub is None or not _visible(sub, caller, act_as):
        raise GraphError(404, "ResourceNotFound", f"The object was not found. Subscription '{sub_id}' does not exist.")
    return sub


def renew(state, caller, sub_id, payload, act_as):
    """PATCH /subscriptions/{id}: expirationDateTime and/or notificationUrl. A new notificationUrl goes
    through the validation handshake first and is refused (400, nothing changed) if it fails
    (https://learn.microsoft.com/en-us/graph/api/subscription-update: "notificationUrl … can be
    updated"; validation as on create). Call without holding state.lock."""
    payload = payload or {}
    with state.lock:
        sub = get(state, caller, sub_id, act_as)
        unknown = set(payload) - {"expirationDateTime", "notificationUrl", "@odata.type"}
        if unknown:
            raise bad_request(
                f"Only expirationDateTime and notificationUrl can be updated; '{sorted(unknown)[0]}' cannot be "
                "changed.",
                code="ValidationError",
            )
        expires = _expiry(state, payload["expirationDateTime"]) if "expirationDateTime" in payload else None
        new_url = payload.get("notificationUrl")
        if new_url is not None:
            _check_url(state, new_url, "notificationUrl")
    if new_url is not None and new_url != sub["notificationUrl"]:
        validate_endpoint(state, new_url)
    with state.lock:
        sub = get(state, caller, sub_id, act_as)
        if expires is not None:
            sub["_expires"] = expires
        if new_url is not None:
            sub["notificationUrl"] = new_url
    return sub


def delete(state, caller, sub_id, act_as):
    sub = get(state, caller, sub_id, act_as)
    state.subscriptions.pop(sub["id"], None)


def purge_expired(state):
    now = timezones.now_utc()
    for sid in [k for k, s in state.subscriptions.items() if s["_expires"] <= now]:
        state.subscriptions.pop(sid)


def trigger_lifecycle(state, sub_id, lifecycle_event):
    if lifecycle_event not in LIFECYCLE_EVENTS:
        raise ValueError(f"lifecycle event must be one of {sorted(LIFECYCLE_EVENTS)}")
    with state.lock:
        sub = state.subscriptions.get(sub_id)
        if sub is None:
            raise KeyError(sub_id)
        item = {
            "subscriptionId": sub["id"],
            "subscriptionExpirationDateTime": timezones.fmt_utc_stamp(sub["_expires"]),
            "tenantId": state.tenant_id,
            "clientState": sub["clientState"],
            "lifecycleEvent": lifecycle_event,
        }
        url = sub["lifecycleNotificationUrl"]
        if lifecycle_event == "subscriptionRemoved":
            state.subscriptions.pop(sub_id, None)
    if url and state.notifier:
        state.notifier.enqueue(url, item, kind="lifecycle")
    return {"delivered_to": url, "notification": item}


class Notifier:
    """Background delivery of change notifications, batched per notificationUrl."""

    def __init__(self, state):
        self.state = state
        self.queue = queue.Queue()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="graph-emulator-notifier", daemon=True)
        self.session = requests.Session()
        self.pending = 0
        self.pending_lock = threading.Condition()
        self.held = []  # (url, kind, items) kept back while settings["hold_notifications"]

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.queue.put(None)
        self.thread.join(timeout=5)

    def enqueue(self, url, item, kind="change"):
        with self.pending_lock:
            self.pending += 1
        self.queue.put((url, item, kind))

    def event_changed(self, mailbox, change_type, ev):
        if ev.get("type") == "occurrence":
            return
        now = timezones.now_utc()
        for sub in self.state.subscriptions.values_of(mailbox.id):
            if change_type not in sub["_types"] or sub["_expires"] <= now:
                continue
            event_id = ev["id"] if not sub.get("_immutable") else _immutable_id(ev["id"])
            resource = f"Users/{mailbox.id}/Events/{event_id}"
            self.enqueue(
                sub["notificationUrl"],
                {
                    "subscriptionId": sub["id"],
                    "subscriptionExpirationDateTime": timezones.fmt_utc_stamp(sub["_expires"]),
                    "changeType": change_type,
                    "resource": resource,
                    "resourceData": {
                        "@odata.type": "#Microsoft.Graph.Event",
                        "@odata.id": resource,
                        "@odata.etag": f'W/"{ev["changeKey"]}"',
                        "id": event_id,
                    },
                    "clientState": sub["clientState"],
                    "tenantId": self.state.tenant_id,
                },
            )

    def wait_idle(self, timeout=10.0):
        """Block until every queued notification was delivered or given up (for tests)."""
        deadline = time.time() + timeout
        with self.pending_lock:
            while self.pending:
                left = deadline - time.time()
                if left <= 0:
                    return False
                self.pending_lock.wait(left)
        return True

    def wait_held(self, timeout=2.0):
        """Block until no notification is left in the batching window (all pending are held, with
        ``hold_notifications``); the control a test calls instead of sleeping past the window.
        Returns how many are held."""
        deadline = time.time() + timeout
        with self.pending_lock:
            while self.pending > sum(len(items) for _u, _k, items in self.held) and time.time() < deadline:
                self.pending_lock.wait(max(0.0, deadline - time.time()))
            return sum(len(items) for _u, _k, items in self.held)

    def deliver_held(self, timeout=10.0):
        """Deliver the held notifications now, in the calling thread; return how many.

        For tests of a server that must not be called while the test itself uses
        its database (Odoo's test cursor): the test calls this at a moment of its
        choosing and waits for the answers, as it would for its own requests.
        """
        self.wait_held(timeout)
        with self.pending_lock:
            held, self.held = self.held, []
        for url, kind, items in held:
            self._deliver(url, kind, items)
        return sum(len(items) for _u, _k, items in held)

    def discard_held(self, timeout=2.0):
        """Drop the held notifications, as if Graph had lost them; return how many."""
        self.wait_held(timeout)
        with self.pending_lock:
            lost = sum(len(items) for _u, _k, items in self.held)
            self.held.clear()
            self.pending -= lost
            self.pending_lock.notify_all()
        return lost

    def _run(self):
        while not self.stopping.is_set():
            first = self.queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.time() + float(self.state.settings["notification_batch_window"])
            while time.time() < deadline:
                try:
                    nxt = self.queue.get(timeout=max(0.0, deadline - time.time()))
                except queue.Empty:
                    break
                if nxt is None:
                    self.stopping.set()
                    break
                batch.append(nxt)
            groups = {}
            for url, item, kind in batch:
                groups.setdefault((url, kind), []).append(item)
            for (url, kind), items in groups.items():
                if self.state.settings.get("hold_notifications"):
                    with self.pending_lock:
                        self.held.append((url, kind, items))
                        self.pending_lock.notify_all()
                    continue
                threading.Thread(target=self._deliver, args=(url, kind, items), daemon=True).start()

    def _deliver(self, url, kind, items):
        delays = [0.0, *list(self.state.settings["notification_retry_delays"])]
        entry = {
            "url": url,
            "kind": kind,
            "count": len(items),
            "attempts": [],
            "delivered": False,
            "payload": {"value": items},
        }
        for delay in delays:
            if delay:
                time.sleep(delay)
            started = time.time()
            try:
                resp = self.session.post(
                    url,
                    data=json.dumps({"value": items}),
                    headers={"Content-Type": "application/json; charset=utf-8"},
                    timeout=float(self.state.settings["notification_timeout"]),
                )
                elapsed = time.time() - started
                entry["attempts"].append({"status": resp.status_code, "seconds": round(elapsed, 3)})
                if 200 <= resp.status_code < 300:
                    entry["delivered"] = True
                    break
            except requests.RequestException as exc:
                entry["attempts"].append(
                    {"status": None, "error": type(exc).__name__, "seconds": round(time.time() - started, 3)}
                )
        with self.state.lock:
            self.state.notification_log.append(entry)
        with self.pending_lock:
            self.pending -= len(items)
            self.pending_lock.notify_all()
