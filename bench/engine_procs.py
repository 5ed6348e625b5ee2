"""Processes of the engine benchmark: the Graph emulator and real ``odoo-bin`` servers.

Each runs in its own process group started here, so it can be stopped as a whole
(SIGTERM, then SIGKILL after a grace period) and only those processes are touched.
Every wait is bounded in time. All traffic stays on 127.0.0.1.
"""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import requests

LOOPBACK = "127.0.0.1"


def port_is_free(port):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port():
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _session():
    session = requests.Session()
    session.trust_env = False  # no proxy, no REQUESTS_CA_BUNDLE override: loopback only
    return session


def stop_group(process, grace=20.0):
    """SIGTERM the process group started with ``process``, then SIGKILL what is left."""
    if process is None:
        return
    try:
        pgid = os.getpgid(process.pid)
    except ProcessLookupError:
        pgid = None
    if process.poll() is None and pgid:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    if pgid:
        # Workers of a prefork Odoo may outlive the master for a moment: kill the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)


def tree_cpu_seconds(root_pid):
    """User + system CPU seconds of ``root_pid`` and its live descendants (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    children = {}
    stats = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rfind(")") + 2 :].split()
        ppid = int(rest[1])
        children.setdefault(ppid, []).append(int(entry))
        # utime, stime, cutime, cstime (fields 14-17 of stat: rest index 11-14)
        stats[int(entry)] = sum(int(x) for x in rest[11:15]) / tick
    total, todo = 0.0, [root_pid]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


class Emulator:
    """``python -m graph_emulator`` in its own process on loopback, driven over its control API."""

    def __init__(self, repo, workdir, log_path):
        self.repo = repo
        self.data_dir = os.path.join(workdir, "emulator-data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.port = free_port()
        self.http_port = free_port()
        self.log_path = log_path
        self.process = None
        self.base_url = f"https://{LOOPBACK}:{self.port}"
        self.graph_url = self.base_url + "/v1.0"
        self.http_base_url = f"http://{LOOPBACK}:{self.http_port}"
        self.ca_path = os.path.join(self.data_dir, "ca.pem")
        self.session = _session()

    def start(self, timeout=60):
        log = open(self.log_path, "w")  # noqa: SIM115 - kept open for the child's lifetime
        command = [
            sys.executable,
            "-m",
            "graph_emulator",
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--http-port",
            str(self.http_port),
            "--data-dir",
            self.data_dir,
        ]
        self.process = subprocess.Popen(
            command, cwd=self.repo, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Graph emulator exited with {self.process.returncode}; see {self.log_path}")
            with contextlib.suppress(requests.RequestException):
                if self.session.get(self.http_base_url + "/_emulator/tenant", timeout=2).status_code == 200:
                    return self
            time.sleep(0.2)
        raise RuntimeError(f"the Graph emulator did not answer within {timeout} s; see {self.log_path}")

    def stop(self):
        stop_group(self.process, grace=10)

    # -- control API (graph_emulator/README.md) -------------------------------------------

    def control(self, method, path, json=None, timeout=120):
        answer = self.session.request(method, self.http_base_url + path, json=json, timeout=timeout)
        if answer.status_code >= 400:
            raise RuntimeError(f"emulator {method} {path} answered {answer.status_code}: {answer.text[:300]}")
        return answer.json() if answer.content else None

    def register_app(self, client_id, secret, application_permissions=()):
        self.control(
            "POST",
            "/_emulator/apps",
            {"client_id": client_id, "secret": secret, "application_permissions": list(application_permissions)},
        )

    def grant_admin_consent(self, client_id):
        """What an administrator's Accept on the admin consent page does: every requested application
        permission becomes a role of the application's tokens."""
        return self.control("POST", f"/_emulator/apps/{client_id}/admin-consent")["granted"]

    def add_user(self, upn):
        self.control("POST", "/_emulator/users", {"upn": upn, "displayName": upn.split("@")[0], "timeZone": "UTC"})

    def add_latency(self, latency_ms):
        self.control("POST", "/_emulator/faults", {"kind": "latency", "latency_ms": int(latency_ms)})

    def clear_faults(self):
        self.control("DELETE", "/_emulator/faults")

    def requests_log(self):
        return self.control("GET", "/_emulator/requests", timeout=300)

    def clear_requests(self):
        self.control("DELETE", "/_emulator/requests")

    def notifications(self):
        return self.control("GET", "/_emulator/notifications", timeout=300)["value"]

    def clear_notifications(self):
        self.control("DELETE", "/_emulator/notifications")

    def wait_notifications(self, timeout=10):
        return self.control("POST", "/_emulator/notifications/wait", {"timeout": timeout}, timeout=timeout + 30)["idle"]

    def subscriptions(self):
        return self.control("GET", "/_emulator/subscriptions")["value"]

    def create_events(self, items, timeout=300):
        """``items`` = [{"upn", "event"}]: each user creates the event in Outlook (the emulator's own code for a
        user's POST /users/{upn}/events, without a Graph round trip each); returns the events as Graph answers."""
        return self.control("POST", "/_emulator/mailboxes/events", {"events": items}, timeout=timeout)["value"]

    def events(self, upn):
        return self.control("GET", f"/_emulator/mailboxes/{upn}/events")["value"]

    def graph_session(self, act_as):
        """A session acting as ``act_as`` in Outlook (emulator act-as header: no token, never faulted)."""
        session = _session()
        session.verify = self.ca_path
        session.headers["X-Emulator-Act-As"] = act_as
        return session

    def cpu_seconds(self):
        return tree_cpu_seconds(self.process.pid) if self.process else 0.0


