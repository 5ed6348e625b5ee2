"""Engine benchmark on REAL odoo-bin servers: push and pull of many mailboxes, run by Odoo's own cron runner.

Nothing here calls a job method. The benchmark starts the Graph emulator
(``python -m graph_emulator``, own process, loopback, temporary ``--data-dir``) and
real ``odoo-bin`` servers (prefork, ``--workers=2``) on one database; the users'
saves are made in this process through Odoo's ORM (as an ``odoo shell`` script
would), and everything after the commit is the servers' work: the push cron(s),
the webhook controller, the pull cron(s).

Scenarios (``--only``):

* ``engine_push``: N connected, syncing mailboxes, one new activity each, created in
  one transaction. Measured: from the commit of that save until the push queue
  (``o365_push_queue``) is empty; then every mailbox is checked in the emulator
  for exactly one event of this run (nothing lost, nothing doubled).
* ``engine_pull``: one new Outlook meeting (with a matching contact) in each of the N
  mailboxes, made as the user through the emulator's control API in bulk (each one what the
  user's own POST would do, without a Graph round trip each); Graph's change notifications
  reach the server's controller (``public_base_url`` = the first server), and the
  pull cron(s) log them. Measured: from the first Outlook change until every meeting
  is linked in Odoo (``o365_event_link``), and per meeting the delay from its
  Outlook change to its record being visible in the database.
* ``engine_idle``: the connected mailboxes left idle for ``--idle-minutes`` on one
  server; Graph and token requests per mailbox, extrapolated to a day.
* ``engine_push_org``: ``engine_push`` with the organisation-wide connection (SPEC O1,
  O2): its own database (``<--db>_org``, same template) and its own emulator, the setting
  ``connection_mode`` = organization with an application registered in the emulator with
  the application permissions Calendars.ReadWrite, User.Read.All, MailboxSettings.Read
  and admin consent granted, N accounts connected by the organisation (written through
  the ORM: ``connected_by`` = organization, the emulator mailbox's UPN, no token cache),
  started with the Start Syncing button's method. The push job then groups mailboxes
  and one ``$batch`` carries changes of several of them. Measured as ``engine_push``,
  plus Graph requests per change (token requests included) for both modes.

Each of push and pull runs in every server layout of ``--configs``:
``a`` one server ``--workers=2 --max-cron-threads=1``; ``b`` one server
``--workers=2 --max-cron-threads=2``; ``c`` two servers (two ports, same
database), each ``--workers=2 --max-cron-threads=1``. A suffix ``30`` (``a30``...)
runs the same layout with ``--limit-time-real-cron=30``. With ``--full-size N``, N mailboxes
are connected, the layouts change the first ``--mailboxes`` of them (the rest stay
connected and idle), and layout ``a`` then runs once more with a change in all N: the
full-size row (``a@N``), from the same run and setup.

Setup (not measured): a copy of an installed template database, N users created in
batches, each connected through the real OAuth authorization-code flow against
the emulator (bench/connect.py) and started with the Start Syncing button's method;
a setup server (no cron time limit) creates the webhook subscriptions and does the
first pulls. Only then is the latency rule (``--latency-ms`` on every Graph round
trip) added.

With ``--profile-dir DIR``, each measured push and pull phase is profiled: ``py-spy record`` on every server
of the layout (its odoo-bin master and, with ``--subprocesses``, the workers), from just before the phase's first
change to its end, into ``DIR/<scenario>_<layout>.txt`` (``_s1``, ``_s2`` for the two servers of layout c);
``python -m bench.profile_summary DIR/engine_pull_a.txt --filter o365_calendar_sync`` summarises one. Only threads
on CPU are sampled, and sampling costs the servers some CPU: compare profiled runs with profiled runs.

Usage: ``python -m bench.engine --db o365_bench_engine --mailboxes 100`` (see --help);
``--only engine_push,engine_push_org --configs a`` measures both connection modes in one run.
"""

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

from .engine_procs import PY_SPY_OPTIONS, Emulator, OdooServer, PySpy, check_py_spy, find_py_spy, port_is_free
from .stats import percentile

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
SCENARIOS = ("engine_push", "engine_pull", "engine_idle", "engine_push_org")
USER_MODE_SCENARIOS = ("engine_push", "engine_pull", "engine_idle")
CLIENT_ID = "bench-engine-client"
CLIENT_SECRET = "bench-engine-secret"
# The organisation's application (SPEC O1): client credentials, admin consent granted.
ORG_CLIENT_ID = "bench-engine-org-client"
ORG_CLIENT_SECRET = "bench-engine-org-secret"
ORG_PERMISSIONS = ("Calendars.ReadWrite", "User.Read.All", "MailboxSettings.Read")
TARGET_ORG_REQUESTS_PER_CHANGE = 0.1
TENANT = "contoso.example"
ORG_DOMAIN = "contoso.example"
CUSTOMER_DOMAIN = "customer.example"
MODULE = "o365_calendar_sync"

LAYOUTS = {
    "a": ("one server, --workers=2 --max-cron-threads=1", [["--workers=2", "--max-cron-threads=1"]]),
    "b": ("one server, --workers=2 --max-cron-threads=2", [["--workers=2", "--max-cron-threads=2"]]),
    "c": (
        "two servers (same database), each --workers=2 --max-cron-threads=1",
        [["--workers=2", "--max-cron-threads=1"], ["--workers=2", "--max-cron-threads=1"]],
    ),
}
TARGET_PUSH_PER_S = 60
TARGET_PULL_PER_S = 60
TARGET_PULL_P99_S = 10


