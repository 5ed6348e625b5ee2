"""The organisation-wide connection (SPEC O1, O2): what only that mode does.

The A, B, C and E behaviours run in this mode too: the test classes ending in
``Organization`` (test_push_activities.py, ...) repeat them with
``connection_mode = "organization"``.
"""

import threading
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import requests

from graph_emulator.testing import Graph, app_token, make_certificate
from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged

from ..engine import subscriptions
from ..utils.auth import OrganizationLogin
from .common import APPLICATION_PERMISSIONS, CLIENT_ID, CLIENT_SECRET, ORG_DOMAIN, TENANT, PushCase


@tagged("post_install", "-at_install")
class TestOrganization(PushCase):
    connection_mode = "organization"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = new_test_user(
            cls.env, "olga_admin", groups="base.group_user,base.group_system", email=f"olga_admin@{ORG_DOMAIN}"
        )
        cls.emulator.state.add_user(f"olga_admin@{ORG_DOMAIN}", admin=True)

    def setUp(self):
        super().setUp()
        self.emulator.state.set_app_mailbox_scope(CLIENT_ID, None)

    def _employee(self, login, **user_vals):
        """An internal user (their login is their email) with a mailbox in the tenant, not yet syncing."""
        upn = f"{login}@{ORG_DOMAIN}"
        if self.emulator.state.find_mailbox(upn) is None:
            self.emulator.state.add_user(upn, time_zone="Europe/Paris")
        return new_test_user(self.env, upn, groups="base.group_user", email=upn, name=login, **user_vals)

    def _organization_started(self, *logins):
        """Employees the organisation started syncing (O1), their sync start moved back so that
        every record of theirs may go to Outlook (S3)."""
        users = self.env["res.users"].concat(*(self._employee(login) for login in logins))
        self.env["o365.sync.start.users"]._start_users(users)
        for user in users:
            account = self._account(user)
            account.sync_started_at = account.sync_started_at.replace(year=2000)
        return users

    # -- O1: users start without signing in ------------------------------------------------

    def test_start_syncing_without_sign_in(self):
        """O1: in organisation mode a user presses Start Syncing, without Connect; their email's mailbox is
        connected by the organisation (no token of theirs is kept), the Calendar tab says which mailbox and
        who connected it, and a task reaches that Outlook calendar."""
        dana = self._employee("dana_org")
        me = dana.with_user(dana)
        self.assertTrue(me.o365_organization_mode)
        self.assertEqual(me.o365_connection_state, "disconnected")
        me.action_o365_start_sync()
        account = self._account(dana)
        self.assertEqual(account.connection_state, "connected")
        self.assertEqual(account.sync_state, "running")
        self.assertEqual(account.connected_by, "organization")
        self.assertEqual(account.mailbox_address, dana.email)
        self.assertEqual(account.mailbox_timezone, "Europe/Paris")
        self.assertTrue(account.mailbox_user_id)
        self.assertFalse(account.sudo().token_cache, "no user token in organisation mode")
        me.invalidate_recordset()
        self.assertEqual(me.o365_mailbox_address, dana.email)
        self.assertEqual(me.o365_connected_by, "organization")

        account.sync_started_at = account.sync_started_at.replace(year=account.sync_started_at.year - 1)
        self.schedule(self.todo_type, "Quote for Acme", user=dana, date_deadline=date(2031, 5, 6))
        self.run_push()
        self.assertTrue(self.mailbox_events(dana.email, subject="Task: Quote for Acme"))
        paths = {r["path"] for r in self.graph_requests(dana.email) if not r["path"].endswith("$batch")}
        self.assertFalse([p for p in paths if p.startswith("/v1.0/me")], "the application never asks for /me")

    def test_start_disconnect_start_through_json_rpc(self):
        """O1, S4: what the Preferences dialog sends, as JSON-RPC: Start Syncing without sign-in, then
        Disconnect, then Start again: the same mailbox, and what was in Outlook stays linked."""
        nina = self._employee("nina_org")
        self.authenticate(nina.login, nina.login)
        answer, _text = self._rpc("res.users", "action_o365_start_sync", [[nina.id]])
        self.assertIs(answer.get("result"), True, answer)
        answer, _text = self._rpc(
            "res.users", "read", [[nina.id], ["o365_connection_state", "o365_connected_by", "o365_mailbox_address"]]
        )
        self.assertEqual(
            answer["result"][0],
            {
                "id": nina.id,
                "o365_connection_state": "connected",
                "o365_connected_by": "organization",
                "o365_mailbox_address": nina.login,
            },
        )
        account = self._account(nina)
        account.sync_started_at = account.sync_started_at.replace(year=2000)
        task = self.schedule(self.todo_type, "Kept across Disconnect", user=nina, date_deadline=date(2031, 4, 1))
        self.run_push()
        link = self.link_of(task, nina)
        self.assertTrue(link)

        self._rpc("res.users", "action_o365_disconnect", [[nina.id]])
        self.assertEqual(self._account(nina).connection_state, "disconnected")
        answer, _text = self._rpc("res.users", "action_o365_start_sync", [[nina.id]])
        self.assertIs(answer.get("result"), True, answer)
        self.assertEqual(self._account(nina).connection_state, "connected")
        self.assertEqual(self.link_of(task, nina), link, "S4: the same mailbox keeps its links")

    def test_mailbox_set_by_the_administrator(self):
        """O1: an administrator can give a user a Microsoft 365 mailbox other than their email."""
        emil = self._employee("emil_org")
        other = f"emil.k@{ORG_DOMAIN}"
        self.emulator.state.add_user(other)
        emil.sudo().o365_mailbox = other
        emil.with_user(emil).action_o365_start_sync()
        self.assertEqual(self._account(emil).mailbox_address, other)

    def test_administrator_starts_many_users_at_once(self):
        """O1: from the health list, an administrator starts sync for several users in one go; a user whose
        mailbox is outside the application's scope is named with the reason and the others sync.
        Issue 23: the administrator reads what they can do (never "ask your administrator"), and the
        title says the sync started for some users only; the user keeps words meant for them."""
        users = [self._employee(f"bulk_{n}_org") for n in range(3)]
        self.emulator.state.set_app_mailbox_scope(CLIENT_ID, [u.email for u in users[:2]])
        wizard = (
            self.env["o365.sync.start.users"]
            .with_user(self.admin)
            .with_context(active_model="res.users", active_ids=[u.id for u in users])
            .create({})
        )
        self.assertEqual(wizard.user_ids, users[0] | users[1] | users[2])
        notification = wizard.action_start()
        accounts = [self._account(u) for u in users]
        self.assertEqual([a.sync_state for a in accounts], ["running", "running", "stopped"])
        self.assertEqual(accounts[2].connection_state, "disconnected")
        message = notification["params"]["message"]
        self.assertIn("2 of 3 users sync.", message)
        self.assertIn(users[2].name, message)
        self.assertIn("add it to the mailboxes the application may reach", message)
        self.assertNotIn("ask your administrator", message.lower())
        self.assertEqual(notification["params"]["title"], "Microsoft 365 sync started for some users")
        self.assertIn("outside the mailboxes", accounts[2].last_error_words)
        self.assertIn("Ask your administrator", accounts[2].last_error_words)

        # Nobody started: the title does not say "started" (issue 23).
        nobody = self.env["o365.sync.start.users"].with_user(self.admin).create({"user_ids": [(6, 0, users[2].ids)]})
        self.assertEqual(nobody.action_start()["params"]["title"], "Microsoft 365 sync did not start")

        # Once the administrator widened the scope, Restart on the health list connects and starts it.
        self.emulator.state.set_app_mailbox_scope(CLIENT_ID, None)
        accounts[2].with_user(self.admin).action_admin_restart_sync()
        self.assertEqual((accounts[2].connection_state, accounts[2].sync_state), ("connected", "running"))

    def test_per_user_start_needs_the_organisation_mode(self):
        """O1: starting other users' sync is refused, in plain words, while each user signs in for themselves."""
        self.env["ir.config_parameter"].sudo().set_param("o365_calendar_sync.connection_mode", "user")
        with self.assertRaisesRegex(UserError, "organisation-wide connection"):
            self.env["o365.sync.start.users"].with_user(self.admin)._start_users(self._employee("fred_org"))

    def test_users_cannot_point_their_sync_at_another_mailbox(self):
        """O1, S5: users can edit their own email in Odoo; a user whose email is not their login cannot
        start their own sync on it (a colleague's mailbox), and is told to ask an administrator, who can."""
        kim = self._employee("kim_org")
        colleague = self._employee("lea_org")
        kim.with_user(kim).write({"email": colleague.email})
        with self.assertRaisesRegex(UserError, "ask your administrator"):
            kim.with_user(kim).action_o365_start_sync()
        self.assertEqual(self._account(kim).connection_state, "disconnected")
        kim.with_user(kim).write({"email": kim.login})
        kim.with_user(kim).action_o365_start_sync()
        self.assertEqual(self._account(kim).mailbox_address, kim.login)

    def test_unknown_mailbox_says_what_to_fix(self):
        """O1: a user whose email has no mailbox is told to have the mailbox set on their user."""
        gina = new_test_user(self.env, f"nobody@{ORG_DOMAIN}", groups="base.group_user", email=f"nobody@{ORG_DOMAIN}")
        with self.assertRaisesRegex(UserError, "has no mailbox nobody@contoso.example"):
            gina.with_user(gina).action_o365_start_sync()
        self.assertEqual(self._account(gina).sync_state, "stopped")

    # -- O1: a mailbox out of reach is one user's problem -------------------------------------

    def test_mailbox_taken_out_of_scope_stops_only_that_user(self):
        """O1, O2, S7: when the administrator narrows the application's scope, the mailbox left outside
        gets a per-user error (told once, its changes wait untouched) while the others in the same batch
        go on; once it is back in scope, Try Again resumes it and what waited goes out."""
        harry = self._employee("harry_org")
        harry.with_user(harry).action_o365_start_sync()
        self.emulator.state.set_app_mailbox_scope(CLIENT_ID, [self.alice_upn])
        alice_task = self.schedule(self.todo_type, "Alice's task", date_deadline=date(2031, 6, 1))
        harry_task = self.schedule(self.todo_type, "Harry's task", user=harry, date_deadline=date(2031, 6, 1))
        self._account(harry).sync_started_at = self._account(self.alice).sync_started_at
        self.env["o365.push.queue"].sudo().search([]).write({"next_attempt_at": "2000-01-01 00:00:00"})
        self.run_push()
        self.assertTrue(self.mailbox_events(self.alice_upn, subject="Task: Alice's task"))
        self.assertFalse(self.mailbox_events(harry.email, subject="Task: Harry's task"))
        account = self._account(harry)
        self.assertEqual(account.connection_state, "reconnect")
        self.assertIn("outside the mailboxes the application may reach", account.last_error_words)
        self.assertEqual(self._account(self.alice).connection_state, "connected", "other users go on")
        [row] = self.queue_rows(harry_task)
        self.assertEqual((row.state, row.attempts), ("pending", 0), "the change waits, no try counted")
        self.assertEqual(len(self.notices(harry)), 1)
        self.time_travel()
        self.run_push()
        self.assertEqual(len(self.notices(harry)), 1, "told once")
        self.assertFalse(self.queue_rows(alice_task))

        self.emulator.state.set_app_mailbox_scope(CLIENT_ID, None)
        harry.with_user(harry).action_o365_connect()  # "Try Again" on the Calendar tab
        self.assertEqual(self._account(harry).connection_state, "connected")
        self.run_push()
        self.assertTrue(self.mailbox_events(harry.email, subject="Task: Harry's task"))

    def test_application_credential_failure_is_no_user_failure(self):
        """O1, E2: when the application's secret stops working, nobody is asked to reconnect: the changes
        wait and say the organisation's connection fails; they go out once an administrator fixes it."""
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("o365_calendar_sync.client_secret", "expired-secret")
        task = self.schedule(self.todo_type, "Wait for the admin", date_deadline=date(2031, 7, 1))
        self.run_push()
        account = self._account(self.alice)
        self.assertEqual(account.connection_state, "connected")
        self.assertFalse(self.notices(self.alice))
        [row] = self.queue_rows(task)
        self.assertEqual(row.state, "pending")
        self.assertIn("organisation's Microsoft 365 connection does not work", row.last_error)
        params.set_param("o365_calendar_sync.client_secret", CLIENT_SECRET)
        self.time_travel()
        self.run_push()
        self.assertTrue(self.mailbox_events(self.alice_upn, subject="Task: Wait for the admin"))

    def test_one_application_token_for_threads_starting_together(self):
        """O1, E7: the push and pull pools start many mailboxes at once; they share one application
        token per process: one token request (and one discovery), not one per thread."""
        app = self.env["o365.config"].azure_app()
        OrganizationLogin.forget_all()
        self.emulator.state.clear_requests()
        tokens, barrier = [], threading.Barrier(8)

        def first_call():
            barrier.wait(10)
            tokens.append(OrganizationLogin(app).access_token())

        threads = [threading.Thread(target=first_call) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertEqual(len(set(tokens)), 1)
        self.assertEqual(self.emulator.state.token_request_count(client_id=CLIENT_ID), 1)

    def test_back_to_per_user_sign_ins_asks_users_to_connect(self):
        """O1, S7: when the administrator goes back to per-user sign-ins, the mailboxes the organisation
        connected are not pushed on with its application: each user is told once to connect their own
        account, and their changes wait for it (not retried in a loop)."""
        users = self._organization_started(*(f"back_{n}_org" for n in range(2)))
        for user in users:
            self.schedule(self.todo_type, f"Waits {user.login}", user=user, date_deadline=date(2031, 8, 2))
        self.env["ir.config_parameter"].sudo().set_param("o365_calendar_sync.connection_mode", "user")
        self.run_push()
        for user in users:
            account = self._account(user)
            self.assertEqual(account.connection_state, "reconnect")
            self.assertIn("no longer connects your Microsoft 365 mailbox", account.last_error_words)
            self.assertEqual(len(self.notices(user)), 1)
            [row] = self.queue_rows().filtered(lambda r, account=account: r.account_id == account)
            self.assertEqual((row.state, row.attempts), ("pending", 0))
        self.emulator.state.clear_requests()
        self.run_push()
        self.assertEqual(self.graph_requests(), [], "nothing asked until they connect")

        # One of them connects their own account (S2): the same mailbox, their own sign-in, and what waited goes out.
        account = self._account(users[0])
        account._connect(self._sign_in(account, users[0].email))  # what the OAuth callback does
        self.assertEqual((account.connection_state, account.connected_by), ("connected", "user"))
        self.run_push()
        self.assertTrue(self.mailbox_events(users[0].email, subject=f"Task: Waits {users[0].login}"))

    # -- O2: one batch, several mailboxes ------------------------------------------------------

    def test_one_batch_carries_changes_of_many_mailboxes(self):
        """O2: one change in each of 20 mailboxes goes out in one $batch with the application's token,
        0.05 Graph requests per change, and no new token request."""
        users = self._organization_started(*(f"batch_{n}_org" for n in range(20)))
        for user in users:
            self.schedule(self.todo_type, f"Call {user.login}", user=user, date_deadline=date(2031, 8, 1))
        self.env.flush_all()
        self.emulator.state.clear_requests()
        stats = self.run_push()
        self.assertEqual(stats["pushed"], 20)
        for user in users:
            self.assertTrue(self.mailbox_events(user.email, subject=f"Task: Call {user.login}"))
        outer = [r for r in self.graph_requests() if not r.get("inBatch")]
        self.assertEqual(len(outer), 1, [r["path"] for r in outer])
        self.assertEqual(self.token_requests(), [], "the application token is reused")
        self.assertLessEqual(len(outer) / 20, 0.1)

    def test_at_most_four_changes_per_mailbox_in_a_shared_batch(self):
        """O2: in a batch shared by several mailboxes, one mailbox has at most 4 requests."""
        ivy = self._organization_started("ivy_org")
        account = self._account(self.alice)
        account.sync_started_at = account.sync_started_at.replace(year=2000)
        for n in range(6):
            self.schedule(self.todo_type, f"Alice {n}", date_deadline=date(2031, 9, 1))
            self.schedule(self.todo_type, f"Ivy {n}", user=ivy, date_deadline=date(2031, 9, 1))
        self.env.flush_all()
        self.emulator.state.clear_requests()
        self.run_push()
        self.assertEqual(len(self.mailbox_events(self.alice_upn)), 6)
        self.assertEqual(len(self.mailbox_events(ivy.email)), 6)
        inner = [r for r in self.graph_requests() if r.get("inBatch")]
        batches = [r for r in self.graph_requests() if not r.get("inBatch")]
        self.assertEqual(len(batches), 2, "6 changes of each of 2 mailboxes: 4 + 2 per mailbox")
        first_batch = inner[:8]
        for upn in (self.alice_upn, ivy.email):
            self.assertEqual(sum(r["mailbox"] == upn for r in first_batch), 4)

    def test_stray_subscriptions_swept_once_for_every_mailbox(self):
        """O2, E7: Graph lists the application every mailbox's subscriptions, so strays are not looked for
        per mailbox: the renewal job lists them once and deletes those to this database that no account
        knows, leaving known ones, other receivers' and ones made in the last half hour."""
        graph = Graph(self.emulator, token=app_token(self.emulator, CLIENT_ID, secret=CLIENT_SECRET))
        url, other_url = subscriptions.notification_urls(self.env)
        mailbox = self.emulator.state.find_mailbox(self.alice_upn)

        def subscribe(expires_in, notification_url=url):
            answer = graph.post(
                "/subscriptions",
                json={
                    "changeType": "created,updated,deleted",
                    "resource": f"users/{mailbox.id}/events",
                    "notificationUrl": notification_url,
                    "expirationDateTime": (datetime.now(UTC) + expires_in).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "clientState": "x",
                },
                timeout=20,
            )
            self.assertEqual(answer.status_code, 201, answer.text)
            return answer.json()["id"]

        known = subscribe(timedelta(days=2))
        self._account(self.alice).sudo().subscription_id = known
        stray = subscribe(timedelta(days=2))
        just_made = subscribe(timedelta(minutes=4190))
        elsewhere = subscribe(timedelta(days=2), notification_url=other_url)  # another receiver
        self.emulator.state.clear_requests()
        self.assertEqual(subscriptions.sweep_organization_subscriptions(self.env), 1)
        left = {s["id"] for s in self.emulator.state.list_subscriptions()}
        self.assertEqual(left & {known, stray, just_made, elsewhere}, {known, just_made, elsewhere})
        listings = [r for r in self.graph_requests() if r["method"] == "GET" and r["path"] == "/v1.0/subscriptions"]
        self.assertEqual(len(listings), 1)

    # -- O1: the administrator's side ----------------------------------------------------------

    def test_connection_check_explains_what_is_missing(self):
        """O1, S1: Test connection in organisation mode checks the application's own sign-in, the permissions
        granted by admin consent and one mailbox, and says in plain words what is missing."""
        Settings = self.env["res.config.settings"].with_user(self.admin)
        values = Settings.create({}).read()[0]
        self.emulator.state.revoke_admin_consent(CLIENT_ID)
        result = Settings.o365_check_connection_values(values)
        checks = {c["key"]: c for c in result["checks"]}
        self.assertEqual(checks["client"]["status"], "pass", checks["client"])
        self.assertEqual(checks["permissions"]["status"], "fail")
        self.assertIn("Grant admin consent", checks["permissions"]["text"])

        self.emulator.state.grant_admin_consent(CLIENT_ID)
        self.emulator.state.set_app_mailbox_scope(CLIENT_ID, [self.alice_upn])
        checks = {c["key"]: c for c in Settings.o365_check_connection_values(values)["checks"]}
        self.assertEqual(checks["permissions"]["status"], "pass")
        self.assertEqual(checks["mailbox"]["status"], "fail")
        self.assertIn("RBAC for Applications", checks["mailbox"]["text"])

        self.emulator.state.set_app_mailbox_scope(CLIENT_ID, None)
        result = Settings.o365_check_connection_values(values)
        self.assertTrue(result["ok"], result["checks"])

        checks = {
            c["key"]: c
            for c in Settings.o365_check_connection_values({**values, "o365_client_secret": "wrong"})["checks"]
        }
        self.assertEqual(checks["client"]["status"], "fail")
        self.assertIn("client secret is wrong or expired", checks["client"]["text"])

    def test_grant_admin_consent_comes_back_to_settings(self):
        """O1: Grant admin consent sends the administrator to Microsoft's admin consent page for this
        application; accepting there comes back to the settings, which say it was granted. Issue 23:
        the page is where the login service sends browsers (its discovery document's authorization
        endpoint), as for users' sign-ins: the demo emulator's plain-HTTP pages, no certificate warning."""
        self.emulator.state.revoke_admin_consent(CLIENT_ID)
        self.authenticate("olga_admin", "olga_admin")
        answer = self.url_open("/o365_calendar_sync/admin_consent/start", allow_redirects=False)
        self.assertEqual(answer.status_code, 303, answer.text[:300])
        consent_url = answer.headers["Location"]
        self.assertTrue(consent_url.startswith(f"{self.emulator.browser_base_url}/{TENANT}/adminconsent?"), consent_url)
        self.assertTrue(consent_url.startswith("http://"), "the browser pages, not the HTTPS API")
        query = dict(parse_qsl(urlsplit(consent_url).query))
        self.assertEqual(query["client_id"], CLIENT_ID)
        page = requests.get(consent_url, timeout=10, verify=self.emulator.ca_path)
        self.assertEqual(page.status_code, 200)
        form = dict(query, login=f"olga_admin@{ORG_DOMAIN}", consent="accept")
        decided = requests.post(
            consent_url.split("?")[0], data=form, allow_redirects=False, timeout=10, verify=self.emulator.ca_path
        )
        self.assertIn(decided.status_code, (302, 303), decided.text[:300])
        back = decided.headers["Location"]
        self.assertIn("admin_consent=True", back)
        answer = self.url_open(back.replace(self.base_url(), ""), allow_redirects=False)
        self.assertEqual(answer.status_code, 303)
        self.assertIn("action_o365_config_settings", answer.headers["Location"])
        consent = self.env["ir.config_parameter"].sudo().get_param("o365_calendar_sync.admin_consent")
        self.assertTrue(consent.startswith("Granted on"), consent)
        self.assertTrue(self.emulator.state.apps[CLIENT_ID].granted_roles)

    def test_certificate_instead_of_secret(self):
        """O1: the application signs in with a certificate (private key and certificate in PEM; the
        thumbprint is taken from the certificate) instead of a client secret."""
        cert_pem, key_pem = make_certificate()
        state = self.emulator.state
        app = state.app(CLIENT_ID)
        state.register_app(
            CLIENT_ID,
            None,  # a certificate-only registration: no secret to fall back on
            redirect_uris=app.redirect_uris,
            certificates=[cert_pem],
            application_permissions=APPLICATION_PERMISSIONS,
        )
        state.grant_admin_consent(CLIENT_ID)

        def restore():
            state.register_app(
                CLIENT_ID,
                CLIENT_SECRET,
                redirect_uris=app.redirect_uris,
                application_permissions=APPLICATION_PERMISSIONS,
            )
            state.grant_admin_consent(CLIENT_ID)

        self.addCleanup(restore)
        settings = self.env["res.config.settings"].with_user(self.admin).create({})
        settings.action_o365_forget_client_secret()
        settings.o365_certificate = key_pem + "\n" + cert_pem
        settings.execute()
        params = self.env["ir.config_parameter"].sudo()
        self.assertEqual(len(params.get_param("o365_calendar_sync.certificate_thumbprint")), 40)
        self.assertFalse(params.get_param("o365_calendar_sync.client_secret"))
        task = self.schedule(self.todo_type, "Signed by certificate", date_deadline=date(2031, 7, 2))
        self.run_push()
        self.assertFalse(self.queue_rows(task), self.queue_rows(task).last_error)
        self.assertTrue(self.mailbox_events(self.alice_upn, subject="Task: Signed by certificate"))
