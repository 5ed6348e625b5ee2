"""Shared test base: real Odoo, the project's Graph emulator over real HTTPS.

One emulator serves the whole test process; each test class starts from an empty
tenant with the module's Azure app registered and the module's settings pointed
at it. Odoo runs its HTTP server during HttpCase tests, so the emulator's change
notifications and the OAuth redirect reach the real controllers.

Change notifications are held back until a test calls ``deliver_notifications()``:
Odoo's HTTP thread shares the test's database cursor, so a notification arriving
while the test thread runs queries would interleave on one connection. Delivered
on demand, the test thread waits for the answers, as with ``url_open``.
"""

import atexit
import base64
import contextlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import requests

from graph_emulator import GraphEmulator
from graph_emulator.events import to_immutable
from odoo import SUPERUSER_ID, api, fields
from odoo.modules.registry import Registry
from odoo.sql_db import TestCursor
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import ChromeBrowser

from ..controllers.notifications import refusals
from ..controllers.oauth import PREFERENCES_URL, START_PATH
from ..engine import importer, pusher
from ..utils.auth import MicrosoftLogin, OrganizationLogin

# The organisation-wide connection (SPEC O1) asks for these application permissions.
APPLICATION_PERMISSIONS = ("Calendars.ReadWrite", "User.Read.All", "MailboxSettings.Read")
CLIENT_ID = "odoo-test-client"
CLIENT_SECRET = "odoo-test-secret"
TENANT = "contoso.example"
ORG_DOMAIN = "contoso.example"
CALLBACK_PATH = "/o365_calendar_sync/oauth/callback"
RECONNECT_NOTICE = "Microsoft 365: reconnect needed"  # subject of the S7 notification
# The settings CommittedWorld writes and puts back.
PARAMS = ("client_id", "client_secret", "tenant", "login_endpoint", "graph_endpoint", "ca_bundle", "connection_mode")

_emulator = None


def in_days(days, hour=10):
    """A whole hour ``days`` from now (UTC), as meetings are booked."""
    moment = datetime.now(UTC).replace(tzinfo=None, microsecond=0, minute=0, second=0) + timedelta(days=days)
    return moment.replace(hour=hour)


def shared_emulator():
    """The test process's emulator, started on first use."""
    global _emulator  # one server per process, started lazily
    if _emulator is None:
        data_dir = tempfile.mkdtemp(prefix="o365-emulator-")
        _emulator = GraphEmulator(host="127.0.0.1", port=0, http_port=0, data_dir=data_dir).start()
        atexit.register(_emulator.stop)
    return _emulator


def as_odoo_sees_it(events):
    """Emulator events with the immutable form of their ids, as Graph answers Odoo's requests."""
    for event in events:
        event["id"] = to_immutable(event["id"])
        if event.get("seriesMasterId"):
            event["seriesMasterId"] = to_immutable(event["seriesMasterId"])
    return events


def run_pull_requests(account):
    """Do what is queued for this account now, in the test's transaction: the pull job's step for
    one mailbox (engine/importer.py), without removing an old subscription. Returns True when a
    delta round went through."""
    return importer.Importer(account.env).run(account, remove_old_subscription=False)


def graph_time(moment, zone="UTC"):
    """A naive datetime as Graph's dateTimeTimeZone, as an Outlook user's client sends it."""
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": zone}


def attendee(address, name=None):
    """A required attendee as Graph takes it."""
    return {"emailAddress": {"address": address, "name": name or address.split("@")[0]}, "type": "required"}


