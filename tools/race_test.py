"""The race suite on REAL processes (issue 28; SPEC B11, B12, B13, E3, E6, E7, S4).

Run by tools/test.sh with the environment of tools/env.sh (PY, ODOO_BIN, ODOO_CONF):

    source tools/env.sh && $PY -m pytest -p no:odoo -q tools/race_test.py

One private PostgreSQL cluster, the Graph emulator and TWO ``odoo-bin`` servers
(``--workers=2 --max-cron-threads=2``, the production default) on one database, built
with tools/fault_test.py's pieces. Odoo's own crons run the push, the pull, the renewals
and the auto-close job; change notifications reach the first server's controller. The
users act at the same time, for ``ROUNDS`` rounds of a few seconds each pass:

- colleagues book meetings with each other and a customer in Outlook (both mailboxes
  syncing, so both pulls meet the same iCalUId), some already ended;
- users schedule To-Dos in Odoo and reassign earlier ones to a colleague;
- a user presses Stop Syncing in the middle of it, and Start again a round later;
- the auto-close job of ended meetings is woken every round.

The users' saves are made in this process through the ORM (a user's REPEATABLE READ
transaction, retried as Odoo retries a request; the retries are counted and reported).
Each pass then waits until everything settled and checks: one Odoo record per Outlook
meeting and one to-do per colleague, one Outlook event per To-Do in its assignee's
calendar only, every syncing mailbox subscribed exactly once (and Odoo knows which), and
no ERROR line, serialization failure or deadlock in either server's log or in the engine's
part of PostgreSQL's log. The test runs ``PASSES`` times on the same world: a
regression fails it in every pass, not once in ten (the deterministic reproductions, with
barriers at the points of the races, are tests/test_races.py and tests/test_replays.py).

Knobs: ``O365_RACE_MAILBOXES`` (default 24), ``O365_RACE_ROUNDS`` (default 8).
"""

import contextlib
import os
import random
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_test as ft

from bench.engine import Harness
from bench.engine_procs import OdooServer, free_port

MAILBOXES = int(os.environ.get("O365_RACE_MAILBOXES", "24"))
ROUNDS = int(os.environ.get("O365_RACE_ROUNDS", "8"))
ROUND_SECONDS = 6
PASSES = 3
SERVER_OPTIONS = ["--workers=2", "--max-cron-threads=2"]
RACE_WORDS = re.compile(r"could not serialize|SERIALIZATION_FAILURE|deadlock detected|DEADLOCK_DETECTED", re.I)
# An ERROR log line with what follows it up to the next log line (a traceback, if any).
ERROR_LINE = re.compile(r"^\S+ \S+ \d+ ERROR .*(?:\n(?!\d{4}-\d\d-\d\d ).*)*", re.M)


def log(message):
    print(f"[race {time.strftime('%H:%M:%S')}] {message}", flush=True)


