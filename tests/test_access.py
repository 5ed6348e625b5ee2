"""S5: a user's tokens and sync settings are theirs (and administrators') only."""

import json
import logging

from odoo.exceptions import AccessError
from odoo.service.model import get_public_method
from odoo.tests import new_test_user, tagged

from ..utils.auth import AuthError
from .common import O365Case

OPTION_FIELDS = ["sync_tasks", "include_categories", "mailbox_address", "last_error"]
USER_FIELDS = ["o365_sync_tasks", "o365_include_categories", "o365_mailbox_address", "o365_connection_state"]
# The methods the jobs (engine/) call: public by name (issue 24), never callable over RPC, where
# they would hand out secrets (the settings, a Graph client) or write as superuser.
JOB_METHODS = {
    "o365.sync.account": [
        "graph_client",
        "cleanup_graph_client",
        "organization_graph",
        "event_requests",
        "owner_env",
        "is_syncing",
        "sync_paused",
        "flag_reconnect_needed",
        "mailbox_out_of_reach",
        "category_filter",
    ],
    "o365.push.queue": ["find_link", "record_stamp", "transaction_id", "sent_creates", "delete_asked"],
    "o365.pull.request": ["enqueue", "take"],
    "o365.event.exclusion": ["excluded_ids", "exclude"],
    "o365.event.link": ["link_outlook_events"],
    "o365.config": ["azure_app", "org_domains", "public_base_url"],
}


