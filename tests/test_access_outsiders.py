"""S5 (issue 8): portal and public users reach nobody's tokens, sync settings, queues or links.

tests/test_access.py covers another internal user and the account model; this file
covers the outsiders (portal, public) on every model of the module, over the ORM,
JSON-RPC and the module's own controllers.
"""

import json
from datetime import date

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import ORG_DOMAIN, O365Case

# Every model holding a user's Microsoft 365 state, with a field worth stealing.
MODELS = {
    "o365.sync.account": "mailbox_address",
    "o365.push.queue": "last_error",
    "o365.event.link": "graph_event_id",
    "o365.pull.request": "kind",
    "o365.event.exclusion": "graph_event_id",
}
USER_FIELDS = ["o365_mailbox_address", "o365_connection_state", "o365_include_categories", "o365_last_error"]
NOTIFY = "/o365_calendar_sync/notifications"
LIFECYCLE = "/o365_calendar_sync/notifications/lifecycle"
OAUTH_START = "/o365_calendar_sync/oauth/start"
OAUTH_CALLBACK = "/o365_calendar_sync/oauth/callback"


@tagged("post_install", "-at_install")
class TestAccessOutsiders(O365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls._connected_user("alice_h8acl", include_categories="Customers")
        cls.alice_upn = f"alice_h8acl@{ORG_DOMAIN}"
        cls.account = cls.env["o365.sync.account"].sudo()._for_user(cls.alice)
        cls.portal = new_test_user(cls.env, "portal_h8", groups="base.group_portal", email="portal_h8@customer.example")
        cls.public = cls.env.ref("base.public_user")
        cls.refresh_token = next(iter(json.loads(cls.account.token_cache)["RefreshToken"].values()))["secret"]
        # One row of every kind for Alice, as a running sync leaves them.
        partner = cls.env["res.partner"].create({"name": "Acl Customer", "email": "acl@customer.example"})
        task = cls.env["mail.activity"].create(
            {
                "res_model_id": cls.env["ir.model"]._get_id("res.partner"),
                "res_id": partner.id,
                "activity_type_id": cls.env.ref("mail.mail_activity_data_todo").id,
                "summary": "Secret plan",
                "user_id": cls.alice.id,
                "date_deadline": date(2031, 5, 5),
            }
        )
        cls.env["o365.push.queue"].sudo()._enqueue(cls.account, task, "upsert")
        cls.env["o365.event.link"].sudo().create(
            {
                "account_id": cls.account.id,
                "res_model": "mail.activity",
                "res_id": task.id,
                "graph_event_id": "AAMkSecretEventId",
                "origin": "odoo",
            }
        )
        cls.env["o365.pull.request"].sudo().enqueue(cls.account.ids, "pull")
        cls.env["o365.event.exclusion"].sudo().exclude(cls.account, "AAMkPrivateEventId", "private")
        cls.rows = {model: cls.env[model].sudo().search([], limit=1, order="id desc") for model in MODELS}

    def setUp(self):
        super().setUp()
        for model, row in self.rows.items():
            self.assertTrue(row, f"fixture: a {model} row exists")

    # -- ORM -------------------------------------------------------------------------

    def test_orm_portal_and_public_reach_nothing(self):
        """S5, issue 8: portal and public users can neither search, read, write, create nor delete the
        accounts, push queue, event links, pull requests or exclusions, nor read Alice's sync fields."""
        for outsider in (self.portal, self.public):
            for model, field in MODELS.items():
                Model = self.env[model].with_user(outsider)
                row = self.rows[model].with_user(outsider)
                with self.subTest(user=outsider.login, model=model):
                    with self.assertRaises(AccessError):
                        Model.search([])
                    with self.assertRaises(AccessError):
                        row.read([field])
                    with self.assertRaises(AccessError):
                        row.write({field: "hijacked"})
                    with self.assertRaises(AccessError):
                        row.unlink()
                    with self.assertRaises(AccessError):
                        Model.create({"account_id": self.account.id})
            with self.subTest(user=outsider.login, model="res.users"), self.assertRaises(AccessError):
                self.alice.with_user(outsider).read(USER_FIELDS)
            with self.subTest(user=outsider.login, write="res.users"), self.assertRaises(AccessError):
                self.alice.with_user(outsider).write({"o365_include_categories": "hijacked"})
        for model, row in self.rows.items():
            self.assertTrue(row.exists(), f"{model} row untouched")
        self.assertEqual(self.account.include_categories, "Customers")
        self.assertEqual(self.rows["o365.event.link"].graph_event_id, "AAMkSecretEventId")

    # -- JSON-RPC --------------------------------------------------------------------

    def _assert_no_data(self, text):
        for secret in ("Customers", self.alice_upn, self.refresh_token, "AAMkSecretEventId", "AAMkPrivateEventId"):
            self.assertNotIn(secret, text)

    def _rpc_calls(self):
        for model, field in MODELS.items():
            row_id = self.rows[model].id
            yield model, "search_read", [[]], {"fields": [field]}
            yield model, "read", [[row_id], [field]], {}
            yield model, "web_read", [[row_id]], {"specification": {field: {}}}
            yield model, "write", [[row_id], {field: "hijacked"}], {}
            yield model, "unlink", [[row_id]], {}
            yield model, "create", [{"account_id": self.account.id}], {}
        yield "res.users", "read", [[self.alice.id], USER_FIELDS], {}
        yield "res.users", "write", [[self.alice.id], {"o365_sync_tasks": False}], {}
        yield "res.users", "action_o365_stop_sync", [[self.alice.id]], {}
        yield "res.users", "action_o365_disconnect", [[self.alice.id]], {}

    def test_jsonrpc_portal_session_refused(self):
        """S5, issue 8: with an authenticated portal session every JSON-RPC call on the module's models,
        and on Alice's sync fields and buttons, answers an AccessError and no data."""
        self.authenticate("portal_h8", "portal_h8")
        for model, method, args, kwargs in self._rpc_calls():
            with self.subTest(model=model, method=method):
                answer, text = self._rpc(model, method, args, kwargs)
                self.assertNotIn("result", answer, f"{model}.{method} answered a portal user")
                self.assertEqual(answer["error"]["data"]["name"], "odoo.exceptions.AccessError")
                self._assert_no_data(text)
        self._assert_alice_untouched()

    def test_jsonrpc_public_without_session_refused(self):
        """S5, issue 8: without a session (the public user) JSON-RPC answers 'session expired' and no data."""
        for model, method, args, kwargs in self._rpc_calls():
            with self.subTest(model=model, method=method):
                answer, text = self._rpc(model, method, args, kwargs)
                self.assertNotIn("result", answer)
                self.assertEqual(answer["error"]["data"]["name"], "odoo.http.SessionExpiredException")
                self._assert_no_data(text)
        self._assert_alice_untouched()

    def _assert_alice_untouched(self):
        self.env.invalidate_all()
        for model, row in self.rows.items():
            self.assertTrue(row.exists(), f"{model} row untouched")
        self.assertTrue(self.account.sync_tasks)
        self.assertEqual(self.account.sync_state, "running")
        self.assertEqual(self.account.connection_state, "connected")
        self.assertIn(self.refresh_token, self.account.token_cache)

    # -- the module's controllers -----------------------------------------------------

    def test_oauth_routes_public_sent_to_login(self):
        """S2, S5, issue 8: without a session, Connect's start and callback only send to the login page;
        no sign-in begins, no account changes."""
        accounts = self.env["o365.sync.account"].sudo().search_count([])
        for path in (OAUTH_START, OAUTH_CALLBACK + "?code=stolen&state=forged"):
            with self.subTest(path=path):
                answer = self.url_open(path, allow_redirects=False)
                self.assertIn(answer.status_code, (302, 303))
                self.assertIn("/web/login", answer.headers["Location"])
        self.assertEqual(self.env["o365.sync.account"].sudo().search_count([]), accounts)
        self._assert_alice_untouched()

    def test_oauth_routes_portal_refused(self):
        """S2, S5, issue 8: a portal user cannot start a Microsoft 365 sign-in, and a callback carrying
        Alice's (or any) state changes nobody's tokens; no sync account is made for the portal user."""
        self.authenticate("portal_h8", "portal_h8")
        with self.assertLogs("odoo.addons.o365_calendar_sync.controllers.oauth", "WARNING") as logs:
            for path in (OAUTH_START, OAUTH_CALLBACK + "?code=stolen&state=forged"):
                answer = self.url_open(path, allow_redirects=False)
                self.assertEqual(answer.status_code, 403, path)
                self.assertNotIn("Location", answer.headers, "no Microsoft sign-in begins")
        self.assertIn("refused for non-internal user", logs.output[0])
        self.env.invalidate_all()
        self.assertFalse(
            self.env["o365.sync.account"].sudo().search([("user_id", "=", self.portal.id)]),
            "a portal user gets no Microsoft 365 sync account",
        )
        self._assert_alice_untouched()

    def _post(self, path, body):
        self.env.flush_all()  # the controller reads through its own cursor
        return self.url_open(path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})

    def test_notification_endpoint_outsiders(self):
        """E3, S5, issue 8: as public or with a portal session, Alice's real subscription id with a guessed
        or another account's clientState queues nothing, and no answer reveals a secret; the validation
        echo is plain text (no reflected HTML)."""
        bob = self._connected_user("bob_h8acl")
        bob_account = self.env["o365.sync.account"].sudo()._for_user(bob)
        Request = self.env["o365.pull.request"].sudo()
        Request.search([]).unlink()
        secret = self.account.subscription_secret
        self.assertTrue(self.account.subscription_id and secret)
        forged = [
            {"subscriptionId": self.account.subscription_id, "clientState": "guess", "changeType": "updated"},
            {"subscriptionId": self.account.subscription_id, "clientState": bob_account.subscription_secret},
            {"subscriptionId": self.account.subscription_id, "clientState": secret[:-1]},
            {"subscriptionId": [self.account.subscription_id], "clientState": secret},
            {"subscriptionId": self.account.subscription_id, "clientState": {"$ne": ""}},
        ]
        for session in ("public", "portal"):
            if session == "portal":
                self.authenticate("portal_h8", "portal_h8")
            for item in forged:
                for path in (NOTIFY, LIFECYCLE):
                    with self.subTest(session=session, path=path, item=item):
                        answer = self._post(path, {"value": [{**item, "lifecycleEvent": "subscriptionRemoved"}]})
                        self.assertIn(answer.status_code, (400, 403), answer.text)
                        self.assertNotIn(secret, answer.text)
        self.assertEqual(Request.search_count([]), 0, "no pull, renewal or re-subscription queued")
        self.assertIn(
            self.account.subscription_id, {s["id"] for s in self.emulator.state.list_subscriptions()}, "still there"
        )
        answer = self.url_open(NOTIFY + "?validationToken=%3Cscript%3Ealert(1)%3C%2Fscript%3E", data=b"")
        self.assertEqual(answer.status_code, 200)
        self.assertTrue(answer.headers["Content-Type"].startswith("text/plain"))
        # A genuine one still works, for Alice only.
        answer = self._post(
            NOTIFY, {"value": [{"subscriptionId": self.account.subscription_id, "clientState": secret}]}
        )
        self.assertEqual(answer.status_code, 202)
        self.assertEqual(Request.search([]).account_id, self.account)