class RaceWorld(ft.World):
    """fault_test's world with two servers of two cron threads each, and the users' actions."""

    def __init__(self, workdir):
        super().__init__(workdir)
        self.servers = []
        self.user_retries = 0
        self.activities = {}  # activity id -> (summary, index of the user whose calendar holds it)
        self.created_at = {}  # activity id -> when it was saved
        self.started_at = {}  # user index -> when they last pressed Start Syncing (after setup)

    def setup(self):
        started = time.time()
        self.pg.start()
        self.write_conf()
        log(f"private PostgreSQL on 127.0.0.1:{self.pg.port}; installing {ft.MODULE}")
        with open(os.path.join(self.workdir, "install.log"), "w") as out:
            ft.subprocess.run(
                [self.py, self.odoo_bin, "-c", self.conf, "-d", ft.DB, "-i", ft.MODULE, "--stop-after-init",
                 "--without-demo=all", "--log-level=warn"],
                stdout=out, stderr=ft.subprocess.STDOUT, check=True, timeout=600,
            )  # fmt: skip
        self.db = ft.Db(self.pg.port, ft.DB)
        self.emu.start()
        self.emu.register_app(ft.CLIENT_ID, ft.CLIENT_SECRET)
        os.environ["ODOO_CONF"] = self.conf
        self.harness = Harness(ft.types.SimpleNamespace(db=ft.DB), self.emu, self.workdir)
        self.harness.configure(public_base_url=self.url)
        self.harness.create_users(MAILBOXES)
        self.harness.connect_all(redirect_base=self.url)
        self.start_server()
        self.harness.start_sync_all()
        self.harness.wait_subscribed(240)
        self.harness.wait_quiet(120, "after setup")
        self.accounts = dict(
            self.db.q("SELECT user_id, id FROM o365_sync_account WHERE user_id = ANY(%s)", [self.harness.user_ids])
        )
        self.running = set(range(MAILBOXES))
        log(f"setup done in {time.time() - started:.0f} s: {MAILBOXES} mailboxes, two servers")

    def start_server(self):
        for n in (1, 2):
            http_port, gevent_port = (self.http_port, self.gevent_port) if n == 1 else (free_port(), free_port())
            server = OdooServer(
                f"race-{n}", self.py, self.odoo_bin, self.conf, ft.DB, http_port, gevent_port, SERVER_OPTIONS,
                os.path.join(self.workdir, f"odoo-{n}.log"),
            )  # fmt: skip
            server.start(dict(os.environ, PYTHONWARNINGS="ignore"))
            self.servers.append(server)
        for server in self.servers:
            server.wait_ready(180)
        self.server = self.servers[0]

    def teardown(self):
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.stop()
        self.servers = []
        self.server = None
        super().teardown()

    # -- the users ---------------------------------------------------------------------------

    def as_user(self, action):
        """A user's transaction: retried after a serialization failure, as Odoo retries a request."""
        import psycopg2.errors

        h = self.harness
        for attempt in range(5):
            try:
                with h.registry.cursor() as cr:
                    return action(h.env(cr))
            except psycopg2.errors.TransactionRollbackError:
                self.user_retries += 1
                time.sleep(random.uniform(0, 0.5 * 2**attempt))
        raise AssertionError("a user's save failed 5 times in a row")

    def book(self, i, j, subject, ended=False):
        """User ``i`` books a meeting with colleague ``j`` and i's customer in Outlook."""
        h = self.harness
        start = datetime.now(UTC).replace(microsecond=0) + (timedelta(hours=-3) if ended else timedelta(days=2))
        fmt = "%Y-%m-%dT%H:%M:%S"
        body = {
            "subject": subject,
            "start": {"dateTime": start.strftime(fmt), "timeZone": "UTC"},
            "end": {"dateTime": (start + timedelta(hours=1)).strftime(fmt), "timeZone": "UTC"},
            "attendees": [
                {"emailAddress": {"address": h.upns[j]}, "type": "required"},
                {"emailAddress": {"address": h.contacts[i]}, "type": "required"},
            ],
        }
        answer = self.emu.graph_session(h.upns[i]).post(f"{self.emu.graph_url}/users/{h.upns[i]}/events", json=body)
        assert answer.status_code == 201, answer.text[:300]

    def schedule(self, index, summary):
        h = self.harness

        def create(env):
            partner = env["res.partner"].search([("email", "=", h.contacts[index])], limit=1)
            activity = (
                env["mail.activity"]
                .with_user(h.user_ids[index])
                .with_context(mail_activity_quick_update=True)
                .create(
                    {
                        "res_model_id": env["ir.model"]._get_id("res.partner"),
                        "res_id": partner.id,
                        "activity_type_id": env.ref("mail.mail_activity_data_todo").id,
                        "summary": summary,
                        "user_id": h.user_ids[index],
                        "date_deadline": date.today() + timedelta(days=3),
                    }
                )
            )
            return activity.id

        activity_id = self.as_user(create)
        self.created_at[activity_id] = time.time()
        self.activities[activity_id] = (summary, index)

    def reassign(self, activity_id, index):
        uid = self.harness.user_ids[index]
        self.as_user(lambda env: env["mail.activity"].browse(activity_id).write({"user_id": uid}))
        self.activities[activity_id] = (self.activities[activity_id][0], index)

    def press(self, index, button):
        uid = self.harness.user_ids[index]
        self.as_user(lambda env: getattr(env["res.users"].browse(uid).with_user(uid), button)())
        if button == "action_o365_start_sync":
            self.started_at[index] = time.time()

    def wake_close_job(self):
        self.as_user(lambda env: env.ref(f"{ft.MODULE}.ir_cron_o365_close_ended_meetings")._trigger())

    # -- one pass ----------------------------------------------------------------------------

    def drive(self, tag, rounds):
        """The users' rounds; returns {meeting subject: (organiser, colleague, ended)}."""
        meetings, recent, stopped = {}, [], None
        rng = random.Random(tag)
        for r in range(rounds):
            began = time.time()
            busy = {i for batch in recent[-2:] for i in batch}
            candidates = sorted(self.running - busy)
            stopping = rng.choice(candidates) if candidates and r < rounds - 1 else None
            active = sorted(self.running - {stopping})
            pairs = [rng.sample(active, 2) for _ in range(4)]
            recent.append({i for pair in pairs for i in pair})
            actions = []
            for k, (i, j) in enumerate(pairs):
                subject = f"{tag} m{r}-{k}"
                meetings[subject] = (i, j, k == 0)
                actions.append(lambda i=i, j=j, s=subject, e=k == 0: self.book(i, j, s, ended=e))
            for k in range(6):
                who = rng.choice(active)
                actions.append(lambda n=who, s=f"{tag} a{r}x{k}": self.schedule(n, s))
            mine = [a for a, (_s, n) in self.activities.items() if n in active and tag in _s]
            for activity_id in rng.sample(mine, min(2, len(mine))):
                # S3: only to a colleague whose sync started before the To-Do was made (else it
                # rightly never enters their calendar).
                fits = [n for n in active if self.started_at.get(n, 0) < self.created_at[activity_id]]
                if fits:
                    who = rng.choice(fits)
                    actions.append(lambda a=activity_id, n=who: self.reassign(a, n))
            if stopped is not None:
                actions.append(lambda n=stopped: self.press(n, "action_o365_start_sync"))
            if stopping is not None:
                actions.append(lambda n=stopping: self.press(n, "action_o365_stop_sync"))
            actions.append(self.wake_close_job)
            rng.shuffle(actions)
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda action: action(), actions))
            if stopped is not None:
                self.running.add(stopped)
            if stopping is not None:
                self.running.discard(stopping)
            stopped = stopping
            time.sleep(max(0.0, ROUND_SECONDS - (time.time() - began)))
        if stopped is not None:
            self.press(stopped, "action_o365_start_sync")
            self.running.add(stopped)
        return meetings

    def settle(self, timeout=240):
        """Until nothing waits (push queue, pull requests) and Graph has no notification to deliver."""
        deadline = time.time() + timeout
        calm = 0
        while time.time() < deadline:
            idle = self.emu.wait_notifications(5)
            busy = self.db.one(
                "SELECT (SELECT count(*) FROM o365_push_queue) + (SELECT count(*) FROM o365_pull_request)"
                " + (SELECT count(*) FROM o365_sync_account WHERE subscription_to_remove IS NOT NULL)"
            )
            calm = calm + 1 if idle and not busy else 0
            if calm >= 3:
                return
            time.sleep(2)
        raise AssertionError(f"not settled within {timeout} s")

    # -- what must hold ----------------------------------------------------------------------

    def meeting_problems(self, meetings):
        h = self.harness
        problems = []
        rows = self.db.q(
            "SELECT e.name, e.id, array_remove(array_agg(a.user_id), NULL) FROM calendar_event e"
            " LEFT JOIN mail_activity a ON a.calendar_event_id = e.id"
            " WHERE e.name = ANY(%s) GROUP BY e.name, e.id",
            [list(meetings)],
        )
        records = {}
        for name, event_id, todo_users in rows:
            records.setdefault(name, []).append((event_id, sorted(todo_users)))
        for subject, (i, j, ended) in meetings.items():
            found = records.get(subject, [])
            if len(found) != 1:
                problems.append(f"{subject}: {len(found)} Odoo records")
            elif not ended and found[0][1] != sorted([h.user_ids[i], h.user_ids[j]]):
                problems.append(f"{subject}: to-dos of users {found[0][1]}, expected one for each of {i}, {j}")
        return problems

    def activity_problems(self, tag):
        h = self.harness
        pattern = re.compile(rf"(?:^|: )({re.escape(tag)} a\d+x\d+)$")
        seen = {}
        for index, upn in enumerate(h.upns):
            for event in self.emu.events(upn):
                found = pattern.search(event.get("subject") or "")
                if found:
                    seen.setdefault(found.group(1), []).append(index)
        problems = []
        for summary, index in self.activities.values():
            if summary.startswith(tag + " ") and seen.get(summary) != [index]:
                problems.append(f"{summary}: in the calendars of users {seen.get(summary)}, expected [{index}]")
        return problems

    def subscription_problems(self):
        known = dict(self.db.q("SELECT id, subscription_id FROM o365_sync_account WHERE sync_state = 'running'"))
        at_graph = [s["id"] for s in self.emu.subscriptions()]
        problems = [f"account {a}: no subscription" for a, s in known.items() if not s]
        if sorted(at_graph) != sorted(s for s in known.values() if s):
            problems.append(f"{len(at_graph)} subscriptions at Graph, {len(known)} syncing mailboxes in Odoo")
        return problems

    def log_marks(self):
        paths = [s.log_path for s in self.servers] + [self.pg.log_path]
        return {p: os.path.getsize(p) if os.path.exists(p) else 0 for p in paths}

    def logs_since(self, marks):
        out = {}
        for path, mark in marks.items():
            with open(path, errors="replace") as f:
                f.seek(mark)
                out[path] = f.read()
        return out