def log(message):
    print(f"[engine {time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__.split("\n\n")[0])
    p.add_argument("--db", default="o365_bench_engine", help="database of the run (rebuilt from a template)")
    p.add_argument("--mailboxes", type=int, default=2000, help="connected mailboxes, one change each (default 2000)")
    p.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated, among {','.join(SCENARIOS)}")
    p.add_argument("--configs", default="a,b,c,a30", help="server layouts: a, b, c, and a30/b30/c30 (cron limit 30 s)")
    p.add_argument(
        "--full-size",
        type=int,
        default=0,
        help="connect this many mailboxes; the layouts of --configs change --mailboxes of them, then layout a runs"
        " once more with one change in every one of them (default 0: off)",
    )
    p.add_argument("--latency-ms", type=int, default=100, help="added to every Graph round trip (default 100)")
    p.add_argument("--idle-minutes", type=float, default=5.0, help="engine_idle: idle window (default 5)")
    p.add_argument("--port", type=int, default=18069, help="first server's HTTP port (default 18069; +1 second)")
    p.add_argument("--gevent-port", type=int, default=18072, help="first server's gevent port (+1 second)")
    p.add_argument("--timeout", type=float, default=None, help="per phase, seconds (default 120 + 0.35 s/mailbox)")
    p.add_argument(
        "--stall",
        type=float,
        default=200,
        help="give a phase up after this many seconds without progress (default 200: above Odoo's 120 s cron limit)",
    )
    p.add_argument("--reuse-db", action="store_true", help="reuse the installed template database when current")
    p.add_argument("--out-dir", default=os.path.join(BENCH_DIR, "out"))
    p.add_argument(
        "--profile-dir",
        default=None,
        help="write a py-spy profile (collapsed stacks) of every server during each measured push and pull phase"
        " here, <scenario>_<layout>[_s1|_s2].txt; read them with python -m bench.profile_summary (default: none)",
    )
    p.add_argument("--command", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = set(args.only) - set(SCENARIOS)
    if bad:
        p.error(f"unknown scenario(s): {', '.join(sorted(bad))}")
    args.configs = [s.strip() for s in args.configs.split(",") if s.strip()]
    for config in args.configs:
        if config.rstrip("0123456789") not in LAYOUTS:
            p.error(f"unknown layout {config!r}: a, b, c, optionally followed by a cron time limit (a30)")
    args.full_size = args.full_size if args.full_size > args.mailboxes else 0
    if args.timeout is None:
        args.timeout = 120 + 0.35 * max(args.mailboxes, args.full_size)
    if args.profile_dir:
        args.profile_dir = os.path.abspath(args.profile_dir)
    return args


def py_spy_binary():
    """py-spy for --profile-dir: next to this interpreter or on PATH, else installed from bench/requirements.txt
    with this interpreter's pip (tools/bench.sh installs that file only when matplotlib is missing); checked
    able to read a process here."""
    binary = find_py_spy()
    if not binary:
        log("py-spy not found: installing bench/requirements.txt")
        requirements = os.path.join(BENCH_DIR, "requirements.txt")
        pip = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", requirements]
        subprocess.run(pip, check=False, timeout=600)
        binary = find_py_spy()
    if not binary:
        raise SystemExit(
            "--profile-dir needs py-spy (pip install py-spy): not found next to the interpreter or on PATH"
        )
    check_py_spy(binary)
    return binary


# -- environment and database --------------------------------------------------------------


def tool_env():
    for key in ("ODOO_CONF", "ODOO_BIN", "PY"):
        if not os.environ.get(key):
            raise SystemExit(f"{key} is not set: run through tools/bench.sh (or source tools/env.sh first)")
    return os.environ["PY"], os.environ["ODOO_BIN"], os.environ["ODOO_CONF"]


def psql(db, sql, check=True):
    result = subprocess.run(["psql", "-X", "-d", db, "-Atc", sql], capture_output=True, text=True, timeout=300)
    if check and result.returncode:
        raise RuntimeError(f"psql {db}: {result.stderr.strip()}")
    return result.stdout.strip()


def snapshot_module(workdir, conf):
    """Copy the checkout (module and emulator) to ``workdir`` and write an Odoo config that loads that copy.

    Other engineers change the checkout while a run goes on: every server of one run
    must load the same code, and the report must say which."""
    import shutil

    root = os.path.join(workdir, "addons", MODULE)
    shutil.copytree(
        REPO,
        root,
        ignore=shutil.ignore_patterns(".git", "out", "__pycache__", "*.pyc", ".pytest_cache"),
    )
    with open(conf) as f:
        text = f.read()
    text = re.sub(
        r"^addons_path\s*=\s*([^,\n]*)",
        lambda m: f"addons_path = {os.path.dirname(root)}",
        text,
        count=1,
        flags=re.M,
    )
    snapshot_conf = os.path.join(workdir, "odoo.conf")
    with open(snapshot_conf, "w") as f:
        f.write(text)
    return root, snapshot_conf


def module_hash(root=REPO):
    """A hash of the module's code and data (not its tests, benchmarks or emulator): the template
    database is updated when it changes."""
    digest = hashlib.sha1()
    skip = {".git", "bench", "tests", "graph_emulator", "static", "tools", "__pycache__", "out"}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in skip)
        for name in sorted(files):
            if name.endswith((".py", ".xml", ".csv")):
                path = os.path.join(folder, name)
                digest.update(os.path.relpath(path, root).encode())
                with open(path, "rb") as f:
                    digest.update(f.read())
    return digest.hexdigest()[:16]


def module_version():
    def git(*cmd):
        return subprocess.run(["git", *cmd], cwd=REPO, capture_output=True, text=True, timeout=30).stdout.strip()

    status = subprocess.run(
        ["git", "status", "--porcelain", "--", ".", ":!bench", ":!tests", ":!graph_emulator", ":!tools", ":!static"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    dirty = [line[3:] for line in status.splitlines() if line.strip()]
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted_module_files": dirty}


def prepare_database(args, py, odoo_bin, conf, workdir, root):
    """``args.db`` as a copy of a template with the module installed (rebuilt when the module changed)."""
    template = f"{args.db}_tmpl"
    wanted = module_hash(root)
    exists = psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{template}'") == "1"
    current, installed = "", False
    if exists:
        current = psql(
            template, "SELECT value FROM ir_config_parameter WHERE key = 'o365_bench.module_hash'", check=False
        )
        installed = (
            psql(
                template, f"SELECT 1 FROM ir_module_module WHERE name = '{MODULE}' AND state = 'installed'", check=False
            )
            == "1"
        )
    odoo = [py, odoo_bin, "-c", conf, "--stop-after-init", "--log-level=warn", "--without-demo=all"]
    if not (args.reuse_db and installed):
        log(f"installing {MODULE} into the template database {template} (about 1-2 minutes)")
        subprocess.run(["dropdb", "--if-exists", template], check=True, timeout=300)
        with open(os.path.join(workdir, "install.log"), "w") as f:
            subprocess.run([*odoo, "-d", template, "-i", MODULE], check=True, stdout=f, stderr=subprocess.STDOUT)
    elif current != wanted:
        log(f"the module changed since {template} was built: updating it (-u {MODULE})")
        with open(os.path.join(workdir, "update.log"), "w") as f:
            subprocess.run([*odoo, "-d", template, "-u", MODULE], check=True, stdout=f, stderr=subprocess.STDOUT)
    psql(
        template,
        "INSERT INTO ir_config_parameter (key, value, create_date, write_date) "
        f"VALUES ('o365_bench.module_hash', '{wanted}', now(), now()) "
        f"ON CONFLICT (key) DO UPDATE SET value = '{wanted}'",
    )
    copy_database(template, args.db)


def copy_database(template, db):
    subprocess.run(["dropdb", "--if-exists", db], check=True, timeout=300)
    subprocess.run(["createdb", "-T", template, db], check=True, timeout=600)
    log(f"database {db} copied from {template}")


# -- the harness's own Odoo (the users' saves, setup) ------------------------------------------


class Harness:
    booted = False

    def __init__(self, args, emulator, workdir, db=None):
        from .common import boot_odoo

        self.args = args
        self.db = db or args.db
        self.emu = emulator
        self.workdir = workdir
        if Harness.booted:
            # Odoo's config is parsed once per process (a second parse_config fails): the
            # second mode's database only needs its own registry.
            from odoo.modules.registry import Registry

            self.registry = Registry(self.db)
        else:
            self.registry = boot_odoo(self.db)
            Harness.booted = True
        self.upns = []
        self.user_ids = []
        self.contacts = []
        self.renew_nudges = 0  # wait_subscribed: renewal cron runs asked for missing subscriptions
        self.missing_subscriptions = []  # how many were missing at each of those
        import psycopg2

        from .scenarios_o365 import _pg_params

        self.conn = psycopg2.connect(dbname=self.db, **_pg_params())
        self.conn.autocommit = True

    def use(self, count):
        """The scenarios that follow change the first ``count`` connected mailboxes; the others stay connected
        and idle (their safety-net pulls still run, as in a company where a fifth of the users change something)."""
        if not hasattr(self, "_everyone"):
            self._everyone = (list(self.upns), list(self.user_ids), list(self.contacts))
        self.upns, self.user_ids, self.contacts = (people[:count] for people in self._everyone)

    def sql(self, query, params=None):
        with self.conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else None

    def table_exists(self, name):
        return self.sql("SELECT to_regclass(%s)", [name])[0][0] is not None

    def env(self, cr):
        from odoo import SUPERUSER_ID, api

        return api.Environment(cr, SUPERUSER_ID, {})

    def configure(self, public_base_url, **extra):
        values = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "tenant": TENANT,
            "login_endpoint": self.emu.base_url,
            "graph_endpoint": self.emu.graph_url,
            "ca_bundle": self.emu.ca_path,
            "public_base_url": public_base_url,
            "org_domains": ORG_DOMAIN,
            **extra,
        }
        with self.registry.cursor() as cr:
            params = self.env(cr)["ir.config_parameter"]
            for key, value in values.items():
                params.set_param(f"{MODULE}.{key}", value)

    def create_users(self, count, batch=200):
        """``count`` internal users (and ``count`` customer contacts), created in batches."""
        started = time.perf_counter()
        ctx = {"no_reset_password": True, "tracking_disable": True, "mail_create_nolog": True}
        for first in range(0, count, batch):
            with self.registry.cursor() as cr:
                env = self.env(cr)
                groups = [env.ref("base.group_user").id, env.ref("base.group_partner_manager").id]
                vals = []
                for i in range(first, min(count, first + batch)):
                    login = f"eng{i:05d}"
                    upn = f"{login}@{ORG_DOMAIN}"
                    vals.append(
                        {
                            "name": f"Engine {i}",
                            "login": login,
                            "email": upn,
                            "tz": "UTC",
                            "groups_id": [(6, 0, groups)],
                        }
                    )
                    self.upns.append(upn)
                users = env["res.users"].with_context(**ctx).create(vals)
                self.user_ids.extend(users.ids)
                emails = [f"c{i:05d}@{CUSTOMER_DOMAIN}" for i in range(first, min(count, first + batch))]
                env["res.partner"].with_context(**ctx).create(
                    [{"name": f"Customer {e.split('@')[0]}", "email": e} for e in emails]
                )
                self.contacts.extend(emails)
        log(f"{count} users and {count} contacts created in {time.perf_counter() - started:.0f} s")

    def connect_all(self, redirect_base, threads=4):
        """Connect every user through the real OAuth flow (bench/connect.py), one commit each."""
        from .connect import connect_account

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(self.emu.add_user, self.upns))

        def connect(index):
            with self.registry.cursor() as cr:
                env = self.env(cr)
                user = env["res.users"].browse(self.user_ids[index])
                account = env["o365.sync.account"]._for_user(user)
                connect_account(self.emu, account, self.upns[index], redirect_base=redirect_base)

        with ThreadPoolExecutor(threads) as pool:
            for n, _ in enumerate(pool.map(connect, range(len(self.upns))), 1):
                if n % 500 == 0:
                    log(f"  {n} connected")
        log(f"{len(self.upns)} mailboxes connected (OAuth code flow + /me) in {time.perf_counter() - started:.0f} s")

    def connect_org_all(self, batch=500):
        """The organisation connects every mailbox (SPEC O1), written through the ORM as the benchmark's
        fast setup: ``connected_by`` = organization, the emulator mailbox's UPN, no token cache; no
        user signs in. (The module's own way, the start-users wizard's ``_start_users``, asks Graph about each
        mailbox first; its outcome is the same rows.)"""
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(self.emu.add_user, self.upns))
        for first in range(0, len(self.user_ids), batch):
            with self.registry.cursor() as cr:
                env = self.env(cr)
                Account = env["o365.sync.account"]
                for user in env["res.users"].browse(self.user_ids[first : first + batch]):
                    Account._for_user(user).write(
                        {
                            "connected_by": "organization",
                            "connection_state": "connected",
                            "mailbox_address": user.email.lower(),
                            "mailbox_timezone": "UTC",
                            "token_cache": False,
                            "last_error": False,
                        }
                    )
        log(f"{len(self.upns)} mailboxes connected by the organisation in {time.perf_counter() - started:.0f} s")

    def start_sync_all(self):
        """Each user presses Start Syncing (the button's method, as that user), in one transaction."""
        with self.registry.cursor() as cr:
            env = self.env(cr)
            for user in env["res.users"].browse(self.user_ids):
                user.with_user(user).action_o365_start_sync()

    def accounts_state(self):
        rows = self.sql(
            "SELECT count(*) FILTER (WHERE connection_state = 'connected' AND sync_state = 'running'"
            " AND sync_started_at IS NOT NULL), count(*) FILTER (WHERE subscription_id IS NOT NULL)"
            " FROM o365_sync_account WHERE user_id = ANY(%s)",
            [self.user_ids],
        )
        return {"running": rows[0][0], "subscribed": rows[0][1]}

    def wait_subscribed(self, timeout):
        """Until every account has its subscription and nothing waits for the pull job (setup).

        Requests the pull job left behind without being woken again (it would take them at
        its next interval) are nudged by triggering the pull cron, as a notification would;
        the count of nudges is reported."""
        deadline = time.time() + timeout
        nudges, last, still = 0, None, 0
        while time.time() < deadline:
            state = self.accounts_state()
            pending = self.pull_requests()
            if state["subscribed"] >= len(self.upns) and pending == 0:
                return nudges
            progress = (state["subscribed"], pending)
            still = still + 1 if progress == last else 0
            last = progress
            if still >= 5 and pending == 0 and state["subscribed"] < len(self.upns):
                # Nothing waits, yet subscriptions are missing: their creation failed (e.g. 429) and
                # the module makes them again only with its renewal cron (every 6 hours): run it now.
                with self.registry.cursor() as cr:
                    self.env(cr).ref(f"{MODULE}.ir_cron_o365_renew_subscriptions")._trigger()
                self.renew_nudges += 1
                self.missing_subscriptions.append(len(self.upns) - state["subscribed"])
                still = 0
            elif still >= 5 and not self.cron_running(f"{MODULE}.ir_cron_o365_pull"):  # 10 s, idle job
                with self.registry.cursor() as cr:
                    self.env(cr).ref(f"{MODULE}.ir_cron_o365_pull")._trigger()
                nudges += 1
                still = 0
            time.sleep(2)
        raise RuntimeError(
            f"Start Syncing did not finish on the setup server: {self.accounts_state()},"
            f" {self.pull_requests()} pull requests waiting"
        )

    def cron_running(self, xmlid):
        """Whether Odoo's cron runner holds the job's row now (it locks it for the whole run)."""
        module, name = xmlid.split(".")
        rows = self.sql(
            "SELECT c.id FROM ir_cron c JOIN ir_model_data d ON d.res_id = c.id AND d.model = 'ir.cron'"
            " WHERE d.module = %s AND d.name = %s",
            [module, name],
        )
        if not rows:
            return False
        with self.conn.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT id FROM ir_cron WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED", [rows[0][0]])
            free = cur.fetchone() is not None
            cur.execute("ROLLBACK")
        return not free

    def queue_rows(self):
        return self.sql("SELECT count(*) FROM o365_push_queue")[0][0]

    def queue_states(self):
        with contextlib.suppress(Exception):
            return dict(self.sql("SELECT state, count(*) FROM o365_push_queue GROUP BY state"))
        return {}

    def pull_requests(self):
        if not self.table_exists("o365_pull_request"):
            return 0
        return self.sql("SELECT count(*) FROM o365_pull_request")[0][0]

    def wait_quiet(self, timeout, label):
        """Until nothing waits: push queue and pull requests empty, notifications delivered (twice in a row)."""
        deadline = time.time() + timeout
        calm = 0
        while time.time() < deadline:
            idle = self.emu.wait_notifications(5)
            queue, pulls = self.queue_rows(), self.pull_requests()
            calm = calm + 1 if (idle and not queue and not pulls) else 0
            if calm >= 2:
                return True
            time.sleep(1)
        log(
            f"  WARNING: not quiet after {timeout:.0f} s ({label}): queue {self.queue_rows()},"
            f" pull requests {self.pull_requests()}"
        )
        return False

    def create_activities(self, tag):
        """One new activity (To-Do, i.e. a task) for each user, in ONE transaction; returns the commit time."""
        with self.registry.cursor() as cr:
            env = self.env(cr)
            model_id = env["ir.model"]._get_id("res.partner")
            todo = env.ref("mail.mail_activity_data_todo").id
            partner = env["res.partner"].search([("email", "=", self.contacts[0])], limit=1)
            vals = [
                {
                    "res_model_id": model_id,
                    "res_id": partner.id,
                    "activity_type_id": todo,
                    "summary": f"{tag} {i}",
                    "user_id": uid,
                    "date_deadline": date.today() + timedelta(days=1 + i % 20),
                }
                for i, uid in enumerate(self.user_ids)
            ]
            env["mail.activity"].with_context(mail_activity_quick_update=True).create(vals)
            cr.execute("SELECT count(*) FROM o365_push_queue")
            queued = cr.fetchone()[0]
            cr.commit()
            committed = time.time()
        return committed, queued

    def logged_after(self, baseline_id, tag):
        """(link id, meeting name) of the Outlook meetings of this run logged in Odoo since ``baseline_id``.

        Matched by the meeting's name (the Outlook subject, B1): the link's event id may be in
        Graph's immutable form, which the Outlook user's answer did not show."""
        return self.sql(
            "SELECT l.id, e.name FROM o365_event_link l JOIN calendar_event e"
            " ON l.res_model = 'calendar.event' AND e.id = l.res_id"
            " WHERE l.id > %s AND e.name LIKE %s",
            [baseline_id, tag + " %"],
        )

    def max_link_id(self):
        return self.sql("SELECT coalesce(max(id), 0) FROM o365_event_link")[0][0]

    def close(self):
        self.conn.close()


