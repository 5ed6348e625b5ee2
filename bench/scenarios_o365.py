"""Scenarios of this module (o365_calendar_sync): push, pull, notification latency.

(Throughput of many mailboxes on real odoo-bin servers is bench/engine.py.)

Every change is its own committed transaction, as a user's request would be; the
module's jobs run as their crons run them (a cursor of the database's registry).
"""

import time
from datetime import date, timedelta

from odoo import api, fields

from .common import (
    CUSTOMER_DOMAIN,
    ORG_DOMAIN,
    STRANGER_DOMAIN,
    Meter,
    create_outlook_events,
    create_user,
    graph_counts,
    outlook_event,
    outlook_session,
    request_count,
    superuser_env,
)
from .connect import connect_account
from .stats import percentile


def change_mix(total):
    """Split ``total`` changes into creates, edits and deletes (50 % / 30 % / 20 %)."""
    creates = max(1, round(total * 0.5))
    edits = min(creates, round(total * 0.3))
    deletes = min(creates, total - creates - edits)
    return creates, edits, deletes


def make_user(registry, emu, login, start_sync_fields=True):
    """A committed internal user whose sync account is connected through MSAL, syncing since an hour ago."""
    upn = f"{login}@{ORG_DOMAIN}"
    emu.state.add_user(upn, display_name=login, time_zone="UTC")
    with registry.cursor() as cr:
        env = superuser_env(cr)
        user = create_user(env, login, upn)
        account = env["o365.sync.account"]._for_user(user)
        connect_account(emu, account, upn)
        if start_sync_fields:
            # Syncing, as after Start (S3), minus the webhook subscription: these
            # scenarios measure the jobs, not the notification path.
            account.write({"sync_state": "running", "sync_started_at": fields.Datetime.now() - timedelta(hours=1)})
        return user.id, account.id, upn


def pending_rows(registry):
    with registry.cursor() as cr:
        cr.execute(
            "SELECT count(*) FILTER (WHERE next_attempt_at <= now() at time zone 'UTC' AND state = 'pending'),"
            " count(*) FROM o365_push_queue"
        )
        return cr.fetchone()


def run_push_job(registry):
    """The push cron, once: ``push_due`` in a cursor, as ir.cron runs ``_cron_push`` (engine/cron.py)."""
    with registry.cursor() as cr:
        from odoo.addons.o365_calendar_sync.engine import pusher  # the bench runs outside the module

        return dict(pusher.push_due(superuser_env(cr)))


def push_until_empty(registry, max_runs=50):
    totals = {}
    for _run in range(max_runs):
        due, _all = pending_rows(registry)
        if not due:
            break
        for key, value in run_push_job(registry).items():
            totals[key] = totals.get(key, 0) + value
    return totals


def create_activities(registry, user_id, count, summary, one_transaction_each=True):
    """Activities assigned to the user on a customer contact; returns their ids."""
    ids = []
    with registry.cursor() as cr:
        env = superuser_env(cr)
        email = f"bench.customer@{CUSTOMER_DOMAIN}"
        partner = env["res.partner"].search([("email", "=", email)], limit=1)
        partner_id = (partner or env["res.partner"].create({"name": "Bench Customer", "email": email})).id
        model_id = env["ir.model"]._get_id("res.partner")
        todo_id = env.ref("mail.mail_activity_data_todo").id

    def make(env, i):
        return (
            env["mail.activity"]
            .create(
                {
                    "res_model_id": model_id,
                    "res_id": partner_id,
                    "activity_type_id": todo_id,
                    "summary": f"{summary} {i}",
                    "user_id": user_id,
                    "date_deadline": date.today() + timedelta(days=1 + i % 200),
                }
            )
            .id
        )

    if one_transaction_each:
        for i in range(count):
            with registry.cursor() as cr:
                ids.append(make(api.Environment(cr, user_id, {}), i))
    else:
        with registry.cursor() as cr:
            env = api.Environment(cr, user_id, {})
            ids = [make(env, i) for i in range(count)]
    return ids


# -- 1. push -------------------------------------------------------------------------------


