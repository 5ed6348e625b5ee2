"""The tenant: users and their mailboxes, registered apps, settings, logs.

One re-entrant lock guards everything; HTTP handlers take it for the duration of
a Graph operation, and every public method here takes it too, so tests can call
them directly from other threads."""

import collections
import copy
import threading
import uuid
from dataclasses import dataclass, field

from . import events as ev_mod
from . import timezones
from .errors import GraphError

# create_events: events created per hold of the state lock (one create with an external attendee takes
# a fraction of a millisecond; other clients' requests wait at most one such chunk).
BULK_EVENTS_PER_LOCK = 25

DEFAULT_CATEGORIES = [
    ("Red category", "preset0"),
    ("Orange category", "preset1"),
    ("Yellow category", "preset3"),
    ("Green category", "preset4"),
    ("Blue category", "preset7"),
    ("Purple category", "preset8"),
]

DEFAULT_SETTINGS = {
    "strict_all_day": True,  # 400 for non-midnight all-day bounds
    "allow_http_notifications": True,  # emulator liberty: http:// webhooks on localhost
    "subscription_max_minutes": 10080,
    "subscription_legacy_4230_error": False,
    "subscription_min_minutes": 45,
    "validation_timeout": 10.0,
    "notification_timeout": 3.0,  # Graph treats a slower answer as failed
    "notification_retry_delays": [0.5, 1.0, 2.0],
    "notification_batch_window": 0.05,
    "max_concurrent_per_mailbox": 4,
    "mailbox_budget": 10000,
    "mailbox_budget_window": 600,
    # Tests: keep change notifications back until deliver_notifications() is called.
    "hold_notifications": False,
    # Entra rotates refresh tokens but keeps a used one valid until it expires; tests
    # that prove a client stores the rotated token can make reuse fail instead.
    "single_use_refresh_tokens": False,
    "access_token_lifetime": 3599,
    "refresh_token_lifetime": 90 * 86400,
}


class ByMailbox(dict):
    """A dict of records (subscriptions, delta tokens, delta rounds) that also knows which keys belong to
    each mailbox (record[field], set when the record is stored and never changed), so per-mailbox questions
    ("this mailbox's subscriptions", "its oldest delta tokens") do not scan the whole tenant under the state
    lock. At 10,000 mailboxes each scan held the lock for milliseconds on every change and every delta read.
    Only the mutating methods the emulator uses are kept in step with the index."""

    def __init__(self, field, records=None):
        super().__init__()
        self.field = field
        self._keys = {}  # mailbox id -> {key: None}, in the order the records were stored
        for key, record in (records or {}).items():
            self[key] = record

    def __setitem__(self, key, record):
        if key in self:
            self._unindex(key)
        super().__setitem__(key, record)
        self._keys.setdefault(record[self.field], {})[key] = None

    def __delitem__(self, key):
        self._unindex(key)
        super().__delitem__(key)

    def pop(self, key, *default):
        if key in self:
            self._unindex(key)
        return super().pop(key, *default)

    def clear(self):
        self._keys.clear()
        super().clear()

    def _unindex(self, key):
        mailbox = dict.__getitem__(self, key)[self.field]
        keys = self._keys.get(mailbox, {})
        keys.pop(key, None)
        if not keys:
            self._keys.pop(mailbox, None)

    def keys_of(self, mailbox_id):
        return list(self._keys.get(mailbox_id, ()))

    def values_of(self, mailbox_id):
        return [dict.__getitem__(self, key) for key in self._keys.get(mailbox_id, ())]

    def __deepcopy__(self, memo):  # the index is rebuilt
        return ByMailbox(self.field, {k: copy.deepcopy(v, memo) for k, v in self.items()})

    def setdefault(self, *args):
        raise NotImplementedError("ByMailbox keeps an index: store records with [key] = record")

    update = popitem = setdefault


@dataclass
class Mailbox:
    id: str
    upn: str
    display_name: str
    time_zone: str = "UTC"
    categories: list = field(default_factory=list)
    events: dict = field(default_factory=dict)
    delta_generation: int = 1
    delta_reset: bool = False  # next delta use answers 410 with a Location header
    changes: int = 0  # bumped on every event change (persistence.py writes a mailbox only when it moved)
    # A tenant administrator (Global / Privileged Role / Cloud Application Administrator in Entra): only
    # such a user can grant admin consent at /{tenant}/adminconsent (identity.py).
    admin: bool = False

    @property
    def mail(self):
        return self.upn

    def email(self):
        return {"name": self.display_name, "address": self.upn}

    def user_json(self):
        given, _, surname = self.display_name.partition(" ")
        return {
            "id": self.id,
            "displayName": self.display_name,
            "givenName": given or None,
            "surname": surname or None,
            "mail": self.upn,
            "userPrincipalName": self.upn,
            "businessPhones": [],
            "jobTitle": None,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": "en-US",
        }


