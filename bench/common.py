"""What every benchmark scenario shares: Odoo on a real database, the Graph
emulator with per-request latency, and the meter that reads the numbers.

A scenario runs in its own process (see bench/run.py), so the process's peak
memory belongs to that scenario alone. The emulator runs in that process too,
in its own threads: Odoo CPU is therefore read per thread (time.thread_time of
the threads doing Odoo work), which leaves the emulator's CPU out.
"""

import json
import os
import resource
import tempfile
import threading
import time
from contextlib import contextmanager

import odoo
from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry

CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret"
TENANT = "contoso.example"
ORG_DOMAIN = "contoso.example"
CUSTOMER_DOMAIN = "customer.example"
STRANGER_DOMAIN = "elsewhere.example"
CALLBACK_PATH = "/o365_calendar_sync/oauth/callback"


def boot_odoo(dbname):
    """Odoo's config and the database's registry, as a server worker has them."""
    odoo.tools.config.parse_config(["-c", os.environ["ODOO_CONF"], "-d", dbname, "--log-level=warn"])
    odoo.service.server.load_server_wide_modules()
    return Registry(dbname)


def superuser_env(cr):
    return api.Environment(cr, SUPERUSER_ID, {})


def create_user(env, login, upn):
    """An internal user (who may also manage contacts) with the mailbox ``upn``, in UTC."""
    groups = [env.ref("base.group_user").id, env.ref("base.group_partner_manager").id]
    return env["res.users"].create(
        {"name": login, "login": login, "email": upn, "tz": "UTC", "groups_id": [(6, 0, groups)]}
    )


def start_emulator(latency_ms):
    """The project's Graph emulator, in this process, with ``latency_ms`` added to every Graph request."""
    from odoo.addons.o365_calendar_sync.graph_emulator import GraphEmulator

    emu = GraphEmulator(host="127.0.0.1", port=0, http_port=0, data_dir=tempfile.mkdtemp(prefix="o365-bench-emu-"))
    emu.start()
    emu.state.register_app(CLIENT_ID, CLIENT_SECRET)
    if latency_ms:
        # A fault rule of kind "latency" for every mailbox, never exhausted (count=None).
        emu.state.add_fault(kind="latency", latency_ms=int(latency_ms))
    return emu


def graph_counts(emu, since=0):
    """The app's traffic since request number ``since`` of the emulator's log.

    ``http``: HTTP requests to Graph (/v1.0; a $batch counts once); ``operations``:
    Graph operations (each $batch item counts); ``login``: requests to the identity
    platform (discovery, token). Requests made as an Outlook user (act-as) are not the app's.
    """
    log = [r for r in emu.state.request_stats()["requests"][since:] if not r.get("actAs")]
    graph = [r for r in log if r.get("path", "").startswith("/v1.0")]
    http = [r for r in graph if not r.get("inBatch")]
    ops = [r for r in graph if r.get("inBatch") or r.get("path", "").rstrip("/") != "/v1.0/$batch"]
    by_endpoint, statuses = {}, {}
    for r in http:
        key = f"{r['method']} {r['endpoint']}"
        by_endpoint[key] = by_endpoint.get(key, 0) + 1
    for r in graph:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    return {
        "http": len(http),
        "operations": len(ops),
        "login": len(log) - len(graph),
        "by_endpoint": by_endpoint,
        "statuses": statuses,
    }


def request_count(emu):
    with emu.state.lock:
        return len(emu.state.requests)