# -- measuring -------------------------------------------------------------------------------


def graph_summary(entries, until=None):
    """The app's traffic in the emulator's request log (act-as requests are the Outlook users', left out);
    ``until``: only the requests that started before that time (epoch seconds)."""
    mine = [r for r in entries if not r.get("actAs") and (until is None or r.get("time", 0) <= until)]
    graph = [r for r in mine if str(r.get("path", "")).startswith("/v1.0")]
    http = [r for r in graph if not r.get("inBatch")]
    ops = [r for r in graph if r.get("inBatch") or r.get("path", "").rstrip("/") != "/v1.0/$batch"]
    identity = [r for r in mine if not str(r.get("path", "")).startswith("/v1.0")]
    by_endpoint, statuses, identity_by_endpoint = {}, {}, {}
    for r in identity:
        key = f"{r['method']} {r.get('endpoint') or r.get('path')}"
        identity_by_endpoint[key] = identity_by_endpoint.get(key, 0) + 1
    for r in http:
        key = f"{r['method']} {r['endpoint']}"
        by_endpoint[key] = by_endpoint.get(key, 0) + 1
    for r in graph:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    token = sum(1 for r in identity if "/token" in r.get("path", ""))
    grants = {}
    for r in identity:
        if "/token" in r.get("path", ""):
            grants[r.get("grantType") or "?"] = grants.get(r.get("grantType") or "?", 0) + 1
    batches = [r for r in http if r.get("path", "").rstrip("/") == "/v1.0/$batch"]
    creates = [
        r for r in ops if r["method"] == "POST" and re.search(r"/events/?$", r.get("path", "")) and r["status"] == 201
    ]
    return {
        "http": len(http),
        "operations": len(ops),
        "identity": len(identity),
        "token_requests": token,
        "token_requests_by_grant": grants,
        "identity_by_endpoint": identity_by_endpoint,
        # When they were made (epoch s, the first 40): a burst at a process's first use shows here.
        "token_request_times": sorted(r["time"] for r in identity if "/token" in r.get("path", ""))[:40],
        "batches": len(batches),
        "by_endpoint": dict(sorted(by_endpoint.items(), key=lambda kv: -kv[1])),
        "statuses": statuses,
        "throttled_429": statuses.get("429", 0),
        "event_creates_201": len(creates),
        "last_create_at": max((r["time"] + r.get("ms", 0) / 1000 for r in creates), default=None),
        "max_concurrent_per_mailbox": _max_concurrency(http),
    }


