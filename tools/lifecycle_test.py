"""Install and uninstall the module in fresh databases, as the Apps menu does.

Run by tools/test.sh with the environment of tools/env.sh (PY, ODOO_BIN,
ODOO_CONF, PGHOST...). Each case builds its own database and drops it after.
"""

import json
import os
import subprocess
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

MODULE = "o365_calendar_sync"
MODULE_TABLES = (
    "o365_sync_account",
    "o365_event_link",
    "o365_push_queue",
    "o365_pull_request",
    "o365_event_exclusion",
)


def odoo(*args, subcommand=(), stdin=None):
    cmd = [
        os.environ["PY"],
        os.environ["ODOO_BIN"],
        *subcommand,
        "-c",
        os.environ["ODOO_CONF"],
        "--log-level=warn",
        *args,
    ]
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    # Odoo logs a failed data file or a traceback and may still exit 0.
    for marker in ("Traceback", "ERROR ", "CRITICAL "):
        assert marker not in done.stderr, f"{' '.join(args)} logged a problem:\n{done.stderr[-5000:]}"
    return done.stdout


def sql(db, query):
    done = subprocess.run(
        [
            "psql",
            "-h",
            os.environ["PGHOST"],
            "-p",
            os.environ["PGPORT"],
            "-U",
            os.environ["PGUSER"],
            "-d",
            db,
            "-Atc",
            query,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def module_state(db):
    return sql(db, f"SELECT state FROM ir_module_module WHERE name = '{MODULE}'")


def table_exists(db, table):
    return sql(db, f"SELECT to_regclass('public.{table}') IS NOT NULL") == "t"


def shell(db, script):
    """Run ``script`` in ``odoo-bin shell`` on ``db`` (as the superuser); returns what it printed."""
    return odoo("-d", db, "--no-http", subcommand=["shell"], stdin=script)


def apps_menu(db, button):
    """Press Install or Uninstall on the module's card, as an administrator would."""
    odoo(
        "-d",
        db,
        "--no-http",
        subcommand=["shell"],
        stdin=f"env['ir.module.module'].search([('name', '=', '{MODULE}')]).{button}()\nenv.cr.commit()\n",
    )


@pytest.fixture
def fresh_db():
    name = f"o365_lifecycle_{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(
        [
            "dropdb",
            "-h",
            os.environ["PGHOST"],
            "-p",
            os.environ["PGPORT"],
            "-U",
            os.environ["PGUSER"],
            "--if-exists",
            name,
        ],
        check=False,
    )


@pytest.mark.parametrize("demo", [False, True], ids=["without-demo", "with-demo"])
def test_install_uninstall_reinstall(fresh_db, demo):
    """Issue 2: the module installs, uninstalls and installs again from the Apps menu."""
    odoo("-d", fresh_db, "-i", "calendar,hr_holidays", "--stop-after-init", *([] if demo else ["--without-demo=all"]))
    assert module_state(fresh_db) == "uninstalled"

    apps_menu(fresh_db, "button_immediate_install")
    assert module_state(fresh_db) == "installed"
    assert all(table_exists(fresh_db, t) for t in MODULE_TABLES)

    apps_menu(fresh_db, "button_immediate_uninstall")
    assert module_state(fresh_db) == "uninstalled"
    assert not any(table_exists(fresh_db, t) for t in MODULE_TABLES)
    assert sql(fresh_db, f"SELECT count(*) FROM ir_model_data WHERE module = '{MODULE}'") == "0"

    apps_menu(fresh_db, "button_immediate_install")
    assert module_state(fresh_db) == "installed"


# -- S8: a neutralized copy reaches no mailbox ------------------------------------------------

CLIENT_ID, CLIENT_SECRET = "lifecycle-client", "lifecycle-secret"
ORG_DOMAIN = "contoso.example"
APPLICATION_PERMISSIONS = ("Calendars.ReadWrite", "User.Read.All", "MailboxSettings.Read")
PER_USER, ORGANISATION = ("ann", "ben"), ("cy", "di")


class _ProductionWebhook(BaseHTTPRequestHandler):
    """Production's notification endpoint: answers Graph's validation handshake, takes notifications."""

    def do_POST(self):
        token = parse_qs(urlsplit(self.path).query).get("validationToken")
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200 if token else 202)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        if token:
            self.wfile.write(token[0].encode())

    def log_message(self, *_args):
        pass