def engine_conflicts(pg_log):
    """Serialization failures and deadlocks in PostgreSQL's log, less Odoo's own cron runner taking
    a job another thread took first (it expects that, and skips the job without a word)."""
    entries = re.split(r"\n(?=\d{4}-\d\d-\d\d \S+ UTC \[\d+\] ERROR:)", pg_log)
    return sum(1 for e in entries if RACE_WORDS.search(e) and "last_cron_progress" not in e)


@pytest.fixture(scope="module")
def world():
    for key in ("PY", "ODOO_BIN", "ODOO_CONF"):
        if not os.environ.get(key):
            pytest.skip(f"{key} is not set: source tools/env.sh first")
    if not os.path.exists(f"{ft.PG_BIN}/initdb"):
        pytest.skip(f"no {ft.PG_BIN}/initdb for a private PostgreSQL cluster")
    saved_conf = os.environ["ODOO_CONF"]
    workdir = tempfile.mkdtemp(prefix="o365-race-")
    w = RaceWorld(workdir)
    try:
        w.setup()
        yield w
    finally:
        w.teardown()
        os.environ["ODOO_CONF"] = saved_conf
        shutil.rmtree(w.pg.data, ignore_errors=True)
        shutil.rmtree(os.path.join(workdir, "filestore"), ignore_errors=True)
        log(f"logs kept in {workdir}")