def _max_concurrency(http):
    """The most HTTP requests the app had in flight at once for one mailbox (from start time and duration)."""
    edges = {}
    for r in http:
        if not r.get("mailbox"):
            continue
        start = r["time"]
        edges.setdefault(r["mailbox"], []).extend([(start, 1), (start + r.get("ms", 0) / 1000, -1)])
    best = 0
    for points in edges.values():
        level = 0
        for _t, step in sorted(points, key=lambda p: (p[0], p[1])):
            level += step
            best = max(best, level)
    return best


LOG_PATTERNS = {
    "errors": re.compile(r"^\S+ \S+ \d+ ERROR "),
    "warnings": re.compile(r"^\S+ \S+ \d+ WARNING "),
    "tracebacks": re.compile(r"^Traceback \(most recent call last\)"),
    "serialization_failures": re.compile(r"could not serialize access", re.I),
    "deadlocks": re.compile(r"deadlock detected", re.I),
    "cron_worker_timeouts": re.compile(r"WorkerCron \(\d+\) timeout", re.I),
    "notifications_for_unknown_subscriptions": re.compile(r"notification for an unknown subscription"),
    "cron_job_runs": re.compile(r"Job '[^']*' \(\d+\) done in"),
}


def log_offsets(servers):
    return {s.log_path: (os.path.getsize(s.log_path) if os.path.exists(s.log_path) else 0) for s in servers}


def log_counts(servers, offsets):
    counts = dict.fromkeys(LOG_PATTERNS, 0)
    samples = []
    for server in servers:
        if not os.path.exists(server.log_path):
            continue
        with open(server.log_path, errors="replace") as f:
            f.seek(offsets.get(server.log_path, 0))
            for line in f:
                for key, pattern in LOG_PATTERNS.items():
                    if pattern.search(line):
                        counts[key] += 1
                        if key in ("errors", "cron_worker_timeouts") and len(samples) < 5:
                            samples.append(f"{server.name}: {line.strip()[:300]}")
    counts["samples"] = samples
    return counts


def cpu_snapshot(emu, servers):
    return {"emulator": emu.cpu_seconds(), "odoo": sum(s.cpu_seconds() for s in servers)}


def cpu_delta(before, after, wall):
    out = {k: after[k] - before[k] for k in before}
    out["wall_s"] = wall
    return out


