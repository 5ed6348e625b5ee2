"""State that survives a restart, as a real service's would: a JSON snapshot in data_dir/state/.

What is kept: the tenant (id, domain, settings, apps, users with their mailbox settings and
categories), identity tokens (authorization codes, refresh and access tokens; the signing key is
data_dir/identity-key.pem), every mailbox's events (with their extended properties; an event's
immutable id is derived from its default id, so both forms survive), subscriptions and delta state
(tokens and the rounds their skip tokens point into). Not kept: request logs, sent invitations,
the webhook delivery log, fault rules and notifications waiting to be delivered (test
instrumentation, not Graph state).

Files: tenant.json, delta.json and one mailbox-<id>.json per mailbox, each written atomically
(temporary file + os.replace). A background writer checks every `interval` seconds and rewrites
only the files whose content changed. Every record is serialised again only when it changed: an
event once per changeKey (every write gives an event a new changeKey), a delta token once (they
never change), and each tenant record (a user, a subscription, a code, a token) when it no longer
equals the copy taken at its last serialisation. So the part of a pass that holds the state lock
stays small with 10,000 mailboxes, subscriptions and tokens: comparing, plus copying what changed;
encoding, joining and writing happen outside the lock. Real Graph does not slow down as a tenant
grows, and a writer that encoded the whole tenant under the lock every half second held it most
of the time at 10,000 mailboxes (bench/engine_notes.md). A pass that still takes long (a first
pass, a tenant that changes everywhere at once) spaces the next ones out: the writer waits at least
ten times its last pass, so it never takes more than a tenth of the emulator's time.
`flush()` (also `state.flush()` and POST /_emulator/flush) re-serialises everything and writes now;
`stop()` does the same, so a clean stop loses nothing."""

import contextlib
import copy
import dataclasses
import json
import os
import threading
import time
from datetime import date, datetime

FORMAT_VERSION = 1


def _encode(value):
    """JSON-ready copy keeping datetimes, dates, sets and tuples (tagged)."""
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v) for v in value]}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, (set, frozenset)):
        return {"$set": [_encode(v) for v in sorted(value, key=repr)]}
    return value


def _decode_hook(obj):
    if len(obj) == 1:
        ((key, value),) = obj.items()
        if key == "$dt":
            return datetime.fromisoformat(value)
        if key == "$d":
            return date.fromisoformat(value)
        if key == "$set":
            return set(value)
        if key == "$tuple":
            return tuple(value)
    return obj


def _dumps(value):
    return json.dumps(_encode(value), separators=(",", ":"), ensure_ascii=False)


def _loads(text):
    return json.loads(text, object_hook=_decode_hook)


class _RecordsJson:
    """The JSON of one map of records (subscriptions, tokens, users), each record encoded again only when it
    changed. `take` runs under the state lock and costs one equality check per record plus a deep copy of
    the changed ones; `text` runs outside it."""

    def __init__(self, as_list=False):
        self.as_list = as_list  # a JSON list of the records (tenant.json's "mailboxes") instead of an object
        self._records = {}  # key -> [copy of the record when encoded, its JSON or None until encoded]
        self._text = None
        self.changed = True

    def take(self, records, full=False):
        old, new = self._records, {}
        changed = full or len(old) != len(records)
        for key, record in records.items():
            entry = old.get(key)
            if full or entry is None or entry[0] != record:
                entry, changed = [copy.deepcopy(record), None], True
            new[key] = entry
        self._records, self.changed = new, changed

    def text(self):
        if self.changed or self._text is None:
            for entry in self._records.values():
                if entry[1] is None:
                    entry[1] = _dumps(entry[0])
            if self.as_list:
                self._text = "[" + ",".join(e[1] for e in self._records.values()) + "]"
            else:
                self._text = "{" + ",".join(f"{json.dumps(k)}:{e[1]}" for k, e in self._records.items()) + "}"
        return self._text


