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
import contextlib
import json
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import requests

from graph_emulator import GraphEmulator
from graph_emulator.events import to_immutable
from odoo.sql_db import TestCursor
from odoo.tests import HttpCase, new_test_user

from ..controllers.notifications import refusals
from ..engine import importer, pusher
from ..utils.auth import OrganizationLogin

# The organisation-wide connection (SPEC O1) asks for these application permissions.
APPLICATION_PERMISSIONS = ("Calendars.ReadWrite", "User.Read.All", "MailboxSettings.Read")
CLIENT_ID = "odoo-test-client"
CLIENT_SECRET = "odoo-test-secret"
TENANT = "contoso.example"
ORG_DOMAIN = "contoso.example"
CALLBACK_PATH = "/o365_calendar_sync/oauth/callback"
RECONNECT_NOTICE = "Microsoft 365: reconnect needed"  # subject of the S7 notification

_emulator = None


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