def verify_mailboxes(emu, upns, tag):
    """Events of this run (subject carrying ``tag``) per mailbox: (missing, doubled, in the wrong mailbox).

    Mailbox i must hold exactly one event of this run, and it must be user i's change (its subject
    ends with `` i``): a shared ``$batch`` (O2) must not put one user's change in another's calendar."""
    own = re.compile(r"\s(\d+)$")

    def count(index):
        subjects = [e.get("subject") or "" for e in emu.events(upns[index]) if tag in (e.get("subject") or "")]
        wrong = sum(1 for x in subjects if (own.search(x) or [None, None])[1] != str(index))
        return len(subjects), wrong

    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(count, range(len(upns))))
    return (
        sum(1 for c, _w in counts if c == 0),
        sum(1 for c, _w in counts if c > 1),
        sum(w for _c, w in counts),
    )


def start_profiles(args, servers, profile):
    """With --profile-dir: ``py-spy record`` on every server of the layout (its master pid, workers followed),
    into ``<profile>.txt``, or ``<profile>_s1.txt``, ``_s2`` for a layout of two servers. Returns the recorders
    (none without --profile-dir). A recorder that fails to start is reported, and the phase goes on."""
    if not args.profile_dir or not profile:
        return []
    spies = []
    for i, server in enumerate(servers, 1):
        suffix = f"_s{i}" if len(servers) > 1 else ""
        output = os.path.join(args.profile_dir, f"{profile}{suffix}.txt")
        spy = PySpy(args.py_spy, server.process.pid, output, name=server.name)
        try:
            spy.start()
        except Exception as exc:
            log(f"  WARNING: no profile of {server.name}: {exc}")
        spies.append(spy)
    return spies


def stop_profiles(spies):
    """Stop the recorders (SIGINT) and wait for each to write its file; their reports."""
    reports = [spy.stop() for spy in spies]
    for report in reports:
        if not report["written"]:
            log(f"  WARNING: py-spy wrote no profile of {report['server']}: {report['error'] or report['output']}")
    return reports