@dataclass
class SyncTrap:
    """What a block queued for Outlook (see ``O365Case.trap_sync_queue``), read after the block.

    ``pushes``: the o365.push.queue rows the block created or re-queued (a change coalesced
    with a waiting one bumps its ``seq``). ``pulls``: ``(account id, kind)`` of the pull
    requests it added. ``graph_calls``: requests Odoo sent to Graph during the block.
    """

    case: object
    pushes: object = None
    pulls: list = field(default_factory=list)
    graph_calls: int = 0

    def pushed(self, record, operation=None, account=None):
        """The trapped rows of ``record`` (optionally of one operation or mailbox account)."""
        return self.pushes.filtered(
            lambda row: (
                row.res_model == record._name
                and row.res_id == record.id
                and (operation is None or row.operation == operation)
                and (account is None or row.account_id == account)
            )
        )

    def assert_pushed(self, record, operation="upsert", account=None, count=1):
        rows = self.pushed(record, operation, account)
        self.case.assertEqual(
            len(rows), count, f"{record} queued {len(rows)} time(s) for {operation}, expected {count}: {self.pushes}"
        )
        return rows

    def assert_nothing_queued(self):
        self.case.assertFalse(self.pushes, "nothing is pushed")
        self.case.assertFalse(self.pulls, "nothing is pulled")

    def flush(self):
        """Send what was trapped through the real jobs (push then pull), as their crons would."""
        stats = self.case.run_push() if self.pushes else None
        if self.pulls:
            self.case.run_pull_job()
        return stats