@tagged("post_install", "-at_install")
class TestAccess(O365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls._connected_user("alice_s5", start_sync=False, include_categories="Customers")
        cls.bob = new_test_user(cls.env, "bob_s5", groups="base.group_user", email="bob_s5@contoso.example")
        cls.admin = new_test_user(cls.env, "admin_s5", groups="base.group_user,base.group_system")
        cls.alice_account = cls.env["o365.sync.account"]._for_user(cls.alice)
        cls.bob_account = cls.env["o365.sync.account"]._for_user(cls.bob)
        cls.secret = json.loads(cls.alice_account.token_cache)["RefreshToken"]
        cls.refresh_token = next(iter(cls.secret.values()))["secret"]

    def _assert_refused(self, model, method, args, kwargs=None):
        answer, text = self._rpc(model, method, args, kwargs)
        self.assertNotIn("result", answer, f"{model}.{method} answered data to another user")
        self.assertEqual(answer["error"]["data"]["name"], "odoo.exceptions.AccessError")
        self.assertNotIn("Customers", text)
        self.assertNotIn("alice_s5@contoso.example", text)
        self.assertNotIn(self.refresh_token, text)

    def test_orm_other_user_cannot_read_or_write(self):
        """S5: through the ORM another user can neither read nor change a user's sync settings or tokens."""
        theirs = self.alice_account.with_user(self.bob)
        for fields in (OPTION_FIELDS, ["token_cache"], ["subscription_secret"], ["delta_link"]):
            with self.assertRaises(AccessError):
                theirs.read(fields)
        with self.assertRaises(AccessError):
            theirs.write({"sync_tasks": False})
        with self.assertRaises(AccessError):
            theirs.write({"token_cache": "{}"})
        self.assertFalse(self.env["o365.sync.account"].with_user(self.bob).search([("user_id", "=", self.alice.id)]))
        with self.assertRaises(AccessError):
            self.alice.with_user(self.bob).read(USER_FIELDS)
        with self.assertRaises(AccessError):
            self.alice.with_user(self.bob).write({"o365_sync_tasks": False})
        self.assertTrue(self.alice_account.sync_tasks)
        self.assertEqual(self.alice_account.include_categories, "Customers")

    def test_orm_owner_sees_settings_but_not_tokens(self):
        """S5: the user reads and changes their own settings, never their tokens; an administrator reaches both."""
        mine = self.alice_account.with_user(self.alice)
        self.assertEqual(mine.read(["include_categories"])[0]["include_categories"], "Customers")
        with self.assertRaises(AccessError):
            mine.read(["token_cache"])
        self.alice.with_user(self.alice).write({"o365_include_categories": "Customers, Partners"})
        self.assertEqual(self.alice_account.include_categories, "Customers, Partners")
        self.assertIn(self.refresh_token, self.alice_account.with_user(self.admin).token_cache)
        self.assertEqual(self.alice.with_user(self.admin).o365_mailbox_address, "alice_s5@contoso.example")

    def test_jsonrpc_other_user_gets_access_error(self):
        """S5: over JSON-RPC another user gets an AccessError and no data for the account and the user fields."""
        self.authenticate("bob_s5", "bob_s5")
        account_id = self.alice_account.id
        self._assert_refused("o365.sync.account", "read", [[account_id], OPTION_FIELDS])
        self._assert_refused("o365.sync.account", "read", [[account_id], ["token_cache"]])
        self._assert_refused("o365.sync.account", "write", [[account_id], {"sync_tasks": False}])
        self._assert_refused("o365.sync.account", "write", [[account_id], {"token_cache": "{}"}])
        self._assert_refused(
            "o365.sync.account", "web_read", [[account_id]], {"specification": {f: {} for f in OPTION_FIELDS}}
        )
        self._assert_refused("res.users", "read", [[self.alice.id], USER_FIELDS])
        self._assert_refused(
            "res.users", "web_read", [[self.alice.id]], {"specification": {f: {} for f in USER_FIELDS}}
        )
        self._assert_refused("res.users", "write", [[self.alice.id], {"o365_sync_tasks": False}])
        # A search finds Bob's own account only.
        answer, text = self._rpc("o365.sync.account", "search_read", [[]], {"fields": ["user_id"]})
        self.assertEqual([row["id"] for row in answer["result"]], [self.bob_account.id])
        self.assertNotIn(self.refresh_token, text)
        # Nothing changed on Alice's side.
        self.env.invalidate_all()
        self.assertTrue(self.alice_account.sync_tasks)
        self.assertEqual(self.alice_account.connection_state, "connected")

    def test_methods_the_jobs_call_are_not_remote(self):
        """S5, issue 24: the public methods the jobs call are refused over RPC, as private ones are;
        an administrator asking for the application's secret over JSON-RPC gets an AccessError."""
        for model, names in JOB_METHODS.items():
            for name in names:
                with self.subTest(method=f"{model}.{name}"), self.assertRaises(AccessError):
                    get_public_method(self.env[model], name)
        self.authenticate("admin_s5", "admin_s5")
        answer, text = self._rpc("o365.config", "azure_app", [])
        self.assertEqual(answer["error"]["data"]["name"], "odoo.exceptions.AccessError")
        self.assertNotIn("client_secret", text)

    def test_jsonrpc_owner_never_receives_tokens(self):
        """S5: the owner's own Preferences and account reads over JSON-RPC never carry a token."""
        self.authenticate("alice_s5", "alice_s5")
        answer, text = self._rpc(
            "res.users", "web_read", [[self.alice.id]], {"specification": {f: {} for f in USER_FIELDS}}
        )
        self.assertEqual(answer["result"][0]["o365_mailbox_address"], "alice_s5@contoso.example")
        self.assertNotIn(self.refresh_token, text)
        answer, text = self._rpc("o365.sync.account", "read", [[self.alice_account.id], ["token_cache"]])
        self.assertEqual(answer["error"]["data"]["name"], "odoo.exceptions.AccessError")
        self.assertNotIn(self.refresh_token, text)
        # The Preferences view never names a token field.
        view = self.env.ref("base.view_users_form_simple_modif")
        answer, text = self._rpc("res.users", "get_views", [[[view.id, "form"]]], {})
        arch = answer["result"]["views"]["form"]["arch"]
        self.assertIn("o365_sync_tasks", arch)
        self.assertNotIn("token", arch.replace("session_token", ""))

    def test_tokens_never_logged(self):
        """S5: connecting, refreshing and failing to refresh write no token to the log (any logger, INFO+)."""
        # pytest-odoo runs with Odoo's log level "critical", which sets the "odoo" logger
        # to CRITICAL: lower it so the module's own lines reach the root capture too.
        odoo_logger = logging.getLogger("odoo")
        self.addCleanup(odoo_logger.setLevel, odoo_logger.level)
        odoo_logger.setLevel(logging.INFO)
        with self.assertLogs(level="INFO") as logs:
            carol = self._connected_user("carol_s5", start_sync=False)
            account = self.env["o365.sync.account"]._for_user(carol)
            old_cache = json.loads(account.token_cache)
            self.emulator.state.expire_access_tokens("carol_s5@contoso.example")
            account.graph_client().me()  # a silent refresh
            self.emulator.state.revoke_refresh_tokens("carol_s5@contoso.example")
            self.emulator.state.expire_access_tokens("carol_s5@contoso.example")  # forces the failing refresh
            try:
                account.graph_client().me()
            except AuthError as exc:  # the reconnect error: written to the account and logged by callers
                logging.getLogger(__name__).warning("refresh failed: %s", exc)
            else:
                self.fail("a revoked sign-in must fail to refresh")
        secrets = [
            entry["secret"]
            for cache in (old_cache, json.loads(account.token_cache))
            for kind in ("RefreshToken", "AccessToken")
            for entry in cache.get(kind, {}).values()
        ]
        self.assertTrue(secrets)
        for line in [*logs.output, account.last_error]:
            for secret in secrets:
                self.assertNotIn(secret, line)