def scenario_push(registry, emu, out, changes):
    creates, edits, deletes = change_mix(changes)
    stamp = time.strftime("%H%M%S")
    user_id, _account_id, upn = make_user(registry, emu, f"bench_push_{stamp}")
    out.update(changes=creates + edits + deletes, creates=creates, edits=edits, deletes=deletes, upn=upn)
    phases = {}
    with Meter(emu) as total:
        with Meter(emu) as m:
            ids = create_activities(registry, user_id, creates, "Bench task")
        phases["create_save"] = m.result
        with Meter(emu) as m:
            stats_create = push_until_empty(registry)
        phases["create_push"] = m.result
        with Meter(emu) as m:
            for activity_id in ids[:edits]:
                with registry.cursor() as cr:
                    activity = api.Environment(cr, user_id, {})["mail.activity"].browse(activity_id)
                    activity.write({"summary": f"Bench task edited {activity_id}"})
        phases["edit_save"] = m.result
        with Meter(emu) as m:
            stats_edit = push_until_empty(registry)
        phases["edit_push"] = m.result
        with Meter(emu) as m:
            for activity_id in ids[len(ids) - deletes :]:
                with registry.cursor() as cr:
                    api.Environment(cr, user_id, {})["mail.activity"].browse(activity_id).unlink()
        phases["delete_save"] = m.result
        with Meter(emu) as m:
            stats_delete = push_until_empty(registry)
        phases["delete_push"] = m.result
    out["total"] = total.result
    out["phases"] = phases
    out["push_stats"] = {"create": stats_create, "edit": stats_edit, "delete": stats_delete}
    events = emu.state.events_raw(upn)
    edited = sum(1 for e in events if "Bench task edited" in e["subject"])
    left = pending_rows(registry)[1]
    out["verified"] = len(events) == creates - deletes and edited == min(edits, creates - deletes) and left == 0
    out["verification"] = (
        f"{len(events)} events in the mailbox (expected {creates - deletes}), {edited} edited,"
        f" {left} rows left in the queue"
    )
    save = [phases[k] for k in ("create_save", "edit_save", "delete_save")]
    push = [phases[k] for k in ("create_push", "edit_push", "delete_push")]
    out["save_wall_s"] = sum(p["wall_s"] for p in save)
    out["push_wall_s"] = sum(p["wall_s"] for p in push)
    out["push_cpu_s"] = sum(p["odoo_cpu_s"] for p in push)
    out["push_sql"] = sum(p["sql_queries"] for p in push)


# -- 2. pull -------------------------------------------------------------------------------


def make_contacts(registry, count):
    """``count`` customer contacts (external addresses) that Outlook attendees can match."""
    with registry.cursor() as cr:
        env = superuser_env(cr)
        stamp = time.strftime("%H%M%S")
        emails = [f"c{stamp}.{i}@{CUSTOMER_DOMAIN}" for i in range(count)]
        env["res.partner"].create([{"name": f"Bench Contact {i}", "email": e} for i, e in enumerate(emails)])
        return emails


def scenario_pull(registry, emu, out, events):
    stamp = time.strftime("%H%M%S")
    _user_id, account_id, upn = make_user(registry, emu, f"bench_pull_{stamp}")
    matching = events // 2
    emails = make_contacts(registry, matching)
    attendees = emails + [f"nobody{stamp}.{i}@{STRANGER_DOMAIN}" for i in range(events - matching)]
    create_outlook_events(emu, upn, [outlook_event(i, a, day_offset=1 + i % 90) for i, a in enumerate(attendees)])
    out.update(events=events, with_contact=matching, upn=upn)
    with registry.cursor() as cr:
        superuser_env(cr)["o365.pull.request"].enqueue([account_id], "pull")
    from odoo.addons.o365_calendar_sync.engine.importer import Importer  # the bench runs outside the module

    with Meter(emu) as m:
        # The pull job's step for one account (what the pull cron runs per account), again while
        # work stays queued for it (a transient failure re-queues a pull): until caught up.
        for rounds in range(1, 11):  # noqa: B007 - the count is reported
            with registry.cursor() as cr:
                account = superuser_env(cr)["o365.sync.account"].browse(account_id)
                ok = Importer(account.env).run(account, remove_old_subscription=False)
                cr.execute("SELECT count(*) FROM o365_pull_request WHERE account_id = %s", [account_id])
                if not cr.fetchone()[0]:
                    break
    out["total"] = m.result
    out["pull_rounds"] = rounds
    with registry.cursor() as cr:
        env = superuser_env(cr)
        account = env["o365.sync.account"].browse(account_id)
        logged = env["o365.event.link"].search_count(
            [("account_id", "=", account_id), ("res_model", "=", "calendar.event"), ("origin", "=", "outlook")]
        )
        error = account.last_error
    out["logged"] = logged
    out["verified"] = bool(ok) and logged == matching
    out["verification"] = f"{logged} meetings logged (expected {matching}); pull ok={ok}; last_error={error or '-'}"
    out["events_per_request"] = events / max(m.result["graph"]["http"], 1)
    out["ingest_per_s"] = events / m.result["wall_s"]


# -- 3. notification latency ---------------------------------------------------------------


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_server_stats(path, after):
    """The wrapper's counters, written after the wall-clock moment ``after``."""
    import json

    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            with open(path) as f:
                stats = json.load(f)
            if stats["time"] > after:
                return stats
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the Odoo server wrote no statistics to {path}")