@dataclass
class App:
    client_id: str
    secret: str
    redirect_uris: list = field(default_factory=list)
    allow_any_localhost_redirect: bool = True
    display_name: str = "Registered app"
    # PEM X.509 certificates (public part) whose private keys may sign client assertions.
    certificates: list = field(default_factory=list)
    # Application permissions the registration requests (its requiredResourceAccess, type "Role").
    application_permissions: list = field(default_factory=list)
    # Application permissions granted by admin consent: the access token's "roles".
    granted_roles: list = field(default_factory=list)
    # Exchange RBAC for Applications management scope: mailbox UPNs/ids the app may reach; None = all.
    mailbox_scope: list = None
    # The object id of the app's service principal in the tenant: app-only tokens carry it as oid/sub.
    service_principal_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def in_mailbox_scope(self, mailbox):
        if self.mailbox_scope is None:
            return True
        keys = {k.lower() for k in self.mailbox_scope}
        return mailbox.id.lower() in keys or mailbox.upn.lower() in keys

    def redirect_allowed(self, uri):
        if uri in self.redirect_uris:
            return True
        if self.allow_any_localhost_redirect:
            from urllib.parse import urlparse

            p = urlparse(uri or "")
            return p.scheme in ("http", "https") and p.hostname in ("localhost", "127.0.0.1")
        return False