def rss_mb():
    """Current resident memory of this process (MB), from /proc."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Meter:
    """Wall time, Odoo CPU (threads doing Odoo work), SQL queries, Graph requests, memory.

    Use as a context manager around the measured work; worker threads started
    inside report their own CPU with ``add_thread_cpu``.
    """

    def __init__(self, emu):
        self.emu = emu
        self.result = {}
        self._extra_cpu = 0.0
        self._lock = threading.Lock()

    def add_thread_cpu(self, seconds):
        with self._lock:
            self._extra_cpu += seconds

    def __enter__(self):
        self._req0 = request_count(self.emu)
        self._rss0 = rss_mb()
        self._sql0 = odoo.sql_db.sql_counter
        self._cpu0 = time.thread_time()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self._t0
        cpu = time.thread_time() - self._cpu0 + self._extra_cpu
        self.result = {
            "wall_s": wall,
            "odoo_cpu_s": cpu,
            "sql_queries": odoo.sql_db.sql_counter - self._sql0,
            "graph": graph_counts(self.emu, self._req0),
            "rss_start_mb": self._rss0,
            "peak_rss_mb": peak_rss_mb(),
        }
        return False


def thread_cpu_worker(meter, target, *args):
    """Run ``target`` in a thread whose CPU time is added to ``meter``; returns (thread, results list)."""
    results, errors = [], []

    def run():
        start = time.thread_time()
        try:
            results.append(target(*args))
        except Exception as exc:
            errors.append(exc)
        finally:
            meter.add_thread_cpu(time.thread_time() - start)

    return threading.Thread(target=run), results, errors


def configure_module(registry, emu, public_base_url=""):
    """Point the module's settings at the emulator (what an administrator does in Settings, S1)."""
    values = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "tenant": TENANT,
        "login_endpoint": emu.base_url,
        "graph_endpoint": emu.graph_url,
        "ca_bundle": emu.ca_path,
        "public_base_url": public_base_url,
        "org_domains": ORG_DOMAIN,
    }
    with registry.cursor() as cr:
        params = superuser_env(cr)["ir.config_parameter"]
        for key, value in values.items():
            params.set_param(f"o365_calendar_sync.{key}", value)


def quiesce_module_db(registry):
    """Earlier runs' accounts point at emulators that are gone: stop them so no job touches them."""
    with registry.cursor() as cr:
        cr.execute("UPDATE o365_sync_account SET sync_state = 'stopped' WHERE sync_state = 'running'")
        cr.execute("DELETE FROM o365_push_queue")
        cr.execute("DELETE FROM o365_pull_request")


def outlook_session(emu, upn):
    """A requests session acting as ``upn`` in Outlook (emulator act-as header, no token)."""
    import requests

    session = requests.Session()
    session.headers["X-Emulator-Act-As"] = upn
    session.verify = emu.ca_path
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override session.verify
    return session


def outlook_event(index, attendee, day_offset=1):
    """A plain single meeting (Graph event JSON) with one attendee, ``day_offset`` days ahead."""
    from datetime import UTC, datetime, timedelta

    start = (datetime.now(UTC) + timedelta(days=day_offset)).replace(
        hour=9 + index % 8, minute=0, second=0, microsecond=0
    )
    return {
        "subject": f"Bench meeting {index}",
        "body": {"contentType": "text", "content": f"Benchmark meeting number {index}."},
        "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {"dateTime": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "attendees": [{"emailAddress": {"address": attendee, "name": attendee.split("@")[0]}, "type": "required"}],
    }


def create_outlook_events(emu, upn, payloads):
    """Create events in ``upn``'s mailbox as the user would in Outlook, 20 per $batch (setup, not measured)."""
    session = outlook_session(emu, upn)
    ids = []
    for start in range(0, len(payloads), 20):
        chunk = payloads[start : start + 20]
        body = {
            "requests": [
                {
                    "id": str(i),
                    "method": "POST",
                    "url": "/me/events",
                    "headers": {"Content-Type": "application/json"},
                    "body": payload,
                }
                for i, payload in enumerate(chunk)
            ]
        }
        answer = session.post(emu.graph_url + "/$batch", json=body, timeout=60)
        answer.raise_for_status()
        for item in sorted(answer.json()["responses"], key=lambda r: int(r["id"])):
            if item["status"] != 201:
                raise RuntimeError(f"emulator refused a setup event: {item}")
            ids.append(item["body"]["id"])
    return ids


@contextmanager
def scenario_output(path):
    """Collect a scenario's result dict and write it as JSON, also when it fails."""
    out = {"status": "ok"}
    try:
        yield out
    except Exception as exc:
        import traceback

        out["status"] = "failed"
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()[-4000:]
        raise
    finally:
        with open(path, "w") as f:
            json.dump(out, f, indent=1, default=str)