@pytest.fixture
def production(tmp_path):
    """A Graph emulator and production's webhook endpoint, on loopback, for one test."""
    from graph_emulator import GraphEmulator

    emulator = GraphEmulator(host="127.0.0.1", port=0, http_port=0, data_dir=str(tmp_path / "emulator")).start()
    webhook = ThreadingHTTPServer(("127.0.0.1", 0), _ProductionWebhook)
    threading.Thread(target=webhook.serve_forever, daemon=True).start()
    try:
        yield emulator, f"http://127.0.0.1:{webhook.server_address[1]}"
    finally:
        webhook.shutdown()
        emulator.stop()


SETUP = """
import requests
from urllib.parse import parse_qsl, urlsplit
from odoo.addons.o365_calendar_sync.engine.importer import Importer
P = env["ir.config_parameter"]
for key, value in {params!r}.items():
    P.set_param("o365_calendar_sync." + key, value)
Account = env["o365.sync.account"]
contact = env["res.partner"].create({{"name": "Jane Buyer", "email": "jane@customer.example"}})

def user(login):
    upn = login + "@{domain}"
    return env["res.users"].create({{"name": login, "login": upn, "email": upn,
                                     "groups_id": [(6, 0, [env.ref("base.group_user").id])]}})

for login in {per_user!r}:  # S2: each signs in through MSAL's code flow, then presses Start
    person = user(login)
    account = Account._for_user(person)
    login_flow = account._login()
    flow = login_flow.begin(redirect_uri={redirect!r}, login_hint=person.email)
    form = dict(parse_qsl(urlsplit(flow["auth_uri"]).query), login=person.email, consent="accept")
    answer = requests.post(flow["auth_uri"].split("?")[0], data=form, allow_redirects=False, timeout=30,
                           verify={ca!r})
    login_flow.complete(flow, dict(parse_qsl(urlsplit(answer.headers["Location"]).query)))
    account._connect(login_flow)
    person.with_user(person).action_o365_start_sync()
P.set_param("o365_calendar_sync.connection_mode", "organization")  # O1: the organisation starts the others
env["o365.sync.start.users"]._start_users(env["res.users"].concat(*(user(login) for login in {organisation!r})))
env.cr.commit()
for account in Account.search([]):  # what the pull job does right after Start: subscribe, first pull
    Importer(env).run(account, remove_old_subscription=False)
    env.cr.commit()
# A certificate, as an administrator pastes it (its value only has to be cleared by neutralize).
if {certificate!r}:
  P.set_param("o365_calendar_sync.certificate", "-----BEGIN PRIVATE KEY-----\\nproduction\\n-----END PRIVATE KEY-----")
  P.set_param("o365_calendar_sync.certificate_thumbprint", "AB12CD")
# A change waiting for Outlook when the copy is taken.
env["mail.activity"].create({{"res_model_id": env["ir.model"]._get_id("res.partner"), "res_id": contact.id,
    "activity_type_id": env.ref("mail.mail_activity_data_todo").id, "summary": "Waits in production",
    "user_id": env["res.users"].search([("login", "=", "ann@{domain}")]).id}})
env.cr.commit()
"""