@pytest.mark.parametrize("run", range(1, PASSES + 1))
def test_concurrent_users_on_two_servers(world, run):
    """B11, B12, B13, E3, E6, E7, S4, issue 28: users of two servers acting at once leave one record per
    Outlook meeting, one Outlook event per To-Do, every mailbox subscribed once, and logs without ERROR,
    serialization failure or deadlock."""
    tag = f"R{run}"
    marks = world.log_marks()
    retries_before = world.user_retries
    started = time.time()
    meetings = world.drive(tag, ROUNDS)
    world.settle()
    took = time.time() - started
    log(f"pass {run}: {len(meetings)} meetings and {len(world.activities)} To-Dos, settled in {took:.0f} s")
    logs = world.logs_since(marks)
    problems = world.meeting_problems(meetings) + world.activity_problems(tag) + world.subscription_problems()
    for server in world.servers:
        text = logs[server.log_path]
        problems += [f"{server.name}: {line}" for line in ERROR_LINE.findall(text)]
        problems += [f"{server.name}: {m.group(0)}" for m in RACE_WORDS.finditer(text)]
    pg_races = engine_conflicts(logs[world.pg.log_path])
    user_retries = world.user_retries - retries_before
    log(f"pass {run}: users' saves retried {user_retries} times; PostgreSQL logged {pg_races} conflicts")
    # The engine's transactions meet none: what PostgreSQL logs is the users' own saves, retried.
    if pg_races > user_retries:
        problems.append(f"PostgreSQL logged {pg_races} conflicts, the users' saves met {user_retries}")
    assert not problems, "\n".join(problems[:40])