def start_odoo_server(db, workdir):
    """Real Odoo serving HTTP (threaded, --workers=0) with one cron thread, on a free port."""
    import os
    import subprocess
    import sys

    import requests

    port = free_port()
    stats = os.path.join(workdir, "server-stats.json")
    log = open(os.path.join(workdir, "server.log"), "w")  # noqa: SIM115 - closed with the process
    command = [
        sys.executable,
        os.path.join(os.path.dirname(__file__), "odoo_server.py"),
        stats,
        "-c",
        os.environ["ODOO_CONF"],
        "-d",
        db,
        f"--db-filter=^{db}$",
        "--http-interface=127.0.0.1",
        f"--http-port={port}",
        "--workers=0",
        "--max-cron-threads=1",
        "--log-level=warn",
    ]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"odoo-bin exited with {process.returncode}; see {log.name}")
        try:
            if requests.get(url + "/web/health", timeout=2).status_code == 200:
                return process, url, stats, log.name
        except requests.RequestException:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"odoo-bin did not answer on {url} within 120 s; see {log.name}")


def stop_odoo_server(process):
    import signal

    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except Exception:
            process.kill()
            process.wait(10)


def wait_for(predicate, timeout, step=0.005):
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if predicate():
            return time.perf_counter() - start
        time.sleep(step)
    return None


def scenario_latency(registry, emu, out, samples, workdir, configure):
    import psycopg2

    db = registry.db_name
    stamp = time.strftime("%H%M%S")
    emails = make_contacts(registry, samples)
    process, url, stats_path, log_path = start_odoo_server(db, workdir)
    out.update(samples=samples, odoo_url=url, server_log=log_path)
    try:
        configure(public_base_url=url)
        _user_id, account_id, upn = make_user(registry, emu, f"bench_latency_{stamp}", start_sync_fields=False)
        with registry.cursor() as cr:
            superuser_env(cr)["o365.sync.account"].browse(account_id)._start_sync()
        conn = psycopg2.connect(dbname=db, **_pg_params())
        conn.autocommit = True
        db_cursor = conn.cursor()

        def first_pull_done():
            db_cursor.execute("SELECT last_pull_at, subscription_id FROM o365_sync_account WHERE id = %s", [account_id])
            row = db_cursor.fetchone()
            return bool(row[0] and row[1])

        if wait_for(first_pull_done, 120, 0.1) is None:
            db_cursor.execute("SELECT last_error FROM o365_sync_account WHERE id = %s", [account_id])
            raise RuntimeError(f"the sync did not start (subscription + first pull): {db_cursor.fetchone()[0]}")
        session = outlook_session(emu, upn)
        emu.wait_for_notifications(10)
        before = read_server_stats(stats_path, time.time())
        since = request_count(emu)
        delays, missed = [], 0
        started = time.perf_counter()
        for i, email in enumerate(emails):
            t0 = time.perf_counter()
            # The id in the form Odoo stores it (it asks Graph for immutable ids): the link is looked up by it.
            answer = session.post(
                emu.graph_url + "/me/events",
                json=outlook_event(i, email),
                headers={"Prefer": 'IdType="ImmutableId"'},
                timeout=30,
            )
            answer.raise_for_status()
            event_id = answer.json()["id"]

            def arrived(event_id=event_id):
                db_cursor.execute("SELECT 1 FROM o365_event_link WHERE graph_event_id = %s", [event_id])
                return db_cursor.fetchone() is not None

            if wait_for(arrived, 30) is None:
                missed += 1
                if missed >= 5:
                    break  # the notification path is broken: say so instead of waiting 30 s per change
            else:
                delays.append(time.perf_counter() - t0)
        wall = time.perf_counter() - started
        after = read_server_stats(stats_path, time.time())
        graph = graph_counts(emu, since)
        conn.close()
    finally:
        stop_odoo_server(process)
    out["total"] = {
        "wall_s": wall,
        "odoo_cpu_s": after["cpu_s"] - before["cpu_s"],
        "sql_queries": after["sql_queries"] - before["sql_queries"],
        "graph": graph,
        "peak_rss_mb": after["peak_rss_mb"],
        "rss_start_mb": None,
    }
    out["delays_s"] = delays
    out["missed"] = missed
    out["median_s"] = percentile(delays, 50)
    out["p90_s"] = percentile(delays, 90)
    out["p99_s"] = percentile(delays, 99)
    out["max_s"] = max(delays) if delays else None
    out["verified"] = missed == 0 and len(delays) == samples
    out["verification"] = f"{len(delays)} of {samples} Outlook changes reached Odoo within 30 s"
    out["cpu_note"] = "CPU, SQL and peak memory are those of the odoo-bin process (HTTP + cron threads)"


def _pg_params():
    from odoo.tools import config

    params = {"host": config["db_host"] or None, "port": config["db_port"] or None, "user": config["db_user"] or None}
    if config["db_password"]:
        params["password"] = config["db_password"]
    return {k: v for k, v in params.items() if v}