class TenantState:
    def __init__(self, tenant_id=None, domain="contoso.example"):
        self.lock = threading.RLock()
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.domain = domain
        self.notifier = None  # set by the emulator (subscriptions.Notifier)
        self.identity = None  # set by the emulator (identity.Identity)
        self.persistence = None  # set by the emulator (persistence.Persistence)
        self._init_data()

    def _init_data(self):
        self.settings = copy.deepcopy(DEFAULT_SETTINGS)
        self.mailboxes = {}  # id -> Mailbox
        self._by_upn = {}  # lower-case UPN -> Mailbox; find_mailbox checks and rebuilds it
        self.apps = {}  # client_id -> App
        self.invitations = []
        self.requests = []
        self.notification_log = []
        self.subscriptions = ByMailbox("_mailbox")  # id -> dict
        self.delta_tokens = ByMailbox("mailbox")  # token -> dict (skip tokens point into a round)
        self.delta_rounds = ByMailbox("mailbox")  # round id -> {pending, new_snapshot, window}
        self.faults = []
        self.inflight = collections.Counter()
        self.budget = collections.defaultdict(collections.deque)

    # ------------------------------------------------------------ lifecycle

    def reset(self):
        """Back to an empty tenant; notifications held for the old one are dropped."""
        if self.notifier is not None:
            self.notifier.discard_held()
        with self.lock:
            tenant = self.tenant_id
            self._init_data()
            self.tenant_id = tenant
            if self.identity:
                self.identity.reset()

    def update_settings(self, **values):
        with self.lock:
            unknown = set(values) - set(self.settings)
            if unknown:
                raise ValueError(f"unknown settings: {sorted(unknown)}")
            self.settings.update(values)
            return dict(self.settings)

    # ------------------------------------------------------------ users and apps

    def add_user(self, upn, display_name=None, time_zone="UTC", user_id=None, categories=True, admin=False):
        """admin=True: a tenant administrator, who can grant admin consent (see also set_admin)."""
        with self.lock:
            upn = upn.strip()
            if self.find_mailbox(upn):
                raise ValueError(f"user {upn} exists")
            mb = Mailbox(
                id=user_id or str(uuid.uuid4()),
                upn=upn,
                display_name=display_name or upn.split("@")[0].title(),
                time_zone=time_zone,
                admin=bool(admin),
            )
            if categories:
                mb.categories = [{"id": str(uuid.uuid4()), "displayName": n, "color": c} for n, c in DEFAULT_CATEGORIES]
            self.mailboxes[mb.id] = mb
            return mb

    def find_mailbox(self, key):
        """By id (exact) or userPrincipalName / mail (case-insensitive)."""
        if not key:
            return None
        with self.lock:
            if key in self.mailboxes:
                return self.mailboxes[key]
            # Every /users/{upn} request asks this under the state lock: a scan of 10,000 mailboxes per request
            # held the lock for half a millisecond each. The index is checked on use and rebuilt when it is
            # stale (a mailbox restored from disk, a tenant reset), so nothing else has to keep it up to date.
            low = key.lower()
            mb = self._by_upn.get(low)
            if mb is not None and self.mailboxes.get(mb.id) is mb and mb.upn.lower() == low:
                return mb
            self._by_upn = {}
            for each in self.mailboxes.values():
                self._by_upn.setdefault(each.upn.lower(), each)
            return self._by_upn.get(low)

    def mailbox(self, key):
        mb = self.find_mailbox(key)
        if mb is None:
            raise KeyError(f"no such user: {key}")
        return mb

    def set_admin(self, upn, admin=True):
        """Make a user a tenant administrator (or not)."""
        with self.lock:
            mb = self.mailbox(upn)
            mb.admin = bool(admin)
            return mb

    def register_app(
        self,
        client_id,
        secret,
        redirect_uris=(),
        allow_any_localhost_redirect=True,
        display_name="Registered app",
        certificates=(),
        application_permissions=(),
    ):
        """An app registration (and its service principal). `secret` may be None (certificate-only app).
        `application_permissions` are requested only; nothing is granted before admin consent."""
        from .identity import load_certificate

        certs = [c.strip() + "\n" for c in (certificates or ())]
        for pem in certs:
            load_certificate(pem)  # ValueError for something that is not a PEM certificate
        with self.lock:
            app = App(
                client_id,
                secret,
                list(redirect_uris),
                allow_any_localhost_redirect,
                display_name,
                certificates=certs,
                application_permissions=list(dict.fromkeys(application_permissions or ())),
            )
            self.apps[client_id] = app
            return app

    def app(self, client_id):
        app = self.apps.get(client_id)
        if app is None:
            raise KeyError(f"no such app: {client_id}")
        return app

    def grant_admin_consent(self, client_id):
        """What an administrator's Accept at /adminconsent does: every requested application permission
        becomes a granted role (in tokens issued from now on). Returns the granted roles."""
        with self.lock:
            app = self.app(client_id)
            app.granted_roles = list(app.application_permissions)
            return list(app.granted_roles)

    def revoke_admin_consent(self, client_id):
        """Remove the granted application permissions. Tokens already issued keep their roles until they
        expire, as in Entra (roles are a claim of the token)."""
        with self.lock:
            self.app(client_id).granted_roles = []

    def set_app_mailbox_scope(self, client_id, upns):
        """Exchange RBAC for Applications: limit the app's mailbox access to these mailboxes (UPNs or ids);
        None = no scope, every mailbox (the default). Checked on every Graph request."""
        with self.lock:
            app = self.app(client_id)
            app.mailbox_scope = None if upns is None else [str(u) for u in upns]
            return None if app.mailbox_scope is None else list(app.mailbox_scope)

    # ------------------------------------------------------------ inspection

    def events_raw(self, upn, include_private_fields=False):
        """A mailbox's stored events rendered in UTC (series masters, singles, exceptions)."""
        with self.lock:
            mb = self.mailbox(upn)
            out = []
            for ev in mb.events.values():
                item = ev_mod.render(ev, {}, "")
                if include_private_fields:
                    item["_deletedOccurrences"] = sorted(d.isoformat() for d in ev.get("_deleted_occurrences", ()))
                out.append(item)
            return sorted(out, key=lambda e: (e["start"]["dateTime"], e["id"]))

    def calendar_view(self, upn, start, end, prefs=None):
        with self.lock:
            mb = self.mailbox(upn)
            s = timezones.parse_query_datetime(start, "start") if isinstance(start, str) else start
            e = timezones.parse_query_datetime(end, "end") if isinstance(end, str) else end
            return [ev_mod.render(x, prefs or {}, "") for x in ev_mod.calendar_view(mb.events, s, e)]

    def find_events(self, upn, subject=None, ical_uid=None):
        with self.lock:
            return [
                e
                for e in self.events_raw(upn)
                if (subject is None or e["subject"] == subject) and (ical_uid is None or e["iCalUId"] == ical_uid)
            ]

    def list_invitations(self, attendee=None, kind=None):
        with self.lock:
            return [
                dict(i)
                for i in self.invitations
                if (attendee is None or i["to"].lower() == attendee.lower()) and (kind is None or i["kind"] == kind)
            ]

    def clear_invitations(self):
        with self.lock:
            self.invitations.clear()

    def record_invitation(self, kind, organizer, to, ev, comment=None, response=None):
        internal = self.find_mailbox(to["address"]) is not None
        self.invitations.append(
            {
                "id": len(self.invitations) + 1,
                "time": timezones.fmt_utc_stamp(timezones.now_utc()),
                "kind": kind,
                "from": organizer["address"],
                "to": to["address"],
                "toName": to.get("name"),
                "internal": internal,
                "subject": ev.get("subject"),
                "iCalUId": ev.get("iCalUId"),
                "eventId": ev.get("id"),
                "comment": comment,
                "response": response,
            }
        )

    def log_request(self, entry):
        with self.lock:
            self.requests.append(entry)

    def request_stats(self):
        with self.lock:
            by_endpoint = collections.Counter(f"{r['method']} {r['endpoint']}" for r in self.requests)
            by_mailbox = collections.Counter(r["mailbox"] for r in self.requests if r.get("mailbox"))
            by_status = collections.Counter(str(r["status"]) for r in self.requests)
            return {
                "total": len(self.requests),
                "byEndpoint": dict(by_endpoint),
                "byMailbox": dict(by_mailbox),
                "byStatus": dict(by_status),
                "requests": [dict(r) for r in self.requests],
            }

    def token_request_count(self, client_id=None, grant_type=None):
        """POSTs to the token endpoint in the request log (cleared by clear_requests), optionally only
        one app's (clientId) or one grant type's (grantType: "client_credentials", "refresh_token", …)."""
        with self.lock:
            return sum(
                1
                for r in self.requests
                if r.get("grantType") is not None
                and (client_id is None or r.get("clientId") == client_id)
                and (grant_type is None or r.get("grantType") == grant_type)
            )

    def clear_requests(self):
        with self.lock:
            self.requests.clear()

    # ------------------------------------------------------------ hooks

    def expire_delta_tokens(self, upn, mode="expire"):
        """mode 'expire': old tokens answer 410 SyncStateNotFound; 'reset': 410 with a Location header."""
        with self.lock:
            mb = self.mailbox(upn)
            if mode == "reset":
                mb.delta_reset = True
            else:
                mb.delta_generation += 1

    def expire_access_tokens(self, upn=None):
        self.identity.expire_access_tokens(upn)

    def revoke_refresh_tokens(self, upn):
        self.identity.revoke_refresh_tokens(upn)

    def add_fault(self, **rule):
        from . import faults

        with self.lock:
            return faults.add(self, rule)

    def clear_faults(self):
        with self.lock:
            self.faults.clear()

    def list_subscriptions(self):
        with self.lock:
            from . import subscriptions

            return [subscriptions.render(s) for s in self.subscriptions.values()]

    def trigger_lifecycle(self, subscription_id, lifecycle_event):
        from . import subscriptions

        return subscriptions.trigger_lifecycle(self, subscription_id, lifecycle_event)

    def deliver_notifications(self, timeout=10.0):
        """Deliver the notifications held back by settings["hold_notifications"] (returns the count)."""
        return self.notifier.deliver_held(timeout) if self.notifier is not None else 0

    def flush(self):
        """Write the persisted state to data_dir now (see persistence.py); False if not persisted."""
        persistence = getattr(self, "persistence", None)
        return persistence.flush() if persistence is not None else False

    def notify(self, mailbox, change_type, ev):
        """Queue change notifications for every matching subscription on `mailbox`."""
        mailbox.changes += 1
        if self.notifier is not None:
            self.notifier.event_changed(mailbox, change_type, ev)

    # ------------------------------------------------------------ acting as Outlook

    def act_as(self, upn):
        """Graph calls made as the user in Outlook: `with state.act_as(upn) as me: me.create_event({...})`."""
        from .meetings import OutlookUser

        return OutlookUser(self, self.mailbox(upn))

    def create_events(self, items, render=None, per_lock=BULK_EVENTS_PER_LOCK):
        """Many users each create one event in Outlook: `items` = [(upn, payload), ...], in order.

        Each is what the user's own POST /users/{upn}/events does (meetings.create_event: changeKey,
        iCalUId, change notifications queued for the notifier thread, invitations, attendees' copies);
        no fault rule or limit applies (act-as requests are never faulted either). Every mailbox is
        looked up first, so an unknown UPN (KeyError) or a malformed item (ValueError) creates nothing.
        The lock is taken for `per_lock` events at a time, so other clients' Graph requests interleave.
        Returns [render(event)] (default: rendered in UTC). A payload Graph refuses raises its GraphError
        with `bulk_index` (its position) and `bulk_created` (the renders of the events created before it,
        which stay, as after separate POSTs)."""
        from . import meetings

        render = render or (lambda ev: ev_mod.render(ev, {}, ""))
        work = []
        with self.lock:
            for index, item in enumerate(items):
                if not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[1], dict):
                    raise ValueError(f"item {index}: (upn, event payload object) expected")
                work.append((self.mailbox(item[0]), item[1]))
        out = []
        for first in range(0, len(work), max(1, int(per_lock))):
            with self.lock:
                for index in range(first, min(len(work), first + max(1, int(per_lock)))):
                    mb, payload = work[index]
                    try:
                        ev, _created = meetings.create_event(self, mb, payload)
                    except GraphError as err:
                        err.bulk_index, err.bulk_created = index, out
                        raise
                    out.append(render(ev))
        return out
