"""S1-S4: setting up, connecting and controlling sync from the Odoo UI, over real HTTP."""

import logging
from urllib.parse import parse_qsl, urlsplit

from werkzeug import _internal as werkzeug_internal

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tests.common import JsonRpcException

from ..controllers.oauth import CALLBACK_PATH, PREFERENCES_URL, START_PATH
from ..utils.auth import AuthError
from .common import CLIENT_ID, ConnectMixin, O365Case, run_pull_requests


@tagged("post_install", "-at_install")
class TestSettingsPage(O365Case):
    def _settings(self, **values):
        return self.env["res.config.settings"].create(values)

    def _check(self, **values):
        action = self._settings(**values).action_o365_test_connection()
        self.assertEqual(action["tag"], "display_notification")
        return action["params"]

    def test_redirect_uri_shown(self):
        """S1: the settings page shows the redirect URI to register in Azure, from the public base URL."""
        self.assertEqual(self._settings().o365_redirect_uri, self.base_url() + CALLBACK_PATH)
        self.assertEqual(
            self._settings(o365_public_base_url="https://erp.example.com/").o365_redirect_uri,
            "https://erp.example.com" + CALLBACK_PATH,
        )

    def test_connection_check_passes(self):
        """S1: Test connection against a correct setup says every part works."""
        params = self._check()
        self.assertEqual(params["type"], "success", params["message"])
        self.assertIn("Client ID and secret are accepted", params["message"])
        self.assertIn("is registered", params["message"])
        self.assertIn("Graph endpoint", params["message"])

    def test_connection_check_bad_secret(self):
        """S1: a wrong client secret is named as such, with what to copy from Azure."""
        params = self._check(o365_client_secret="not-the-secret")
        self.assertEqual(params["type"], "danger")
        self.assertIn("client secret is wrong", params["message"])
        self.assertNotIn("not-the-secret", params["message"])

    def test_connection_check_unknown_client(self):
        """S1: an unknown client id is named as such."""
        params = self._check(o365_client_id="no-such-app")
        self.assertEqual(params["type"], "danger")
        self.assertIn("No application with client ID 'no-such-app'", params["message"])

    def test_connection_check_wrong_redirect_uri(self):
        """S1: a redirect URI Azure does not know is named, with where to register it."""
        params = self._check(o365_public_base_url="https://erp.example.com")
        self.assertEqual(params["type"], "danger")
        self.assertIn(
            "does not accept the redirect URI https://erp.example.com/o365_calendar_sync/oauth/callback",
            params["message"],
        )
        self.assertIn("Client ID and secret are accepted", params["message"], "the other checks still run")

    def test_connection_check_unreachable_endpoint(self):
        """S1: an unreachable login endpoint is named as such."""
        params = self._check(o365_login_endpoint="https://127.0.0.1:9")
        self.assertEqual(params["type"], "danger")
        self.assertIn("Cannot reach the login endpoint", params["message"])

    def test_connection_check_not_an_identity_provider(self):
        """S1: an endpoint that is no Microsoft login service (here: Graph itself) is named as such."""
        params = self._check(o365_login_endpoint=self.emulator.graph_url)
        self.assertEqual(params["type"], "danger")
        self.assertIn("is not a Microsoft identity provider", params["message"])

    def test_connection_check_untrusted_certificate(self):
        """S1: a missing CA bundle for a private endpoint is named as a certificate problem."""
        params = self._check(o365_ca_bundle="")
        self.assertEqual(params["type"], "danger")
        self.assertIn("certificate is not trusted", params["message"])

    def test_settings_are_for_administrators(self):
        """S1: only administrators reach the settings (the action and its fields are admin-only)."""
        user = new_test_user(self.env, "plain_settings_user", groups="base.group_user")
        with self.assertRaises(AccessError):
            self.env["res.config.settings"].with_user(user).create({}).execute()