class O365Case(HttpCase):
    """Base class for tests that sync with Microsoft 365 (through the emulator).

    ``connection_mode`` says how users' mailboxes are connected: "user" (each user signs
    in, S2) or "organization" (the application's own permissions, admin consent granted,
    O1). A subclass that only sets it to "organization" runs the same tests that way (O2).
    """

    connection_mode = "user"
    # Under Odoo's own runner (odoo-bin --test-enable) the class's first test is the current test
    # during setUpClass, before its setUp gives it a request key: Graph's validation of a
    # subscription made there (and a notification Graph sends between two tests) reaches Odoo
    # without the test cookie, and HttpCase would answer 400. Let such requests in, as a real
    # server does; setUp then sets each test's own key.
    http_request_key = "o365-setup"
    http_request_strict_check = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.emulator = shared_emulator()
        cls.emulator.state.reset()
        cls.emulator.state.update_settings(hold_notifications=True)
        cls.emulator.state.register_app(
            CLIENT_ID,
            CLIENT_SECRET,
            redirect_uris=[cls.base_url() + CALLBACK_PATH],
            application_permissions=APPLICATION_PERMISSIONS,
        )
        if cls.connection_mode == "organization":
            cls.emulator.state.grant_admin_consent(CLIENT_ID)
        OrganizationLogin.forget_all()  # the emulator was reset: no application token survives it
        params = cls.env["ir.config_parameter"].sudo()
        for key, value in {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "tenant": TENANT,
            "login_endpoint": cls.emulator.base_url,
            "graph_endpoint": cls.emulator.graph_url,
            "ca_bundle": cls.emulator.ca_path,
            "public_base_url": cls.base_url(),
            "org_domains": ORG_DOMAIN,
            "connection_mode": cls.connection_mode,
        }.items():
            params.set_param(f"o365_calendar_sync.{key}", value)

    @classmethod
    def _connected_user(cls, login, upn=None, tz="Europe/London", start_sync=True, **account_vals):
        """An internal user whose account went through the real MSAL code flow.

        The mailbox ``upn`` (default ``<login>@contoso.example``) is created in the
        emulator with time zone ``tz``; ``account_vals`` set sync options.
        """
        upn = upn or f"{login}@{ORG_DOMAIN}"
        state = cls.emulator.state
        if state.find_mailbox(upn) is None:
            state.add_user(upn, display_name=login.replace("_", " ").title(), time_zone=tz)
        user = new_test_user(
            cls.env, login, groups="base.group_user", email=upn, tz=tz, name=login.replace("_", " ").title()
        )
        account = cls.env["o365.sync.account"]._for_user(user)
        if cls.connection_mode == "organization":
            # O1: no sign-in; the organisation's application opens the mailbox of the user's email.
            error = account._connect_through_organization()[account]
            assert error is None, error
            account.write(account_vals)
        else:
            cls._sign_in(account, upn)
            account.write(
                {"connection_state": "connected", "mailbox_address": upn, "mailbox_timezone": tz, **account_vals}
            )
        if start_sync:
            account._start_sync()
            # What the pull job does right after Start Syncing commits: subscribe, first pull.
            cls.env.flush_all()
            run_pull_requests(account)
        return user

    @classmethod
    def _sign_in(cls, account, upn):
        """Play the browser: consent as ``upn`` on the emulator's page, hand the redirect to MSAL."""
        login = account._login()
        flow = login.begin(redirect_uri=cls.base_url() + CALLBACK_PATH, login_hint=upn)
        authorize_url = flow["auth_uri"]
        form = dict(parse_qsl(urlsplit(authorize_url).query), login=upn, consent="accept")
        answer = requests.post(
            authorize_url.split("?")[0], data=form, allow_redirects=False, timeout=10, verify=cls.emulator.ca_path
        )
        assert answer.status_code in (302, 303), f"consent page answered {answer.status_code}: {answer.text[:300]}"
        login.complete(flow, dict(parse_qsl(urlsplit(answer.headers["Location"]).query)))
        account._save_login(login)
        return login

    def setUp(self):
        super().setUp()
        # The database rolls back after each test; the mailboxes must start clean too.
        self.clear_mailboxes()
        self.emulator.state.clear_faults()
        refusals.clear()  # the webhook's per-address limit of refused requests (issue 27)

    def clear_mailboxes(self):
        """Empty every mailbox of the tenant (its users and subscriptions stay)."""
        state = self.emulator.state
        with state.lock:
            for mailbox in state.mailboxes.values():
                mailbox.events.clear()
        state.clear_invitations()

    def _rpc(self, model, method, args, kwargs=None):
        """One JSON-RPC call as the web client sends it; returns the decoded answer and its text."""
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": 1,
            "params": {"model": model, "method": method, "args": args, "kwargs": kwargs or {}},
        }
        answer = self.url_open(
            f"/web/dataset/call_kw/{model}/{method}",
            data=json.dumps(payload),
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(answer.status_code, 200)
        return answer.json(), answer.text

    def job_cursor(self):
        """A cursor for a job run inside a test: the test's transaction, without the lock that
        Odoo's test cursors share with its HTTP thread. A job waiting on Graph may be waiting for
        Odoo's own controller (a subscription's validation calls it back), which needs a cursor."""
        return TestCursor(self.registry.test_cr, threading.RLock(), False)

    def run_pull_job(self):
        """Run the pull job as its cron does (per-mailbox transactions, here savepoints), then re-read."""
        self.env.flush_all()
        stats = self.env["o365.sync.cron"]._cron_pull(cursor_factory=self.job_cursor, parallel=1)
        self.env.invalidate_all()
        return stats

    def deliver_notifications(self):
        """Let the emulator post the change notifications it holds; returns how many.

        The controller reads through its own cursor: flush first, as a commit would.
        """
        self.env.flush_all()
        return self.emulator.state.deliver_notifications()

    # -- reading the emulator's side ---------------------------------------------------

    def mailbox_events(self, upn, **filters):
        """Events in a mailbox as the emulator holds them (the source of truth in assertions), with
        the immutable ids Odoo asks for on every request (Prefer: IdType="ImmutableId")."""
        state = self.emulator.state
        return as_odoo_sees_it(state.find_events(upn, **filters) if filters else state.events_raw(upn))

    def outlook(self, upn):
        """A requests session that acts in Outlook as ``upn`` (no token needed)."""
        session = requests.Session()
        session.headers["X-Emulator-Act-As"] = upn
        session.verify = self.emulator.ca_path
        session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides session.verify (psf/requests#3829)
        return session

    # -- the push and pull jobs, and what they queued ------------------------------------

    @classmethod
    def _account(cls, user):
        """The sync account of ``user``."""
        return cls.env["o365.sync.account"].sudo().search([("user_id", "=", user.id)])

    def run_push(self):
        """Run the push job as the cron would (its own cursors, commits), then re-read."""
        self.env.flush_all()
        stats = pusher.push_due(self.env)
        self.env.invalidate_all()
        return stats

    def time_travel(self):
        """Make every waiting retry due now (instead of sleeping through the backoff)."""
        self.env.flush_all()
        self.env.cr.execute("UPDATE o365_push_queue SET next_attempt_at = now() at time zone 'UTC' - interval '1 s'")
        self.env.invalidate_all()

    def queue_rows(self, record=None):
        """Push rows waiting, of ``record`` or all."""
        domain = [("res_model", "=", record._name), ("res_id", "=", record.id)] if record else []
        return self.env["o365.push.queue"].sudo().search(domain)

    def link_of(self, record, user):
        """The link of ``record`` to its event in ``user``'s mailbox."""
        account = self._account(user)
        domain = [("res_model", "=", record._name), ("res_id", "=", record.id), ("account_id", "=", account.id)]
        return self.env["o365.event.link"].sudo().search(domain)

    def graph_requests(self, mailbox=None):
        """Graph requests the emulator served for Odoo (not the tests' own Outlook acting)."""
        return [
            r
            for r in self.emulator.state.request_stats()["requests"]
            if not r.get("actAs") and (mailbox is None or r.get("mailbox") == mailbox)
        ]

    def notices(self, user):
        """The "reconnect needed" notifications ``user`` received (S7: one per lost sign-in)."""
        return (
            self.env["mail.message"]
            .sudo()
            .search([("subject", "=", RECONNECT_NOTICE), ("partner_ids", "in", user.partner_id.ids)])
        )

    def token_requests(self):
        """Requests to the token endpoint since the last clear_requests()."""
        return [r for r in self.emulator.state.request_stats()["requests"] if r["path"].endswith("/token")]

    def pending_pulls(self, account=None):
        domain = [("account_id", "=", account.id)] if account else []
        return self.env["o365.pull.request"].sudo().search_count(domain)

    @contextlib.contextmanager
    def trap_sync_queue(self):
        """Record what the block queues for Outlook, without Graph (like queue_job's ``trap_jobs``).

        Nothing runs inside the block: rows only wait for their job. Yields a ``SyncTrap``
        filled when the block ends: assert on it, then ``trap.flush()`` sends the rows through
        the real jobs. ``trap.graph_calls`` proves the block itself never waited for Graph (E1).
        """
        self.env.flush_all()
        cr = self.env.cr
        cr.execute("SELECT id, seq FROM o365_push_queue")
        before = dict(cr.fetchall())
        cr.execute("SELECT account_id, kind FROM o365_pull_request")
        pulls_before = set(cr.fetchall())
        calls_before = len(self.graph_requests())
        trap = SyncTrap(case=self, pushes=self.env["o365.push.queue"].sudo())
        yield trap
        self.env.flush_all()
        cr.execute("SELECT id, seq FROM o365_push_queue")
        queued = [row_id for row_id, seq in cr.fetchall() if before.get(row_id) != seq]
        cr.execute("SELECT account_id, kind FROM o365_pull_request")
        trap.pushes = self.env["o365.push.queue"].sudo().browse(sorted(queued))
        trap.pulls = sorted(set(cr.fetchall()) - pulls_before)
        trap.graph_calls = len(self.graph_requests()) - calls_before

    # -- acting in Outlook (the emulator's act-as), and the pull ---------------------------

    def outlook_post(self, upn, path, payload=None, method="POST"):
        answer = self.outlook(upn).request(method, self.emulator.graph_url + path, json=payload, timeout=10)
        self.assertLess(answer.status_code, 300, answer.text)
        return answer.json() if answer.content else None

    def outlook_create(self, upn, subject, start=None, hours=1, attendees=(), **extra):
        """An event ``upn`` makes in Outlook (in two days unless ``start``), with these attendees."""
        start = start or (datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(days=2))
        payload = {
            "subject": subject,
            "start": graph_time(start),
            "end": graph_time(start + timedelta(hours=hours)),
            "attendees": [attendee(a) for a in attendees],
            **extra,
        }
        return self.outlook_post(upn, "/me/events", payload)

    def outlook_update(self, upn, event_id, changes):
        return self.outlook_post(upn, f"/me/events/{event_id}", changes, method="PATCH")

    def outlook_delete(self, upn, event_id):
        return self.outlook_post(upn, f"/me/events/{event_id}", method="DELETE")

    def delivered(self):
        """Let the emulator post its held notifications to Odoo's controller, and wait for the answers."""
        sent = self.deliver_notifications()
        self.assertTrue(self.emulator.wait_for_notifications(15), "notifications not answered")
        refused = [e["attempts"] for e in self.emulator.state.notification_log if not e["delivered"]]
        self.assertFalse(refused, "Odoo's controller accepted every genuine notification")
        return sent

    def run_pull_cron(self):
        """Notifications delivered, then the pull job, as in production."""
        self.delivered()
        self.env.invalidate_all()
        self.run_pull_job()
        self.env.invalidate_all()

    def meeting_of(self, user, graph_event):
        """The Odoo meeting linked to an event of ``user``'s mailbox (archived ones too)."""
        # Odoo asks Graph for immutable ids; what the Outlook user saw is the default form.
        domain = [("account_id", "=", self._account(user).id), ("graph_event_id", "=", to_immutable(graph_event["id"]))]
        link = self.env["o365.event.link"].sudo().search(domain)
        return self.env["calendar.event"].sudo().with_context(active_test=False).browse(link.res_id).exists()


# -- shared bases of the test files ------------------------------------------------------------

CUSTOMER = "customer.example"


class PullCase(O365Case):
    """Helpers for playing Outlook and running the pull as the cron would."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Partner = cls.env["res.partner"]
        cls.customer_co = Partner.create({"name": "Customer Ltd", "is_company": True, "email": f"info@{CUSTOMER}"})
        cls.carol = Partner.create(
            {"name": "Carol Client", "email": f"carol@{CUSTOMER}", "parent_id": cls.customer_co.id}
        )
        cls.dave = Partner.create({"name": "Dave Client", "email": f"dave@{CUSTOMER}", "parent_id": cls.customer_co.id})
        cls.erin = Partner.create({"name": "Erin Elsewhere", "email": "erin@other.example"})

    def setUp(self):
        super().setUp()
        # The database rolls back after each test, the emulator does not: give every
        # syncing account a fresh subscription matching what its row holds now.
        with self.emulator.state.lock:
            self.emulator.state.subscriptions.clear()
        for account in self.env["o365.sync.account"].sudo().search([("sync_state", "=", "running")]):
            importer.Importer(self.env).subscribe(account)
        # Drain what Start Syncing queued: from here on only notifications (or the
        # 15-minute safety net, not due during a test) make a pull.
        self.run_pull_job()
        self.env.flush_all()

    def drop_held_notifications(self):
        """Lose the notifications Graph holds for us (what 'missed' means)."""
        return self.emulator.notifier.discard_held()

    def delta_reads(self):
        """Delta reads Odoo sent since the last clear_requests()."""
        by_endpoint = self.emulator.state.request_stats()["byEndpoint"]
        # /me with the user's sign-in, /users/{id} with the organisation's application (O2).
        return sum(
            n for key, n in by_endpoint.items() if key.startswith("GET ") and key.endswith("/calendarView/delta")
        )

    def account(self, user):
        return self.env["o365.sync.account"].sudo()._for_user(user)

    def logged_meetings(self, subject):
        return self.env["calendar.event"].sudo().with_context(active_test=False).search([("name", "=", subject)])


@tagged("post_install", "-at_install")
class PushCase(O365Case):
    """Connected users, a customer contact, and a way to run the push job as the cron does."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls._push_user("alice_push")
        cls.alice_upn = cls.alice.email
        cls.company = cls.env["res.partner"].create({"name": "Acme Ltd", "is_company": True})
        cls.contact = cls.env["res.partner"].create(
            {
                "name": "Jane Buyer",
                "parent_id": cls.company.id,
                "phone": "+44 20 7946 0000",
                "email": "jane@acme.example",
            }
        )
        cls.call_type = cls.env.ref("mail.mail_activity_data_call")
        cls.todo_type = cls.env.ref("mail.mail_activity_data_todo")

    @classmethod
    def _quiet_emulator(cls):
        """No change notifications: they would reach Odoo's controller on the test
        cursor while the test thread uses it; these tests call the pull contract directly."""
        state = cls.emulator.state
        state.notifier.wait_idle(10)
        with state.lock:
            state.subscriptions.clear()

    def setUp(self):
        super().setUp()
        # Odoo rolls back each test; the emulator's mailboxes must start empty as well.
        self._quiet_emulator()
        state = self.emulator.state
        with state.lock:
            for mailbox in state.mailboxes.values():
                mailbox.events.clear()
            state.invitations.clear()
            state.faults.clear()
        state.clear_requests()

    @classmethod
    def _push_user(cls, login, **account_vals):
        user = cls._connected_user(login, **account_vals)
        # The test transaction began before the sync start; records made in it
        # are "created after the start" only if the start is moved back (S3).
        cls._account(user).sync_started_at = fields.Datetime.now() - timedelta(hours=1)
        return user

    def schedule(self, activity_type, summary, user=None, partner=None, **vals):
        partner = partner or self.contact
        return self.env["mail.activity"].create(
            {
                "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                "res_id": partner.id,
                "activity_type_id": activity_type.id,
                "summary": summary,
                "user_id": (user or self.alice).id,
                **vals,
            }
        )


class ConnectMixin:
    """Plays the browser through Connect: Odoo's start URL, the emulator's consent page, the callback."""

    def _rpc_error(self, route, params):
        """The JSON-RPC error answer of a call that must fail (asserting no result came back)."""
        answer = self.url_open(
            route,
            data=json.dumps({"jsonrpc": "2.0", "method": "call", "id": 1, "params": params}),
            headers={"Content-Type": "application/json"},
        ).json()
        self.assertNotIn("result", answer)
        return answer["error"]["data"]

    def _begin(self):
        """GET the start URL in the current Odoo session; return the emulator's authorize URL."""
        answer = self.url_open(START_PATH, allow_redirects=False)
        self.assertIn(answer.status_code, (302, 303), answer.text[:300])
        return answer.headers["Location"]

    def _consent(self, authorize_url, upn, consent="accept"):
        """Submit the emulator's consent page (its plain-HTTP listener) as ``upn``; return the callback URL."""
        page = requests.get(authorize_url, timeout=10)
        self.assertEqual(page.status_code, 200, page.text[:300])
        self.assertIn(upn, page.text)
        form = dict(parse_qsl(urlsplit(authorize_url).query), login=upn, consent=consent)
        answer = requests.post(authorize_url.split("?")[0], data=form, allow_redirects=False, timeout=10)
        self.assertIn(answer.status_code, (302, 303), answer.text[:300])
        return answer.headers["Location"]

    def _finish(self, callback_url):
        parts = urlsplit(callback_url)
        answer = self.url_open(f"{parts.path}?{parts.query}", allow_redirects=False)
        self.assertIn(answer.status_code, (302, 303), answer.text[:300])
        self.assertTrue(answer.headers["Location"].endswith(PREFERENCES_URL))
        return answer

    def _connect_in_browser(self, login, upn):
        self.authenticate(login, login)
        self._finish(self._consent(self._begin(), upn))


PUSH_CRON = "o365_calendar_sync.ir_cron_o365_push"


class ButtonsMixin:
    """The Preferences and form buttons, sent as the web client sends them."""

    def button(self, model, method, ids, **context):
        return self.make_jsonrpc_request(
            "/web/dataset/call_button",
            {"model": model, "method": method, "args": [ids], "kwargs": {"context": context}},
        )

    def call(self, model, method, args, **kwargs):
        return self.make_jsonrpc_request(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": args, "kwargs": kwargs},
        )

    def preferences_button(self, user, method):
        return self.button("res.users", method, [user.id])

    def push_wakeups(self):
        """Pending wake-ups of the push job (ir.cron.trigger rows)."""
        cron = self.env.ref(PUSH_CRON)
        return self.env["ir.cron.trigger"].sudo().search_count([("cron_id", "=", cron.id)])


class CommittedWorld:
    """Committed users, accounts and activities against an emulator; removed by ``cleanup``."""

    def __init__(self, dbname, emulator, prefix, connection_mode="user"):
        self.registry = Registry(dbname)
        self.emulator = emulator
        self.prefix = prefix
        self.connection_mode = connection_mode  # "organization": the application connects mailboxes (O1)
        self.user_ids, self.saved_params = [], {}

    def env(self, cr):
        return api.Environment(cr, SUPERUSER_ID, {})

    def configure(self):
        state = self.emulator.state
        state.reset()
        state.register_app(CLIENT_ID, CLIENT_SECRET, application_permissions=APPLICATION_PERMISSIONS)
        state.grant_admin_consent(CLIENT_ID)
        OrganizationLogin.forget_all()  # the emulator was reset: no application token survives it
        values = {
            "connection_mode": self.connection_mode,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "tenant": TENANT,
            "login_endpoint": self.emulator.base_url,
            "graph_endpoint": self.emulator.graph_url,
            "ca_bundle": self.emulator.ca_path,
        }
        with self.registry.cursor() as cr:
            params = self.env(cr)["ir.config_parameter"]
            for key in PARAMS:
                self.saved_params[key] = params.get_param(f"o365_calendar_sync.{key}")
                params.set_param(f"o365_calendar_sync.{key}", values[key])

    def connected_user(self, login):
        upn = f"{login}@{ORG_DOMAIN}"
        self.emulator.state.add_user(upn, display_name=login.title())
        with self.registry.cursor() as cr:
            env = self.env(cr)
            user = env["res.users"].create({"name": login.title(), "login": login, "email": upn, "tz": "UTC"})
            self.user_ids.append(user.id)
            account = env["o365.sync.account"]._for_user(user)
            if self.connection_mode == "organization":
                assert account._connect_through_organization()[account] is None
                account.sudo().write(
                    {"sync_state": "running", "sync_started_at": fields.Datetime.now() - timedelta(hours=1)}
                )
                return user.id, upn
            login_session = MicrosoftLogin(env["o365.config"].azure_app())
            flow = login_session.begin(redirect_uri=f"http://127.0.0.1:8069{CALLBACK_PATH}", login_hint=upn)
            form = dict(parse_qsl(urlsplit(flow["auth_uri"]).query), login=upn, consent="accept")
            answer = requests.post(
                flow["auth_uri"].split("?")[0],
                data=form,
                allow_redirects=False,
                timeout=10,
                verify=self.emulator.ca_path,
            )
            login_session.complete(flow, dict(parse_qsl(urlsplit(answer.headers["Location"]).query)))
            account.sudo().write(
                {
                    "token_cache": login_session.serialized_cache(),
                    "connection_state": "connected",
                    "mailbox_address": upn,
                    "sync_state": "running",
                    "sync_started_at": fields.Datetime.now() - timedelta(hours=1),
                }
            )
        return user.id, upn

    def schedule_tasks(self, user_id, count, summary="Task"):
        with self.registry.cursor() as cr:
            env = self.env(cr)
            partner = env["res.users"].browse(user_id).partner_id
            todo = env.ref("mail.mail_activity_data_todo")
            # One create per activity: Odoo's batch create subscribes the same follower twice.
            activities = env["mail.activity"]
            for values in [
                {
                    "res_model_id": env["ir.model"]._get_id("res.partner"),
                    "res_id": partner.id,
                    "activity_type_id": todo.id,
                    "summary": f"{summary} {i}",
                    "user_id": user_id,
                    "date_deadline": date(2032, 1, 1) + timedelta(days=i % 300),
                }
                for i in range(count)
            ]:
                activities |= env["mail.activity"].create(values)
            return activities.ids

    def write_tasks(self, activity_ids, summary):
        with self.registry.cursor() as cr:
            activities = self.env(cr)["mail.activity"].browse(activity_ids)
            for activity in activities:
                activity.write({"summary": f"{summary} {activity.id}"})

    def push(self):
        with self.registry.cursor() as cr:
            return pusher.push_due(self.env(cr), cursor_factory=self.registry.cursor)

    def count(self, model, domain):
        with self.registry.cursor() as cr:
            return self.env(cr)[model].search_count(domain)

    def cleanup(self):
        with self.registry.cursor() as cr:
            env = self.env(cr)
            users = env["res.users"].browse(self.user_ids).exists()
            accounts = env["o365.sync.account"].search([("user_id", "in", users.ids)])
            env["mail.activity"].with_context(o365_activity_done=True).search([("user_id", "in", users.ids)]).unlink()
            env["o365.push.queue"].search([("account_id", "in", accounts.ids)]).unlink()
            env["o365.event.link"].search([("account_id", "in", accounts.ids)]).unlink()
            accounts.unlink()
            for user in users:
                user.write({"active": False, "login": f"{user.login}-removed"})
            params = env["ir.config_parameter"]
            for key, value in self.saved_params.items():
                params.set_param(f"o365_calendar_sync.{key}", value or False)


SCREENSHOT_DIR = Path(__file__).resolve().parent.parent / "static" / "description" / "screenshots"
SCREENSHOT_PREFIX = "o365-screenshot:"

# Runs in every page the browser opens: on the emulator's consent page, accept.
ACCEPT_CONSENT = """
document.addEventListener("DOMContentLoaded", () => {
    const accept = document.getElementById("accept");
    if (accept && document.getElementById("consent-form")) { accept.click(); }
});
"""


class TourBrowser(ChromeBrowser):
    """Odoo's test browser, plus: accepts the consent page, takes the tours' screenshots."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._websocket_request("Page.addScriptToEvaluateOnNewDocument", params={"source": ACCEPT_CONSENT})

    def _handle_console(self, type, args=None, stackTrace=None, **kw):
        if args and os.environ.get("O365_SCREENSHOTS"):
            text = str(self._from_remoteobject(args[0]))
            if text.startswith(SCREENSHOT_PREFIX):
                name, _, clip = text[len(SCREENSHOT_PREFIX) :].partition(":")
                self._capture(name, json.loads(clip))
        return super()._handle_console(type, args=args, stackTrace=stackTrace, **kw)

    def _capture(self, name, clip):
        # Called on the websocket reader thread: ask, and write when the answer comes.
        future = self._websocket_send(
            "Page.captureScreenshot",
            params={"format": "png", "captureBeyondViewport": True, "clip": dict(clip, scale=1)},
            with_future=True,
        )

        def save(done):
            SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
            (SCREENSHOT_DIR / f"{name}.png").write_bytes(base64.b64decode(done.result()["data"]))

        future.add_done_callback(save)
