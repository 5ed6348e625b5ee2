"""Requests that talk to Microsoft survive Odoo's replay (issue 28, SPEC S2, E3, O1).

Odoo replays a whole HTTP request that met a serialization failure, with the session as
it was stored. Each test here forces a real one (PostgreSQL's own error 40001, raised in
the request's transaction) at the worst moment, after the outside call, and checks that
the replay neither repeats that call into a second effect nor answers Graph with a 4xx.
"""

import json
from contextlib import contextmanager
from datetime import timedelta
from unittest.mock import patch
from urllib.parse import parse_qsl, urlsplit

import requests

from odoo import fields
from odoo.tests import new_test_user, tagged

from ..engine.importer import queue_safety_pulls
from ..utils.crons import PULL_CRON_XMLIDS, SHARDS
from .common import CLIENT_ID, ORG_DOMAIN, ConnectMixin, O365Case, run_pull_requests

NOTIFY_PATH = "/o365_calendar_sync/notifications"


def force_serialization_failure(cr):
    """What PostgreSQL raises when a concurrent transaction wrote the same row first."""
    cr.execute("DO $$ BEGIN RAISE EXCEPTION 'forced by the test' USING ERRCODE = 'serialization_failure'; END $$")


@contextmanager
def fails_once(owner, name, before=True):
    """Patch ``owner.name`` so that its first call meets a serialization failure (``before``: in
    place of running; else right after running), then behaves; yields the list of its calls."""
    original = getattr(owner, name)
    calls = []

    def wrapper(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 1 and before:
            force_serialization_failure(self.env.cr)
        result = original(self, *args, **kwargs)
        if len(calls) == 1 and not before:
            force_serialization_failure(self.env.cr)
        return result

    with patch.object(owner, name, wrapper):
        yield calls


@tagged("post_install", "-at_install")
class TestReplays(ConnectMixin, O365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls._connected_user("alice_r28")
        cls.emulator.state.add_user(f"rita_r28@{ORG_DOMAIN}", display_name="Rita")
        cls.rita = new_test_user(cls.env, "rita_r28", groups="base.group_user", email=f"rita_r28@{ORG_DOMAIN}")

    def _account(self, user):
        self.env.invalidate_all()
        return self.env["o365.sync.account"].sudo().search([("user_id", "=", user.id)])

    def test_notification_replayed_after_serialization_failure(self):
        """E3, issue 28 item 3: a notification whose queueing meets a serialization failure is replayed
        by Odoo with the same body: Graph gets 202 (never 400 "Body is not JSON"), and the pull is queued."""
        account = self._account(self.alice)
        self.env["o365.pull.request"].sudo().search([]).unlink()
        body = {
            "value": [
                {
                    "subscriptionId": account.subscription_id,
                    "clientState": account.subscription_secret,
                    "changeType": "updated",
                    "resource": "Users/x/Events/y",
                    "resourceData": {"id": "y", "@odata.etag": 'W/"not-a-known-change-key"'},
                }
            ]
        }
        Requests = type(self.env["o365.pull.request"])
        with fails_once(Requests, "enqueue") as calls:
            answer = self.url_open(NOTIFY_PATH, data=json.dumps(body), headers={"Content-Type": "application/json"})
        self.assertEqual(answer.status_code, 202, answer.text)
        self.assertEqual(len(calls), 2, "Odoo replayed the request once")
        self.assertEqual(self.pending_pulls(account), 1)

    def test_sign_in_code_redeemed_once_when_replayed(self):
        """S2, issue 28 item 4: the callback meets a serialization failure after Microsoft took the
        code; Odoo's replay does not redeem it again (AADSTS54005): the user ends up connected."""
        self.authenticate("rita_r28", "rita_r28")
        callback = self._consent(self._begin(), f"rita_r28@{ORG_DOMAIN}")
        self.emulator.state.clear_requests()
        Account = type(self.env["o365.sync.account"])
        with fails_once(Account, "_connect", before=False) as calls:
            self._finish(callback)
        account = self._account(self.rita)
        self.assertEqual(account.connection_state, "connected", account.last_error)
        self.assertEqual(len(calls), 2, "Odoo replayed the request once")
        self.assertFalse(account.last_error)
        self.assertEqual(account.mailbox_address, f"rita_r28@{ORG_DOMAIN}")
        redeemed = self.emulator.state.token_request_count(CLIENT_ID, grant_type="authorization_code")
        self.assertEqual(redeemed, 1, "the code went to Microsoft once")

    def test_admin_consent_answer_replayed(self):
        """O1, issue 28: the admin-consent callback meeting a serialization failure is replayed with the
        same outcome kept for the settings page (it calls nothing outside Odoo)."""
        self.emulator.state.revoke_admin_consent(CLIENT_ID)
        self.authenticate("admin", "admin")
        answer = self.url_open("/o365_calendar_sync/admin_consent/start", allow_redirects=False)
        consent_url = answer.headers["Location"]
        query = dict(parse_qsl(urlsplit(consent_url).query))
        self.emulator.state.add_user(f"adam_r28@{ORG_DOMAIN}", display_name="Adam", admin=True)
        decided = requests.post(
            consent_url.split("?")[0],
            data=dict(query, login=f"adam_r28@{ORG_DOMAIN}", consent="accept"),
            allow_redirects=False,
            timeout=10,
            verify=self.emulator.ca_path,
        )
        back = decided.headers["Location"]
        Params = type(self.env["ir.config_parameter"])
        original = Params.set_param
        calls = []

        def set_param(self, key, value):
            if key == "o365_calendar_sync.admin_consent":
                calls.append(value)
                if len(calls) == 1:
                    force_serialization_failure(self.env.cr)
            return original(self, key, value)

        with patch.object(Params, "set_param", set_param):
            answer = self.url_open(back.replace(self.base_url(), ""), allow_redirects=False)
        self.assertEqual(len(calls), 2, "Odoo replayed the request once")
        self.assertEqual(answer.status_code, 303)
        self.assertIn("action_o365_config_settings", answer.headers["Location"])
        consent = self.env["ir.config_parameter"].sudo().get_param("o365_calendar_sync.admin_consent")
        self.assertTrue(consent.startswith("Granted on"), consent)
        self.emulator.state.grant_admin_consent(CLIENT_ID)


@tagged("post_install", "-at_install")
class TestReplaysOrganization(O365Case):
    """O1: buttons that ask Graph (organisation mode: Start Syncing probes the mailbox first)."""

    connection_mode = "organization"

    def test_start_syncing_replayed_after_serialization_failure(self):
        """O1, S3, issue 28: Start Syncing asks Graph about the mailbox (reads only, safe to repeat), then
        meets a serialization failure; Odoo's replay connects and starts the mailbox once, with one
        subscription request queued for the pull job."""
        login = f"olive_r28@{ORG_DOMAIN}"
        self.emulator.state.add_user(login, display_name="Olive")
        user = new_test_user(self.env, login, groups="base.group_user", email=login)
        self.authenticate(login, login)
        Account = type(self.env["o365.sync.account"])
        with fails_once(Account, "_start_sync", before=False) as calls:
            answer, text = self._rpc("res.users", "action_o365_start_sync", [[user.id]])
        self.assertNotIn("error", answer, text[:500])
        self.assertEqual(len(calls), 2, "Odoo replayed the request once")
        self.env.invalidate_all()
        account = self.env["o365.sync.account"].sudo().search([("user_id", "=", user.id)])
        self.assertEqual((account.connection_state, account.sync_state), ("connected", "running"))
        self.assertEqual(account.mailbox_address, login)
        kinds = self.env["o365.pull.request"].sudo().search([("account_id", "=", account.id)]).mapped("kind")
        self.assertEqual(kinds, ["recreate"])


@tagged("post_install", "-at_install")
class TestDeafMailbox(O365Case):
    def test_mailbox_without_subscription_retried_within_a_minute_and_shown_late(self):
        """E3, E7, S7, issue 28 item 2: Graph refuses the subscription at Start: the pull cron of the
        mailbox's shard is woken within the minute, the safety net takes a mailbox without a live
        subscription after one minute (not 15), and its status never reads plain "Syncing"."""
        user = self._connected_user("dora_r28", start_sync=False)
        account = self._account(user)
        self.emulator.state.add_fault(status=503, method="POST", path_contains="subscriptions", count=3)
        account._start_sync()
        self.env.flush_all()
        run_pull_requests(account)
        self.env.invalidate_all()
        self.assertFalse(account.subscription_id)
        self.assertEqual(account.health_state, "failing", "the reason is shown (S7)")
        self.assertIn("change notifications could not be set up", account.last_error_words)
        cron = self.env.ref(PULL_CRON_XMLIDS[account.id % SHARDS])
        now = fields.Datetime.now()
        soon = self.env["ir.cron.trigger"].sudo().search([("cron_id", "=", cron.id), ("call_at", ">", now)])
        self.assertTrue(soon.filtered(lambda t: t.call_at <= now + timedelta(seconds=70)), "woken within the minute")

        # A minute later the safety net takes it (with notifications it would wait hours).
        account.sudo().write({"last_pull_at": now - timedelta(seconds=61)})
        self.env["o365.pull.request"].sudo().search([]).unlink()
        self.env.flush_all()
        queue_safety_pulls(self.env)
        self.assertEqual(self.pending_pulls(account), 1)
        # Without an error to show, a mailbox that has been deaf for minutes still says its changes are late.
        account.sudo().write({"last_error": False, "sync_started_at": now - timedelta(minutes=5)})
        self.assertEqual(account.health_state, "late")
        self.assertEqual(user.o365_health_state, "late")

        self.emulator.state.clear_faults()
        run_pull_requests(account)
        self.env.invalidate_all()
        self.assertTrue(account.subscription_id)
        self.assertEqual(account.health_state, "syncing")