@tagged("post_install", "-at_install")
class TestConnect(ConnectMixin, O365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        state = cls.emulator.state
        state.add_user("ann@contoso.example", display_name="Ann", time_zone="W. Europe Standard Time")
        state.add_user("ben@contoso.example", display_name="Ben", time_zone="Pacific Standard Time")
        cls.ann = new_test_user(cls.env, "ann", groups="base.group_user", email="ann@contoso.example")
        cls.ben = new_test_user(cls.env, "ben", groups="base.group_user", email="ben@contoso.example")

    def _run_pull_job(self, user):
        """What the pull cron does after Start Syncing commits (S3, E3)."""
        self.env.flush_all()
        run_pull_requests(self._account(user))

    def _account(self, user):
        self.env.invalidate_all()
        return self.env["o365.sync.account"].sudo().search([("user_id", "=", user.id)])

    def test_connect_fills_mailbox_and_keeps_tokens(self):
        """S2: Connect runs the code flow in the browser, comes back to Preferences and shows the mailbox."""
        self._connect_in_browser("ann", "ann@contoso.example")
        account = self._account(self.ann)
        self.assertEqual(account.connection_state, "connected", account.last_error)
        self.assertEqual(account.mailbox_address, "ann@contoso.example")
        self.assertEqual(account.mailbox_timezone, "W. Europe Standard Time")
        self.assertIn("RefreshToken", account.token_cache)
        # The stored tokens really open Ann's mailbox in the emulator.
        self.assertEqual(account.graph_client().me()["userPrincipalName"], "ann@contoso.example")
        # What the user sees (Preferences) carries the address, never a token.
        values = self.ann.with_user(self.ann).read(["o365_connection_state", "o365_mailbox_address"])[0]
        self.assertEqual(values["o365_mailbox_address"], "ann@contoso.example")
        prefs = self.url_open(PREFERENCES_URL, allow_redirects=True)
        self.assertEqual(prefs.status_code, 200)

    def _browser_session(self, login):
        """A separate browser (its own Odoo session and cookie jar) signed in as ``login``."""
        self.session = None  # keep the previous browser's session alive
        self.authenticate(login, login)
        return self.opener

    def _finish_in(self, browser, callback_url):
        parts = urlsplit(callback_url)
        answer = browser.get(f"{self.base_url()}{parts.path}?{parts.query}", allow_redirects=False, timeout=20)
        self.assertEqual(urlsplit(answer.headers["Location"]).path, PREFERENCES_URL)

    def _open_stray(self, callback_url, browser=None):
        """Open a sign-in answer this browser did not ask for: refused once, on the page itself."""
        parts = urlsplit(callback_url)
        url = f"{parts.path}?{parts.query}"
        if browser is None:
            answer = self.url_open(url, allow_redirects=False)
        else:
            answer = browser.get(self.base_url() + url, allow_redirects=False, timeout=20)
        self.assertEqual(answer.status_code, 403, answer.text[:300])
        self.assertIn("not started by you in this browser", answer.text)
        self.assertIn("Nothing was changed", answer.text)
        return answer

    def test_callback_of_another_user_is_refused(self):
        """S2: a sign-in answer is bound to the user and session that started it; nobody else can use it."""
        ann_browser, ben_browser = self._browser_session("ann"), self._browser_session("ben")
        start = ann_browser.get(self.base_url() + START_PATH, allow_redirects=False, timeout=20)
        callback = self._consent(start.headers["Location"], "ann@contoso.example")
        # Ben opens the link Ann's browser was sent back with: told on the page, nothing stored for him
        # (issue 27: a link must not set an error on the opener's account).
        self._open_stray(callback, ben_browser)
        self.assertEqual(self._account(self.ben).connection_state, "disconnected")
        self.assertFalse(self._account(self.ben).last_error)
        self.assertEqual(self._account(self.ann).connection_state, "disconnected")
        # The answer is still good for Ann, in her own session, and connects Ann only.
        self._finish_in(ann_browser, callback)
        self.assertEqual(self._account(self.ann).mailbox_address, "ann@contoso.example")
        self.assertFalse(self._account(self.ben).mailbox_address)

    def test_callback_with_unknown_state_is_refused(self):
        """S2: a forged answer (state never issued) connects nothing; a replayed one neither."""
        self.authenticate("ann", "ann")
        callback = self._consent(self._begin(), "ann@contoso.example")
        query = dict(parse_qsl(urlsplit(callback).query))
        self._open_stray(f"{CALLBACK_PATH}?code={query['code']}&state=forged")
        self.assertEqual(self._account(self.ann).connection_state, "disconnected")
        self._finish(callback)
        self.assertEqual(self._account(self.ann).connection_state, "connected")
        self._account(self.ann)._disconnect()
        last_error = self._account(self.ann).last_error
        self._open_stray(callback)  # the same answer again
        self.assertEqual(self._account(self.ann).connection_state, "disconnected")
        self.assertEqual(self._account(self.ann).last_error, last_error, "a refused answer stores nothing")

    def test_stray_callback_leaves_a_syncing_account_alone(self):
        """S7, issue 27 item 4: a used or foreign sign-in link opened by a syncing user changes nothing
        stored: no error, and their health stays Syncing."""
        self._connect_in_browser("ann", "ann@contoso.example")
        account = self._account(self.ann)
        account._start_sync()
        account.write({"last_error": False})
        self._open_stray(f"{CALLBACK_PATH}?code=someone-elses-code&state=someone-elses-state")
        account = self._account(self.ann)
        self.assertFalse(account.last_error)
        self.assertEqual(account.health_state, "syncing")

    def test_access_log_holds_no_authorization_code(self):
        """S5, issue 27 item 5: the access log line of the callback carries no authorization code."""
        self.authenticate("ann", "ann")
        callback = self._consent(self._begin(), "ann@contoso.example")
        code = dict(parse_qsl(urlsplit(callback).query))["code"]
        # The logger werkzeug writes its access log to (the object it keeps since its first line).
        access_log = werkzeug_internal._logger or logging.getLogger("werkzeug")
        self.assertIn("SignInCodeRedactor", [type(f).__name__ for f in access_log.filters])
        with self.assertLogs(access_log, logging.INFO) as logs:
            self._finish(callback)
        lines = [record.getMessage() for record in logs.records]
        self.assertTrue(any(CALLBACK_PATH in line for line in lines), lines)
        self.assertFalse([line for line in lines if code in line], "the code reached the access log")
        self.assertTrue(any("code=[hidden]" in line for line in lines), lines)

    def test_cancelled_consent_is_explained(self):
        """S2: refusing consent on Microsoft's page leaves the user disconnected with a plain reason."""
        self.authenticate("ann", "ann")
        self._finish(self._consent(self._begin(), "ann@contoso.example", consent="cancel"))
        account = self._account(self.ann)
        self.assertEqual(account.connection_state, "disconnected")
        self.assertIn("cancelled or consent was refused", account.last_error)

    def test_one_mailbox_one_user(self):
        """S2: a mailbox already connected to one Odoo user cannot be connected to another."""
        self._connect_in_browser("ann", "ann@contoso.example")
        self._connect_in_browser("ben", "ann@contoso.example")
        self.assertEqual(self._account(self.ben).connection_state, "disconnected")
        self.assertIn("already connected to", self._account(self.ben).last_error)
        self.assertEqual(self._account(self.ann).connection_state, "connected")

    def test_start_requires_settings(self):
        """S2: Connect before the administrator set up the app says what is missing."""
        self.env["ir.config_parameter"].sudo().set_param("o365_calendar_sync.client_secret", "")
        self.authenticate("ann", "ann")
        answer = self.url_open(START_PATH, allow_redirects=False)
        self.assertTrue(answer.headers["Location"].endswith(PREFERENCES_URL))
        self.assertIn("Client Secret", self._account(self.ann).last_error)

    def test_revoked_sign_in_asks_that_user_to_reconnect(self):
        """S2: a revoked refresh token turns into 'reconnect' for that user only, without a token in the error."""
        self._connect_in_browser("ann", "ann@contoso.example")
        self._connect_in_browser("ben", "ben@contoso.example")
        self.emulator.state.revoke_refresh_tokens("ann@contoso.example")
        ann, ben = self._account(self.ann), self._account(self.ben)
        cache = ann.token_cache
        # Not assertRaises: Odoo's rolls back to a savepoint, and the flag is the point here.
        try:
            ann.graph_client().me()
        except AuthError as exc:
            self.assertTrue(exc.reconnect)
        else:
            self.fail("a revoked sign-in must raise AuthError")
        self.assertEqual(ann.connection_state, "reconnect")
        self.assertIn("connect again", ann.last_error)
        self.assertNotIn("1.A", ann.last_error)
        self.assertNotIn(cache[-40:], ann.last_error)
        self.assertEqual(ben.graph_client().me()["userPrincipalName"], "ben@contoso.example")
        self.assertEqual(ben.connection_state, "connected")
        # Reconnecting brings Ann back.
        self._connect_in_browser("ann", "ann@contoso.example")
        self.assertEqual(self._account(self.ann).connection_state, "connected")

    def test_disconnect_forgets_tokens_and_stops(self):
        """S2: Disconnect (the Preferences button) forgets the tokens and stops sync."""
        self._connect_in_browser("ann", "ann@contoso.example")
        subscriptions_before = len(self.emulator.state.list_subscriptions())
        self.ann.with_user(self.ann).action_o365_start_sync()  # in the test thread: see test_start_and_stop
        self.assertEqual(self._account(self.ann).sync_state, "running")
        self._run_pull_job(self.ann)
        self.assertEqual(len(self.emulator.state.list_subscriptions()), subscriptions_before + 1)
        self._call_button(self.ann, "action_o365_disconnect")
        account = self._account(self.ann)
        self.assertEqual(account.connection_state, "disconnected")
        self.assertEqual(account.sync_state, "stopped")
        self.assertFalse(account.mailbox_address)
        # S4: the button made no Graph call; the pull job, woken by it, removes the
        # subscription with the sign-in it still has, then forgets the tokens.
        self.assertEqual(len(self.emulator.state.list_subscriptions()), subscriptions_before + 1)
        self.run_pull_job()
        account = self._account(self.ann)
        self.assertFalse(account.token_cache)
        self.assertEqual(account.connection_state, "disconnected")
        self.assertEqual(len(self.emulator.state.list_subscriptions()), subscriptions_before)

    # -- S3 / S4: the Calendar tab, through JSON-RPC as the web client sends it ---------------

    def _call_button(self, user, method):
        return self.make_jsonrpc_request(
            "/web/dataset/call_button",
            {"model": "res.users", "method": method, "args": [[user.id]], "kwargs": {"context": {}}},
        )

    def _save_preferences(self, user, values):
        return self.make_jsonrpc_request(
            "/web/dataset/call_kw/res.users/web_save",
            {
                "model": "res.users",
                "method": "web_save",
                "args": [[user.id], values],
                "kwargs": {"specification": {name: {} for name in values}},
            },
        )

    def test_user_sets_options_from_preferences(self):
        """S3: a non-admin user edits options A, B and C of their own account from the Preferences dialog."""
        self.authenticate("ann", "ann")
        result = self._save_preferences(
            self.ann,
            {
                "o365_sync_phonecalls": False,
                "o365_sync_tasks": True,
                "o365_sync_meetings": False,
                "o365_exclude_categories": " Personal, personal ,Private ",
                "o365_sync_holidays": False,
            },
        )
        self.assertEqual(result[0]["o365_exclude_categories"], "Personal, Private")
        account = self._account(self.ann)
        self.assertEqual(
            (account.sync_phonecalls, account.sync_tasks, account.sync_meetings, account.sync_holidays),
            (False, True, False, False),
        )
        self.assertEqual(account.exclude_categories, "Personal, Private")
        # Saving one option leaves the others as they are.
        self._save_preferences(self.ann, {"o365_sync_tasks": False})
        account = self._account(self.ann)
        self.assertEqual(
            (account.sync_phonecalls, account.sync_tasks, account.sync_events, account.exclude_categories),
            (False, False, True, "Personal, Private"),
        )

    def test_include_and_exclude_refused_together(self):
        """S3: both category lists at once are refused from Preferences with a clear message."""
        self.authenticate("ann", "ann")
        error = self._rpc_error(
            "/web/dataset/call_kw/res.users/web_save",
            {
                "model": "res.users",
                "method": "web_save",
                "args": [[self.ann.id], {"o365_include_categories": "A", "o365_exclude_categories": "B"}],
                "kwargs": {"specification": {}},
            },
        )
        self.assertEqual(error["name"], "odoo.exceptions.ValidationError")
        self.assertIn("either 'Include categories' or 'Exclude categories'", error["message"])
        with self.assertRaises(ValidationError):
            self.ann.with_user(self.ann).write({"o365_include_categories": "A", "o365_exclude_categories": "B"})

    def test_start_and_stop_from_preferences(self):
        """S3, S4: Start/Stop Syncing buttons run the sync lifecycle and the status line follows."""
        self.authenticate("ann", "ann")
        error = self._rpc_error(
            "/web/dataset/call_button",
            {"model": "res.users", "method": "action_o365_start_sync", "args": [[self.ann.id]], "kwargs": {}},
        )
        self.assertIn("Connect your Microsoft 365 account first", error["message"])
        self._connect_in_browser("ann", "ann@contoso.example")
        subscriptions_before = len(self.emulator.state.list_subscriptions())
        # The button runs in the test thread here: under HttpCase one request at a time
        # holds the test cursor, so the emulator's webhook validation could not reach
        # Odoo during a call_button request (a real server runs them side by side).
        as_ann = self.ann.with_user(self.ann)
        as_ann.action_o365_start_sync()
        self.assertEqual(
            len(self.emulator.state.list_subscriptions()),
            subscriptions_before,
            "Start Syncing makes no Graph call itself: the pull job subscribes after commit",
        )
        self._run_pull_job(self.ann)
        self.assertFalse(self._account(self.ann).last_error)
        self.assertEqual(len(self.emulator.state.list_subscriptions()), subscriptions_before + 1)
        values = self.ann.with_user(self.ann).read(["o365_sync_state", "o365_sync_started_at"])[0]
        self.assertEqual(values["o365_sync_state"], "running")
        self.assertTrue(values["o365_sync_started_at"])
        started = self._account(self.ann).sync_started_at
        as_ann.action_o365_stop_sync()
        self.assertEqual(self._account(self.ann).sync_state, "stopped")
        self.run_pull_job()  # S4: the job removes it, not the button
        self.assertEqual(
            len(self.emulator.state.list_subscriptions()),
            subscriptions_before,
            "S4: no webhook subscription is left after Stop",
        )
        # Starting again moves the sync start: only later items are synced.
        as_ann.action_o365_start_sync()
        self.assertGreaterEqual(self._account(self.ann).sync_started_at, started)

    def test_buttons_act_on_own_account_only(self):
        """S3, S5: the Preferences buttons refuse to act on another user's account."""
        self._connect_in_browser("ben", "ben@contoso.example")
        self.authenticate("ann", "ann")
        for method in ("action_o365_start_sync", "action_o365_disconnect", "action_o365_connect"):
            with self.assertRaisesRegex(JsonRpcException, "AccessError"):
                self._call_button(self.ben, method)
        self.assertEqual(self._account(self.ben).connection_state, "connected")

    def test_authorize_request_uses_pkce_and_registered_app(self):
        """S2: the authorize request is the PKCE code flow of the configured app with the user's hint."""
        self.authenticate("ann", "ann")
        query = dict(parse_qsl(urlsplit(self._begin()).query))
        self.assertEqual(query["client_id"], CLIENT_ID)
        self.assertEqual(query["code_challenge_method"], "S256")
        self.assertEqual(query["redirect_uri"], self.base_url() + CALLBACK_PATH)
        self.assertEqual(query["login_hint"], "ann@contoso.example")
        self.assertNotIn("code_verifier", query)