class Persistence:
    def __init__(self, state, data_dir, interval=0.5):
        self.state = state
        self.dir = os.path.join(data_dir, "state")
        self.interval = interval
        self._events = {}  # mailbox id -> {event id: (changeKey, json)}
        self._tokens = {}  # ("token"|"round", key) -> json
        self._written = {}  # file name -> signature last written
        self._tenant_parts = {
            name: _RecordsJson(as_list=name == "mailboxes")
            for name in ("mailboxes", "subscriptions", "codes", "refresh_tokens", "access_tokens")
        }
        from .state import Mailbox

        self._mailbox_fields = [f.name for f in dataclasses.fields(Mailbox) if f.name not in ("events", "changes")]
        self._frozen_written = None  # the delta tokens and rounds delta.json holds
        self._head = None  # tenant.json's small part (tenant, settings, apps) as last written
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self.last_lock_ms = 0.0  # how long the last pass held the state lock (benchmarks, tests)
        self.last_pass_ms = 0.0  # how long the last pass took in all; the next one waits at least 10 times that
        self.writes = 0

    # ------------------------------------------------------------ load

    def load(self, tenant_id=None):
        """Restore a snapshot written by an earlier run. Returns True if one was loaded.

        A snapshot of another tenant (explicit `tenant_id` that differs) is ignored."""
        path = os.path.join(self.dir, "tenant.json")
        if not os.path.exists(path):
            return False
        with open(path, encoding="utf-8") as fh:
            data = _loads(fh.read())
        if data.get("version") != FORMAT_VERSION or (tenant_id and tenant_id != data["tenant_id"]):
            return False
        from .state import App, ByMailbox, Mailbox

        st = self.state
        with st.lock:
            st.tenant_id, st.domain = data["tenant_id"], data["domain"]
            st.settings.update(data["settings"])
            st.apps = {a["client_id"]: App(**a) for a in data["apps"]}
            st.mailboxes = {}
            for meta in data["mailboxes"]:
                mb = Mailbox(**meta)
                mfile = os.path.join(self.dir, f"mailbox-{mb.id}.json")
                if os.path.exists(mfile):
                    with open(mfile, encoding="utf-8") as fh:
                        mb.events = {ev["id"]: ev for ev in _loads(fh.read())["events"]}
                st.mailboxes[mb.id] = mb
            st.subscriptions = ByMailbox("_mailbox", data["subscriptions"])
            if st.identity is not None:
                st.identity.codes = data["identity"]["codes"]
                st.identity.refresh_tokens = data["identity"]["refresh_tokens"]
                st.identity.access_tokens = data["identity"]["access_tokens"]
            dfile = os.path.join(self.dir, "delta.json")
            if os.path.exists(dfile):
                with open(dfile, encoding="utf-8") as fh:
                    delta = _loads(fh.read())
                st.delta_tokens = ByMailbox("mailbox", delta["tokens"])
                st.delta_rounds = ByMailbox("mailbox", delta["rounds"])
        return True

    # ------------------------------------------------------------ write

    def start(self):
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="graph-emulator-persistence", daemon=True)
            self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def _run(self):
        while not self._stop.wait(max(self.interval, self.last_pass_ms / 100)):
            try:
                self._pass(full=False)
            except Exception:  # never let the writer die; the next pass or stop() retries
                import traceback

                traceback.print_exc()

    def flush(self):
        """Serialise everything again and write what changed, now. Returns True."""
        self._pass(full=True)
        return True

    def _mailbox_parts(self, mb, full):
        """Each event's JSON, re-serialised only when its changeKey moved (or for a full pass)."""
        old = {} if full else self._events.get(mb.id, {})
        new, parts = {}, []
        for eid, ev in mb.events.items():
            cached = old.get(eid)
            if cached is None or cached[0] != ev["changeKey"]:
                cached = (ev["changeKey"], _dumps(ev))
            new[eid] = cached
            parts.append(cached[1])
        self._events[mb.id] = new
        return parts

    def _frozen_json(self, kind, key, value):
        cached = self._tokens.get((kind, key))
        if cached is None:
            cached = self._tokens[(kind, key)] = _dumps(value)
        return cached

    def _pass(self, full):
        st = self.state
        parts = self._tenant_parts
        with self._write_lock:
            started = time.perf_counter()
            files = {}
            with st.lock:
                identity = st.identity
                head = {
                    "version": FORMAT_VERSION,
                    "tenant_id": st.tenant_id,
                    "domain": st.domain,
                    "settings": copy.deepcopy(st.settings),
                    "apps": [dataclasses.asdict(a) for a in st.apps.values()],
                }
                parts["mailboxes"].take(
                    {mb.id: {name: getattr(mb, name) for name in self._mailbox_fields} for mb in st.mailboxes.values()},
                    full,
                )
                parts["subscriptions"].take(st.subscriptions, full)
                for name in ("codes", "refresh_tokens", "access_tokens"):
                    parts[name].take(getattr(identity, name) if identity else {}, full)
                signatures = {}
                for mb in st.mailboxes.values():
                    name = f"mailbox-{mb.id}.json"
                    # Every event change goes through state.notify (mb.changes); tests that empty
                    # mb.events directly change its length.
                    signatures[name] = (mb.changes, len(mb.events), id(mb.events))
                    if full or self._written.get(name) != signatures[name]:
                        files[name] = self._mailbox_parts(mb, full)
                    else:
                        files[name] = None  # unchanged since the last write
                live = set(st.mailboxes)
                tokens = [(t, self._frozen_json("token", t, r)) for t, r in st.delta_tokens.items()]
                rounds = [(r, self._frozen_json("round", r, v)) for r, v in st.delta_rounds.items()]
                keep_frozen = {("token", t) for t, _ in tokens} | {("round", r) for r, _ in rounds}
            self.last_lock_ms = (time.perf_counter() - started) * 1000
            # Outside the state lock: encode, drop stale cache entries, join, compare, write.
            if full or head != self._head or any(part.changed for part in parts.values()):
                files["tenant.json"] = (
                    _dumps(head)[:-1]
                    + f',"mailboxes":{parts["mailboxes"].text()},"subscriptions":{parts["subscriptions"].text()}'
                    + ',"identity":{'
                    + ",".join(
                        f'"{name}":{parts[name].text()}' for name in ("codes", "refresh_tokens", "access_tokens")
                    )
                    + "}}"
                )
                self._head = head
            for key in [k for k in self._events if k not in live]:
                del self._events[key]  # mailboxes that are gone
            for key in [k for k in self._tokens if k not in keep_frozen]:
                del self._tokens[key]
            for name, events in list(files.items()):
                if isinstance(events, list):
                    files[name] = '{"events":[' + ",".join(events) + "]}"
            keep = set(files)
            if full or keep_frozen != self._frozen_written:  # tokens and rounds never change, only come and go
                files["delta.json"] = (
                    '{"tokens":{'
                    + ",".join(f"{json.dumps(t)}:{j}" for t, j in tokens)
                    + '},"rounds":{'
                    + ",".join(f"{json.dumps(r)}:{j}" for r, j in rounds)
                    + "}}"
                )
                self._frozen_written = keep_frozen
            os.makedirs(self.dir, exist_ok=True)
            for name, text in files.items():
                if text is None:
                    continue
                signature = signatures.get(name, hash(text))
                if not full and self._written.get(name) == signature:
                    continue
                self._atomic_write(name, text)
                self._written[name] = signature
            for name in os.listdir(self.dir):
                if name.startswith("mailbox-") and name.endswith(".json") and name not in keep:
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(os.path.join(self.dir, name))
                    self._written.pop(name, None)
            self.last_pass_ms = (time.perf_counter() - started) * 1000

    def _atomic_write(self, name, text):
        path = os.path.join(self.dir, name)
        tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
        self.writes += 1