def run_push(args, harness, emu, servers, config, tag, profile=None):
    log(f"[{config}] push: {len(harness.upns)} mailboxes, one new activity each")
    quiet = harness.wait_quiet(60 + 0.05 * len(harness.upns), "before push")
    emu.clear_requests()
    offsets = log_offsets(servers)
    spies = start_profiles(args, servers, profile)  # --profile-dir: py-spy on every server, else nothing
    try:
        cpu0 = cpu_snapshot(emu, servers)
        t0, queued = harness.create_activities(tag)
        series, empty_at, rows = [], None, None
        deadline = t0 + args.timeout
        progress_at, lowest, stalled = t0, None, False
        while time.time() < deadline:
            rows = harness.queue_rows()
            now = time.time()
            series.append((round(now - t0, 2), rows))
            if rows == 0:
                empty_at = now
                break
            if lowest is None or rows < lowest:
                lowest, progress_at = rows, now
            elif now - progress_at > args.stall:
                stalled = True
                log(f"[{config}] push: no progress for {args.stall:.0f} s ({rows} rows left): giving up")
                break
            time.sleep(0.25)
        cpu1 = cpu_snapshot(emu, servers)
    finally:
        profiles = stop_profiles(spies)
    wall = (empty_at or time.time()) - t0
    states = harness.queue_states() if empty_at is None else {}
    # The push's own requests: those that started before the queue was empty (a later request
    # is the pull answering the change notifications the push's new events caused).
    graph = graph_summary(emu.requests_log()["requests"], until=empty_at)
    missing, doubled, wrong = verify_mailboxes(emu, harness.upns, tag)
    n = len(harness.upns)
    finished = empty_at is not None
    # Then until nothing waits: the pull reading back what the notifications of the new events announced.
    settled_quiet = harness.wait_quiet(60 + 0.1 * n, "after push")
    settled = graph_summary(emu.requests_log()["requests"])
    settled["quiet"] = settled_quiet
    result = {
        "mailboxes": n,
        "queued_at_commit": queued,
        "finished": finished,
        "stalled": stalled,
        "quiet_before": quiet,
        "seconds": wall,
        "mailboxes_per_s": n / wall if finished else None,
        "missing": missing,
        "doubled": doubled,
        "wrong_mailbox": wrong,
        "verified": finished and missing == 0 and doubled == 0 and wrong == 0 and queued >= n,
        "changes": n,
        # Every request the emulator served for Odoo (Graph HTTP, a $batch counted once, plus
        # identity-platform requests: token, discovery) per change.
        "requests_per_change": (graph["http"] + graph["identity"]) / n if n else None,
        "requests_per_change_settled": (settled["http"] + settled["identity"]) / n if n else None,
        "graph_settled": settled,
        "left_in_queue": rows,
        "queue_states_at_timeout": states,
        "last_create_after_s": (graph["last_create_at"] - t0) if graph["last_create_at"] else None,
        "graph": graph,
        "cpu_s": cpu_delta(cpu0, cpu1, wall),
        "server_logs": log_counts(servers, offsets),
        "series": series[:: max(1, len(series) // 200)],
    }
    if profiles:
        result["profiles"] = profiles
    rate = f"{result['mailboxes_per_s']:.1f} mailboxes/s" if finished else f"NOT finished ({rows} rows left)"
    log(
        f"[{config}] push: {wall:.1f} s, {rate}; missing {missing}, doubled {doubled}, wrong mailbox {wrong};"
        f" Graph HTTP {graph['http']} + identity {graph['identity']} = {result['requests_per_change']:.3f} per change"
        f" ({result['requests_per_change_settled']:.3f} with the pulls its notifications caused),"
        f" 429s {graph['throttled_429']}"
    )
    return result


# 100 events per call, two calls at a time: 1,000 changes in about 1.2 s on an idle 2-core machine, each call
# answered within about 0.3 s (500 per call and three at a time: 1.7 s, and 1.6 s per call, since the calls share
# the emulator's lock and interpreter). A delay measured from the answer may be short by up to one call.
OUTLOOK_CHANGES_PER_CALL = 100
OUTLOOK_CHANGES_THROUGH = (
    f"the emulator's control API (POST /_emulator/mailboxes/events, {OUTLOOK_CHANGES_PER_CALL} per call)"
)


def outlook_changes(emu, upns, contacts, tag, per_call=OUTLOOK_CHANGES_PER_CALL, threads=2):
    """One new meeting with an external contact in each mailbox, made as the user in Outlook, in bulk.

    The changes go through the emulator's control API (``POST /_emulator/mailboxes/events``, ``per_call``
    events per call, ``threads`` calls at a time): each event is created exactly as the user's own
    ``POST /users/{upn}/events`` would create it (same code in the emulator), so Graph's change notifications
    to the subscriptions, delta, changeKey and invitations behave the same. What is saved is Graph's request
    handling per change and a round trip per 20 (HTTP, TLS, JSON, the request log): with ``$batch`` of 20
    (act-as) the harness took 57 s to make 2,000 changes and 299 s for 10,000, slower than what it measures.
    Control calls meet no fault rule (nor did the act-as requests: Outlook users are never faulted).

    Returns ({subject: time the emulator answered the call that made it}, the longest call in seconds). Each
    event's notification was queued when the event was created, at most one call's duration earlier than that
    time, so a delay measured from it may be short by up to that much.
    """
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
    fmt = "%Y-%m-%dT%H:%M:%S"
    chunks = [list(range(i, min(len(upns), i + per_call))) for i in range(0, len(upns), per_call)]

    def send(chunk):
        items = [
            {
                "upn": upns[i],
                "event": {
                    "subject": f"{tag} {i}",
                    "body": {"contentType": "text", "content": f"Engine benchmark meeting {i}."},
                    "start": {"dateTime": start.strftime(fmt), "timeZone": "UTC"},
                    "end": {"dateTime": (start + timedelta(minutes=30)).strftime(fmt), "timeZone": "UTC"},
                    "attendees": [{"emailAddress": {"address": contacts[i], "name": contacts[i]}, "type": "required"}],
                },
            }
            for i in chunk
        ]
        sent = time.time()
        created = emu.create_events(items)
        answered = time.time()
        if [e.get("subject") for e in created] != [item["event"]["subject"] for item in items]:
            raise RuntimeError(f"the emulator answered other events than it was asked for: {str(created)[:300]}")
        return {e["subject"]: answered for e in created}, answered - sent

    changed, longest = {}, 0.0
    with ThreadPoolExecutor(threads) as pool:
        for part, seconds in pool.map(send, chunks):
            changed.update(part)
            longest = max(longest, seconds)
    return changed, longest


def run_pull(args, harness, emu, servers, config, tag, profile=None):
    n = len(harness.upns)
    log(f"[{config}] pull: {n} Outlook changes, one per mailbox, through change notifications")
    quiet = harness.wait_quiet(60 + 0.05 * n, "before pull")
    emu.clear_requests()
    emu.clear_notifications()
    baseline = harness.max_link_id()
    offsets = log_offsets(servers)
    spies = start_profiles(args, servers, profile)  # --profile-dir: py-spy on every server, else nothing
    try:
        cpu0 = cpu_snapshot(emu, servers)
        t0 = time.time()
        changed, longest_call = outlook_changes(emu, harness.upns, harness.contacts, tag)
        changes_done = time.time()
        seen, series = {}, []
        deadline = t0 + args.timeout
        progress_at, stalled = time.time(), False
        while time.time() < deadline:
            now = time.time()
            before = len(seen)
            for _id, name in harness.logged_after(baseline, tag):
                if name in changed and name not in seen:
                    seen[name] = now
            series.append((round(now - t0, 2), len(seen)))
            if len(seen) >= len(changed):
                break
            if len(seen) > before:
                progress_at = now
            elif now - progress_at > args.stall:
                stalled = True
                log(f"[{config}] pull: nothing new logged for {args.stall:.0f} s ({len(seen)} of {n}): giving up")
                break
            time.sleep(0.2)
        done_at = max(seen.values()) if len(seen) >= len(changed) else None
        cpu1 = cpu_snapshot(emu, servers)
    finally:
        profiles = stop_profiles(spies)
    wall = (done_at or time.time()) - t0
    delays = [seen[e] - changed[e] for e in seen]
    per_event = {}
    for _id, name in harness.logged_after(baseline, tag):
        if name in changed:
            per_event[name] = per_event.get(name, 0) + 1
    emu.wait_notifications(10)
    notes = emu.notifications()
    graph = graph_summary(emu.requests_log()["requests"])
    finished = done_at is not None
    result = {
        "mailboxes": n,
        "changes": len(changed),
        "changes_made_in_s": changes_done - t0,
        "changes_made_through": OUTLOOK_CHANGES_THROUGH,
        "changes_longest_call_s": longest_call,
        "finished": finished,
        "stalled": stalled,
        "quiet_before": quiet,
        "seconds": wall,
        "accounts_per_s": n / wall if finished else None,
        "logged": len(seen),
        "missing": len(changed) - len(seen),
        "doubled": sum(1 for c in per_event.values() if c > 1),
        "verified": finished and all(c == 1 for c in per_event.values()),
        "delay_p50_s": percentile(delays, 50),
        "delay_p90_s": percentile(delays, 90),
        "delay_p99_s": percentile(delays, 99),
        "delay_max_s": max(delays) if delays else None,
        "notifications": {
            "posts": len(notes),
            "items": sum(x.get("count", 0) for x in notes),
            "delivered_posts": sum(1 for x in notes if x.get("delivered")),
            "failed_attempts": sum(
                1 for x in notes for a in x.get("attempts", []) if not (a.get("status") and 200 <= a["status"] < 300)
            ),
            "slowest_answer_s": max((a.get("seconds", 0) for x in notes for a in x.get("attempts", [])), default=None),
        },
        "graph": graph,
        "cpu_s": cpu_delta(cpu0, cpu1, wall),
        "server_logs": log_counts(servers, offsets),
        "series": series[:: max(1, len(series) // 200)],
    }
    if profiles:
        result["profiles"] = profiles
    rate = f"{result['accounts_per_s']:.1f} accounts/s" if finished else f"NOT finished ({result['missing']} missing)"
    p99 = result["delay_p99_s"]
    log(
        f"[{config}] pull: {wall:.1f} s, {rate}; p99 {p99 if p99 is None else round(p99, 2)} s;"
        f" Graph HTTP {graph['http']}, notification posts {len(notes)}"
    )
    return result


def age_last_pulls(harness):
    """Spread each subscribed account's last pull over its safety-net period, as in a steady state.

    Right after the setup and the push and pull phases every mailbox was pulled within the hour, so a
    short window would see none of the safety-net pulls that a mailbox with working notifications gets
    every 6 hours and a bit (engine/importer.py ``queue_safety_pulls``). In a steady state the last pulls
    are spread evenly over that period; a window of W minutes then sees W / period of them, which the
    extrapolation to a day counts right. Returns how many accounts were spread."""
    from odoo.addons.o365_calendar_sync.engine.importer import SAFETY_PULL_AFTER_NOTIFIED

    hours = SAFETY_PULL_AFTER_NOTIFIED.total_seconds() / 3600
    rows = harness.sql(
        "UPDATE o365_sync_account SET last_pull_at = (now() AT TIME ZONE 'UTC')"
        " - random() * (%s * interval '1 hour' + mod(id, 60) * interval '1 minute')"
        " WHERE user_id = ANY(%s) AND subscription_id IS NOT NULL AND sync_state = 'running' RETURNING id",
        [hours, harness.user_ids],
    )
    return len(rows or [])


def renewals_per_day():
    """Subscription renewals per mailbox per day, from the module's own constants (not seen in a short window:
    the renewal cron runs every 6 hours and renews what expires within RENEW_BEFORE)."""
    from odoo.addons.o365_calendar_sync.engine.subscriptions import RENEW_BEFORE, SUBSCRIPTION_MINUTES

    # A renewal at the first 6-hourly run after (expiry - RENEW_BEFORE): on average 3 hours after it.
    hours_between = SUBSCRIPTION_MINUTES / 60 - RENEW_BEFORE.total_seconds() / 3600 + 3
    return 24 / hours_between


def run_idle(args, harness, emu, servers):
    n = len(harness.upns)
    minutes = args.idle_minutes
    log(f"idle: {n} connected mailboxes, nothing changes, for {minutes:g} minutes")
    harness.wait_quiet(60 + 0.1 * n, "before idle")
    spread = age_last_pulls(harness)
    log(f"idle: last pulls of {spread} subscribed accounts spread over the safety-net period (steady state)")
    emu.clear_requests()
    offsets = log_offsets(servers)
    cpu0 = cpu_snapshot(emu, servers)
    t0 = time.time()
    end = t0 + minutes * 60
    while time.time() < end:
        time.sleep(min(5, max(0, end - time.time())))
    wall = time.time() - t0
    cpu1 = cpu_snapshot(emu, servers)
    entries = emu.requests_log()["requests"]
    graph = graph_summary(entries)
    total = graph["http"] + graph["identity"]
    per_day = total / n * 86400 / wall
    with harness.registry.cursor() as cr:
        cr.execute(
            "SELECT d.name, c.cron_name, c.interval_number, c.interval_type, c.active FROM ir_cron c"
            " JOIN ir_model_data d ON d.model = 'ir.cron' AND d.res_id = c.id AND d.module = %s ORDER BY d.name",
            [MODULE],
        )
        crons = [
            {
                "xmlid": r[0],
                "name": (r[1] or {}).get("en_US") if isinstance(r[1], dict) else r[1],
                "every": f"{r[2]} {r[3]}",
                "active": r[4],
            }
            for r in cr.fetchall()
        ]
    renewals = renewals_per_day()
    result = {
        "mailboxes": n,
        "window_s": wall,
        "last_pulls_spread": spread,
        "renewals_per_mailbox_per_day_computed": renewals,
        "requests_per_mailbox_per_day_with_renewals": per_day + renewals,
        "graph_http": graph["http"],
        "identity_requests": graph["identity"],
        "requests_per_mailbox_per_day": per_day,
        "graph": graph,
        "cpu_s": cpu_delta(cpu0, cpu1, wall),
        "server_logs": log_counts(servers, offsets),
        "crons": crons,
        "verified": True,
    }
    log(
        f"idle: {total} requests in {wall:.0f} s for {n} mailboxes = {per_day:.1f} per mailbox per day,"
        f" {per_day + renewals:.1f} with {renewals:.2f} subscription renewals a day"
    )
    return result


# -- servers ---------------------------------------------------------------------------------


def layout_options(config):
    base = config.rstrip("0123456789")
    limit = config[len(base) :]
    label, servers = LAYOUTS[base]
    extra = [f"--limit-time-real-cron={limit}"] if limit else []
    if limit:
        label += f", --limit-time-real-cron={limit}"
    return label, [opts + extra for opts in servers]


def start_servers(args, py, odoo_bin, conf, workdir, config, option_sets, db=None):
    servers = []
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    for i, options in enumerate(option_sets):
        for port in (args.port + i, args.gevent_port + i):
            if not port_is_free(port):
                raise RuntimeError(f"port {port} is in use: pass --port/--gevent-port")
        servers.append(
            OdooServer(
                f"{config}-{i + 1}",
                py,
                odoo_bin,
                conf,
                db or args.db,
                args.port + i,
                args.gevent_port + i,
                options,
                os.path.join(workdir, f"odoo-{config}-{i + 1}.log"),
            ).start(env)
        )
    try:
        for server in servers:
            server.wait_ready()
    except Exception:
        for server in servers:
            server.stop()
        raise
    return servers


def stop_servers(servers):
    for server in servers:
        server.stop()


# -- main ------------------------------------------------------------------------------------


def machine():
    cpu = platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = 0.0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                ram = int(line.split()[1]) / 2**20
    return {"cpu_model": cpu, "cores": os.cpu_count(), "ram_gb": round(ram, 1)}


def main(argv=None):
    args = parse_args(argv)
    import warnings

    warnings.filterwarnings("ignore")
    py, odoo_bin, live_conf = tool_env()
    os.makedirs(args.out_dir, exist_ok=True)
    if args.profile_dir:
        args.py_spy = py_spy_binary()
        os.makedirs(args.profile_dir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="o365-bench-engine-")
    meta = dict(
        machine(),
        command=args.command or "python -m bench.engine " + " ".join(argv if argv is not None else sys.argv[1:]),
        started=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        mailboxes=args.mailboxes,
        full_size=args.full_size,
        latency_ms=args.latency_ms,
        configs=args.configs,
        module=module_version(),
        load_start=os.getloadavg()[0],
        workdir=workdir,
        db=args.db,
    )
    if args.profile_dir:
        # Sampling costs the servers some CPU (at 100 Hz, without pausing them): compare profiled runs with
        # profiled runs.
        command = [args.py_spy, "record", "--pid", "<odoo-bin pid>", *PY_SPY_OPTIONS, "--output", "FILE"]
        meta["profile"] = {"dir": args.profile_dir, "command": " ".join(command)}
    results = {name: {"status": "skipped", "reason": "not run: left out with --only"} for name in SCENARIOS}
    for name in args.only:
        results[name] = {"status": "failed", "error": "did not run to the end", "configs": {}}
    log(
        f"work directory {workdir}; module at {meta['module']['commit']}"
        f"{' + uncommitted changes' if meta['module']['uncommitted_module_files'] else ''}"
    )

    def on_term(*_a):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    root, conf = snapshot_module(workdir, live_conf)
    os.environ["ODOO_CONF"] = conf  # the harness's own Odoo (bench.common.boot_odoo) loads the copy too
    meta["module"]["snapshot_hash"] = module_hash(root)
    run_tag = time.strftime("%H%M%S")
    env = Run(args, py, odoo_bin, conf, workdir, root, meta, results, run_tag)
    try:
        prepare_database(args, py, odoo_bin, conf, workdir, root)
        modes = []
        if any(name in args.only for name in USER_MODE_SCENARIOS):
            modes.append(("per-user", run_user_mode, [n for n in USER_MODE_SCENARIOS if n in args.only]))
        if "engine_push_org" in args.only:
            modes.append(("organisation", run_org_mode, ["engine_push_org"]))
        for label, runner, names in modes:
            try:
                runner(env)
            except Exception as exc:  # one mode's failure leaves the other one to run
                log(f"{label} mode FAILED: {type(exc).__name__}: {exc}")
                for name in names:
                    if results[name].get("status") != "ok":
                        results[name]["error"] = f"{type(exc).__name__}: {exc}"
                        results[name]["traceback"] = traceback.format_exc()[-4000:]
    except BaseException as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}")
        for name in args.only:
            if results[name].get("status") != "ok":
                results[name]["error"] = f"{type(exc).__name__}: {exc}"
                results[name]["traceback"] = traceback.format_exc()[-4000:]
        if isinstance(exc, KeyboardInterrupt):
            raise
    finally:
        meta["finished"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        meta["load_end"] = os.getloadavg()[0]
        for name in args.only:
            with open(os.path.join(args.out_dir, f"{name}.json"), "w") as f:
                json.dump(dict(results[name], meta=meta, scenario=name), f, indent=1, default=str)
        log(f"results in {args.out_dir}/engine_*.json; server and emulator logs in {workdir}")
    return 0 if all(results[n].get("status") == "ok" for n in args.only) else 1


class Run:
    """What both connection modes share in one run: options, tools, the code copy, meta and results."""

    def __init__(self, args, py, odoo_bin, conf, workdir, root, meta, results, run_tag):
        self.args, self.py, self.odoo_bin, self.conf = args, py, odoo_bin, conf
        self.workdir, self.root, self.meta, self.results, self.run_tag = workdir, root, meta, results, run_tag
        self.db = args.db  # the database of the mode being run

    def servers(self, config, option_sets):
        return start_servers(
            self.args, self.py, self.odoo_bin, self.conf, self.workdir, config, option_sets, db=self.db
        )

    def setup_server(self, name="setup"):
        """No cron time limit: Start Syncing's subscriptions and first pulls, whatever their number."""
        return self.servers(
            name, [["--workers=2", "--max-cron-threads=1", "--limit-time-real-cron=0", "--limit-time-cpu=3600"]]
        )

    def measure(self, harness, emu, scenarios, prefix="", configs=None, size=None):
        """Each layout of ``configs`` (default --configs): start its servers, run ``scenarios`` ({name: (runner,
        tag word)}). With ``size``, the results are filed as ``<layout>@<size>`` (the full-size row)."""
        for config in configs or self.args.configs:
            label, option_sets = layout_options(config)
            key = f"{config}@{size}" if size else config
            if size:
                label += f", all {size:,} mailboxes changed"
            log(f"[{prefix}{key}] starting {label}")
            servers = self.servers(f"{prefix}{key}", option_sets)
            try:
                for name, (runner, word) in scenarios.items():
                    tag = f"{word} {key} {self.run_tag}"
                    try:
                        r = runner(self.args, harness, emu, servers, f"{prefix}{key}", tag, profile=f"{name}_{key}")
                    except Exception as exc:
                        log(f"[{prefix}{config}] {name} failed: {exc}")
                        r = {
                            "verified": False,
                            "error": f"{type(exc).__name__}: {exc}",
                            "traceback": traceback.format_exc()[-3000:],
                        }
                    r.update(label=label, servers=[s.command[2:] for s in servers], full_size=bool(size))
                    self.results[name]["configs"][key] = r
            finally:
                stop_servers(servers)


def run_user_mode(run):
    """engine_push, engine_pull, engine_idle: each user signed in (S2), on ``--db``."""
    args, meta, results = run.args, run.meta, run.results
    emu = Emulator(run.root, run.workdir, os.path.join(run.workdir, "emulator.log"))
    harness, servers = None, []
    try:
        emu.start()
        emu.register_app(CLIENT_ID, CLIENT_SECRET)
        log(f"Graph emulator pid {emu.process.pid} at {emu.base_url}")
        harness = Harness(args, emu, run.workdir)
        primary = f"http://127.0.0.1:{args.port}"
        harness.configure(public_base_url=primary)
        t = time.perf_counter()
        harness.create_users(max(args.mailboxes, args.full_size))
        harness.connect_all(redirect_base=primary)
        # Start Syncing, then a setup server (no cron time limit) makes the subscriptions and first pulls.
        servers = run.setup_server()
        harness.start_sync_all()
        meta["setup_pull_nudges"] = harness.wait_subscribed(300 + 0.5 * max(args.mailboxes, args.full_size))
        meta["setup_renew_nudges"] = harness.renew_nudges
        harness.wait_quiet(120, "after setup")
        stop_servers(servers)
        servers = []
        state = harness.accounts_state()
        meta["setup_s"] = time.perf_counter() - t
        meta["accounts"] = state
        log(f"setup done in {meta['setup_s']:.0f} s: {state}")
        if args.latency_ms:
            emu.add_latency(args.latency_ms)
        scenarios = {
            name: (runner, f"Eng{name[7:].title()}")
            for name, runner in (("engine_push", run_push), ("engine_pull", run_pull))
            if name in args.only
        }
        if scenarios:
            harness.use(args.mailboxes)
            run.measure(harness, emu, scenarios)
            if args.full_size:
                harness.use(args.full_size)
                run.measure(harness, emu, scenarios, configs=["a"], size=args.full_size)
        for name in scenarios:
            results[name] = summarize(name, results[name]["configs"])
        if "engine_idle" in args.only:
            harness.use(max(args.mailboxes, args.full_size))
            label, option_sets = layout_options("a")
            servers = run.servers("idle", option_sets)
            r = run_idle(args, harness, emu, servers)
            results["engine_idle"] = dict(r, status="ok", label=label)
    finally:
        stop_servers(servers)
        if harness:
            harness.close()
        emu.stop()


def run_org_mode(run):
    """engine_push_org: the organisation-wide connection (SPEC O1, O2), on ``<--db>_org``."""
    args, results = run.args, run.results
    db = f"{args.db}_org"
    copy_database(f"{args.db}_tmpl", db)
    run.db = db
    folder = os.path.join(run.workdir, "org")
    os.makedirs(folder, exist_ok=True)
    emu = Emulator(run.root, folder, os.path.join(run.workdir, "emulator-org.log"))
    harness, servers = None, []
    setup = {"db": db, "client_id": ORG_CLIENT_ID, "tenant": TENANT}
    results["engine_push_org"]["setup"] = setup
    try:
        emu.start()
        emu.register_app(ORG_CLIENT_ID, ORG_CLIENT_SECRET, application_permissions=ORG_PERMISSIONS)
        setup["granted_roles"] = emu.grant_admin_consent(ORG_CLIENT_ID)
        log(f"Graph emulator (organisation) pid {emu.process.pid} at {emu.base_url}; roles {setup['granted_roles']}")
        harness = Harness(args, emu, folder, db=db)
        primary = f"http://127.0.0.1:{args.port}"
        harness.configure(
            public_base_url=primary,
            client_id=ORG_CLIENT_ID,
            client_secret=ORG_CLIENT_SECRET,
            connection_mode="organization",
        )
        t = time.perf_counter()
        harness.create_users(args.mailboxes)
        harness.connect_org_all()
        emu.clear_requests()
        servers = run.setup_server("org-setup")
        harness.start_sync_all()  # the button's method: in organisation mode, no sign-in
        try:
            setup["pull_nudges"] = harness.wait_subscribed(300 + 0.5 * args.mailboxes)
        finally:
            setup["renew_nudges"] = harness.renew_nudges
            setup["missing_subscriptions_at_renew_nudges"] = harness.missing_subscriptions
            setup["subscribe_429"] = sum(
                1
                for r in emu.requests_log()["requests"]
                if r.get("status") == 429 and r.get("method") == "POST" and "/subscriptions" in r.get("path", "")
            )
        harness.wait_quiet(120, "after setup")
        stop_servers(servers)
        servers = []
        setup["graph"] = graph_summary(emu.requests_log()["requests"])
        setup["seconds"] = time.perf_counter() - t
        setup["accounts"] = harness.accounts_state()
        log(
            f"organisation setup done in {setup['seconds']:.0f} s: {setup['accounts']};"
            f" token requests {setup['graph']['token_requests_by_grant']}"
        )
        if args.latency_ms:
            emu.add_latency(args.latency_ms)
        run.measure(harness, emu, {"engine_push_org": (run_push, "EngPushOrg")}, prefix="org-")
        results["engine_push_org"] = dict(
            summarize("engine_push_org", results["engine_push_org"]["configs"]), setup=setup
        )
    finally:
        stop_servers(servers)
        if harness:
            harness.close()
        emu.stop()


def summarize(name, configs):
    """Status and the three-way ratios (b/a, c/a) of one scenario's layouts."""
    key = "accounts_per_s" if name == "engine_pull" else "mailboxes_per_s"
    out = {"status": "ok", "configs": configs}
    base = (configs.get("a") or {}).get(key)
    for other in ("b", "c"):
        value = (configs.get(other) or {}).get(key)
        out[f"{other}_over_a"] = value / base if (value and base) else None
    out["verified"] = all(c.get("verified") for c in configs.values()) and bool(configs)
    if not configs or not all(c.get("finished") for c in configs.values()):
        out["note"] = "at least one layout did not finish within the time limit"
    return out


if __name__ == "__main__":
    sys.exit(main())