STAGING = """
import json
from odoo.exceptions import UserError
from odoo.addons.o365_calendar_sync.engine import subscriptions
out = {{}}
env["o365.sync.cron"]._cron_push()
env["o365.sync.cron"]._cron_pull()
env["o365.sync.cron"]._cron_renew_subscriptions()
subscriptions.sweep_organization_subscriptions(env)
env.cr.commit()
people = env["res.users"].search([("login", "like", "@{domain}")])
refused = {{}}
for person in people:  # each presses Start Syncing on their Calendar tab
    try:
        with env.cr.savepoint():
            person.with_user(person).action_o365_start_sync()
        refused[person.login] = None
    except UserError as exc:
        refused[person.login] = str(exc)
out["refused"] = refused
person = people[0].with_user(people[0])
out["calendar_tab"] = person.o365_neutralized_notice
out["indicator"] = person.o365_sync_indicator()
out["settings"] = env["res.config.settings"].create({{}}).o365_neutralized_notice
env.cr.commit()
print("RESULT " + json.dumps(out))
"""

NEW_SETTINGS = """
import json
settings = env["res.config.settings"].create({{"o365_client_secret": {secret!r}}})
settings.execute()  # an administrator types a new client secret and saves (S8)
person = env["res.users"].search([("login", "=", "cy@{domain}")])
person.with_user(person).action_o365_start_sync()
env.cr.commit()
account = env["o365.sync.account"].search([("user_id", "=", person.id)])
print("RESULT " + json.dumps([env["o365.config"]._neutralized_notice(), account.sync_state]))
"""


def _result(output):
    return json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[7:])


def _accounts(db):
    rows = sql(
        db,
        "SELECT u.login, a.connected_by, a.connection_state, a.sync_state, a.token_cache IS NOT NULL,"
        " a.subscription_id IS NOT NULL, a.subscription_secret IS NOT NULL, a.delta_link IS NOT NULL,"
        " COALESCE(a.last_error, '') FROM o365_sync_account a JOIN res_users u ON u.id = a.user_id ORDER BY u.login",
    )
    return [line.split("|") for line in rows.splitlines()]


def _param(db, key):
    return sql(db, f"SELECT value FROM ir_config_parameter WHERE key = 'o365_calendar_sync.{key}'")


def _syncing_production(db, emulator, webhook, certificate=True):
    """``db`` with the module and four syncing users, two who signed in and two the organisation connected,
    each with its subscription, and one change waiting for Outlook. Returns (accounts, subscription ids)."""
    state = emulator.state
    state.register_app(
        CLIENT_ID,
        CLIENT_SECRET,
        redirect_uris=[webhook + "/o365_calendar_sync/oauth/callback"],
        application_permissions=APPLICATION_PERMISSIONS,
    )
    state.grant_admin_consent(CLIENT_ID)
    for login in PER_USER + ORGANISATION:
        state.add_user(f"{login}@{ORG_DOMAIN}", time_zone="Europe/London")
    odoo("-d", db, "-i", MODULE, "--stop-after-init", "--without-demo=all")
    params = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "tenant": ORG_DOMAIN,
        "login_endpoint": emulator.base_url,
        "graph_endpoint": emulator.graph_url,
        "ca_bundle": emulator.ca_path,
        "public_base_url": webhook,
        "org_domains": ORG_DOMAIN,
        "connection_mode": "user",
    }
    shell(
        db,
        SETUP.format(
            params=params,
            domain=ORG_DOMAIN,
            per_user=PER_USER,
            organisation=ORGANISATION,
            redirect=webhook + "/o365_calendar_sync/oauth/callback",
            ca=emulator.ca_path,
            certificate=certificate,
        ),
    )
    before = _accounts(db)
    assert [(row[1], row[2], row[3], row[5], row[6]) for row in before] == [
        ("user", "connected", "running", "t", "t"),
        ("user", "connected", "running", "t", "t"),
        ("organization", "connected", "running", "t", "t"),
        ("organization", "connected", "running", "t", "t"),
    ], before
    assert [row[4] for row in before] == ["t", "t", "f", "f"], "the per-user sign-ins are kept"
    subscriptions = {s["id"] for s in state.list_subscriptions()}
    assert len(subscriptions) == 4
    assert sql(db, "SELECT count(*) FROM o365_push_queue") == "1"
    return before, subscriptions