class OdooServer:
    """A real ``odoo-bin`` server (prefork: HTTP workers + cron worker processes) on loopback."""

    def __init__(self, name, py, odoo_bin, conf, db, http_port, gevent_port, options, log_path):
        self.name = name
        self.url = f"http://{LOOPBACK}:{http_port}"
        self.log_path = log_path
        self.command = [
            py,
            odoo_bin,
            "-c",
            conf,
            "-d",
            db,
            f"--db-filter=^{db}$",
            "--http-interface",
            LOOPBACK,
            f"--http-port={http_port}",
            f"--gevent-port={gevent_port}",
            f"--logfile={log_path}",
            "--log-level=info",
            "--no-database-list",
            *options,
        ]
        self.process = None

    def start(self, env=None):
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
        return self

    def wait_ready(self, timeout=180):
        session = _session()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"odoo-bin {self.name} exited with {self.process.returncode}; see {self.log_path}")
            with contextlib.suppress(requests.RequestException):
                if session.get(self.url + "/web/health", timeout=3).status_code == 200:
                    return self
            time.sleep(0.3)
        raise RuntimeError(f"odoo-bin {self.name} did not answer on {self.url} within {timeout} s; see {self.log_path}")

    def stop(self):
        stop_group(self.process, grace=30)

    def cpu_seconds(self):
        return tree_cpu_seconds(self.process.pid) if self.process and self.process.poll() is None else 0.0


# -- profiles (python -m bench.engine --profile-dir) ------------------------------------------------

# py-spy record's options: every process of the server (the master and the workers it forks, followed as they come
# and go), 50 samples a second, only the thread holding the GIL (--gil: the Python code on the CPU; a thread waiting
# for PostgreSQL or Graph releases the GIL, and without it py-spy counts those waits as work), collapsed stacks
# (bench/profile_summary.py reads them), without pausing the processes to sample them, full file paths (so the
# summary can pick the module's files by path).
PY_SPY_OPTIONS = ("--subprocesses", "--rate", "50", "--gil", "--format", "raw", "--nonblocking", "--full-filenames")


def find_py_spy():
    """The py-spy binary: next to this interpreter (the venv's bin/, where pip installs it), else on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "py-spy")
    if os.path.isfile(here) and os.access(here, os.X_OK):
        return here
    return shutil.which("py-spy")


def check_py_spy(binary, timeout=60):
    """Fail now, not after an hour of setup, when py-spy cannot read a process here (ptrace permission)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        time.sleep(0.5)
        result = subprocess.run(
            [binary, "dump", "--pid", str(child.pid)], capture_output=True, text=True, timeout=timeout
        )
    finally:
        stop_group(child, grace=5)
    if result.returncode:
        raise RuntimeError(
            f"py-spy cannot read a process on this machine ({(result.stdout + result.stderr).strip()[-300:]}):"
            " it needs ptrace permission (root, CAP_SYS_PTRACE, or kernel.yama.ptrace_scope=0)"
        )


class PySpy:
    """``py-spy record`` of one server process tree into a raw profile, from start() until stop()."""

    def __init__(self, binary, pid, output, name=""):
        self.binary, self.pid, self.output, self.name = binary, pid, output, name
        self.process = None
        self.lines = []
        self.ready = threading.Event()
        self.error = None

    @property
    def command(self):
        return [self.binary, "record", "--pid", str(self.pid), *PY_SPY_OPTIONS, "--output", self.output]

    def start(self, timeout=20):
        """Start sampling; returns once py-spy says it samples (it attached to the process)."""
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        self.reader = threading.Thread(target=self._read, name=f"py-spy-{self.pid}", daemon=True)
        self.reader.start()
        deadline = time.time() + timeout
        while not self.ready.wait(0.05):
            if self.process.poll() is not None or time.time() > deadline:
                self.stop(timeout=10)
                self.error = f"py-spy did not start sampling: {' | '.join(self.lines)[-300:]}"
                raise RuntimeError(self.error)
        return self

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.strip())
            if "Sampling process" in line:
                self.ready.set()

    def stop(self, timeout=300):
        """SIGINT (py-spy's Ctrl-C: it writes the file), then wait for it; SIGKILL after ``timeout`` seconds."""
        if self.process is None:
            return self.report()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                self.error = self.error or f"py-spy did not write its file within {timeout} s: killed"
        self.reader.join(10)
        return self.report()

    def report(self):
        wrote = next((line for line in self.lines if "Wrote" in line), "")
        m = re.search(r"Samples: (\d+) Errors: (\d+)", wrote)
        return {
            "server": self.name,
            "pid": self.pid,
            "file": self.output,
            "written": bool(wrote) and os.path.exists(self.output),
            "samples": int(m.group(1)) if m else None,
            "errors": int(m.group(2)) if m else None,
            "returncode": self.process.returncode if self.process else None,
            "error": self.error,
            "output": None if wrote else self.lines[-5:],
        }