def test_neutralized_copy_reaches_no_mailbox(fresh_db, production):
    """S8: a copy of a database with syncing users in both connection modes (two who signed in, two the
    organisation connected), neutralized with ``odoo-bin neutralize``, holds no sign-in, subscription,
    delta cursor or waiting change, no account is left syncing, and the organisation's secret and
    certificate are gone. Its jobs and its users' Start Syncing make no Graph request (Start says why),
    Settings and the Calendar tab say why; production's accounts and subscriptions are untouched. An
    administrator's new client secret, saved in the copy's Settings, is what lets sync start there."""
    emulator, webhook = production
    state = emulator.state
    before, subscriptions = _syncing_production(fresh_db, emulator, webhook)

    copy = f"{fresh_db}_staging"
    pg = ["-h", os.environ["PGHOST"], "-p", os.environ["PGPORT"], "-U", os.environ["PGUSER"]]
    subprocess.run(["createdb", *pg, "-T", fresh_db, copy], check=True, timeout=300)
    try:
        odoo("-d", copy, subcommand=["neutralize"])
        after = _accounts(copy)
        reason = "This database is a neutralized copy: Microsoft 365 sync is off."
        assert [row[2:] for row in after] == [["disconnected", "stopped", "f", "f", "f", "f", reason]] * 4, after
        for key in ("client_secret", "certificate", "certificate_thumbprint", "public_base_url"):
            assert _param(copy, key) == "", f"{key} is cleared"
        assert _param(copy, "neutralized") == "1"
        assert sql(copy, "SELECT count(*) FROM o365_push_queue") == "0", "production pushes its own changes"
        assert sql(copy, "SELECT count(*) FROM o365_sync_account WHERE subscription_to_remove IS NOT NULL") == "0"

        state.clear_requests()
        staging = _result(shell(copy, STAGING.format(domain=ORG_DOMAIN)))
        assert state.request_stats()["total"] == 0, state.request_stats()["byEndpoint"]
        assert {s["id"] for s in state.list_subscriptions()} == subscriptions, "production's subscriptions stay"
        assert all(words and "neutralized copy" in words for words in staging["refused"].values()), staging
        for shown in (staging["calendar_tab"], staging["settings"], staging["indicator"]["error"]):
            assert "This database is a neutralized copy: Microsoft 365 sync is off." in shown
        assert staging["indicator"]["label"] == "Microsoft 365: off in this copy"
        assert _accounts(fresh_db) == before, "production notices nothing"

        # The administrator's explicit new settings switch sync on in the copy, and only them.
        notice, sync_state = _result(shell(copy, NEW_SETTINGS.format(secret=CLIENT_SECRET, domain=ORG_DOMAIN)))
        assert (notice, sync_state) == ("", "running")
    finally:
        subprocess.run(["dropdb", *pg, "--if-exists", copy], check=False)


def test_uninstall_removes_subscriptions_and_nothing_in_outlook(fresh_db, production):
    """Issue 22 (uninstall), E7: uninstalling the module from the Apps menu, with syncing users in both
    connection modes, deletes its four Graph subscriptions (its uninstall hook; Graph would otherwise keep
    notifying an address that no longer answers), and deletes nothing in Outlook."""
    emulator, webhook = production
    state = emulator.state
    _syncing_production(fresh_db, emulator, webhook, certificate=False)
    shell(fresh_db, "env['o365.sync.cron']._cron_push()\nenv.cr.commit()\n")
    events = state.events_raw("ann@contoso.example")
    assert [e["subject"] for e in events] == ["Task: Waits in production"]

    apps_menu(fresh_db, "button_immediate_uninstall")
    assert module_state(fresh_db) == "uninstalled"
    assert state.list_subscriptions() == [], "every subscription is removed"
    assert state.events_raw("ann@contoso.example") == events, "nothing is deleted in Outlook"
