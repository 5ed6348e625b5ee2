"""S1, S5, issue 27: the Azure client secret and the certificate's private key are write-only.

No RPC caller gets a byte of them: not a portal user, not an employee, not an
administrator. A security review read both with one `res.config.settings.default_get`
as a portal user (Odoo 18 reads every config_parameter field as superuser there).
"""

import json

from graph_emulator.testing import make_certificate
from odoo.tests import new_test_user, tagged

from ..utils.auth import certificate_thumbprint
from .common import CLIENT_SECRET, O365Case

SECRET_FIELDS = ["o365_client_secret", "o365_certificate", "o365_certificate_thumbprint", "o365_client_id"]
SETTINGS_READS = (
    ("default_get", lambda ids: [SECRET_FIELDS], {}),
    ("get_values", lambda ids: [], {}),
    ("read", lambda ids: [ids, SECRET_FIELDS], {}),
    ("search_read", lambda ids: [[]], {"fields": SECRET_FIELDS}),
    ("web_read", lambda ids: [ids], {"specification": {name: {} for name in SECRET_FIELDS}}),
    ("export_data", lambda ids: [ids, SECRET_FIELDS], {}),
    ("fields_get", lambda ids: [SECRET_FIELDS], {}),
    (
        "onchange",
        lambda ids: [{}, [], {name: {} for name in SECRET_FIELDS}],
        {},
    ),
    ("web_search_read", lambda ids: [], {"specification": {name: {} for name in SECRET_FIELDS}}),
)
PARAMETER_READS = (
    ("get_param", lambda ids: ["o365_calendar_sync.client_secret"], {}),
    ("get_param", lambda ids: ["o365_calendar_sync.certificate"], {}),
    ("search_read", lambda ids: [[("key", "like", "o365_calendar_sync.")]], {"fields": ["key", "value"]}),
    ("read", lambda ids: [ids, ["key", "value"]], {}),
    ("web_search_read", lambda ids: [], {"specification": {"key": {}, "value": {}}}),
    ("export_data", lambda ids: [ids, ["key", "value"]], {}),
)
# What only an administrator may do: replace a credential, without getting the old one back.
REPLACE = ("set_param", lambda ids: ["o365_calendar_sync.client_secret", "replaced-over-rpc"], {})


@tagged("post_install", "-at_install")
class TestCredentialsWriteOnly(O365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cert_pem, cls.key_pem = make_certificate()
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param("o365_calendar_sync.certificate", cls.key_pem + "\n" + cls.cert_pem)
        params.set_param("o365_calendar_sync.certificate_thumbprint", certificate_thumbprint(cls.cert_pem))
        cls.secret_rows = params.search(
            [("key", "in", ["o365_calendar_sync.client_secret", "o365_calendar_sync.certificate"])]
        )
        assert len(cls.secret_rows) == 2
        new_test_user(cls.env, "portal_cred", groups="base.group_portal", email="portal_cred@customer.example")
        new_test_user(cls.env, "employee_cred", groups="base.group_user", email="employee_cred@contoso.example")
        new_test_user(cls.env, "admin_cred", groups="base.group_user,base.group_system", email="admin_cred@x.example")
        # A settings form an administrator saved earlier (a transient record that outlives its save).
        cls.settings = cls.env["res.config.settings"].create({"o365_client_secret": CLIENT_SECRET})
        cls.settings.execute()

    def _secret_bytes(self):
        key_body = self.key_pem.split("-----")[2].strip().splitlines()
        return [CLIENT_SECRET, *key_body[:3], "PRIVATE KEY"]

    def _assert_nothing_leaks(self, text, call):
        for secret in self._secret_bytes():
            self.assertNotIn(secret, text, f"{call} sent a credential")

    def _try_every_read(self, login, try_replace=True):
        self.authenticate(login, login)
        param_ids = self.secret_rows.ids
        for model, calls, ids in (
            ("res.config.settings", SETTINGS_READS, self.settings.ids),
            ("ir.config_parameter", PARAMETER_READS + ((REPLACE,) if try_replace else ()), param_ids),
        ):
            for method, args, kwargs in calls:
                with self.subTest(user=login, model=model, method=method):
                    _answer, text = self._rpc(model, method, args(ids), kwargs)
                    self._assert_nothing_leaks(text, f"{model}.{method} as {login}")

    def test_portal_user_gets_no_credential(self):
        """S5, issue 27 item 1: a portal user reads neither the client secret nor the private key through
        default_get, get_values, read, search_read, web_read, export, fields_get or onchange."""
        self._try_every_read("portal_cred")
        self._assert_credentials_kept()

    def test_employee_gets_no_credential(self):
        """S5, issue 27: nor does an ordinary employee, through the same calls."""
        self._try_every_read("employee_cred")
        self._assert_credentials_kept()

    def test_administrator_gets_no_credential_back(self):
        """S1, issue 27: an administrator replaces the credentials but never reads them back, not even in
        System Parameters; what they may see is whether one is saved and the certificate's thumbprint."""
        self._try_every_read("admin_cred", try_replace=False)
        self._assert_credentials_kept()
        method, args, kwargs = REPLACE
        answer, text = self._rpc("ir.config_parameter", method, args(None), kwargs)
        self.assertIs(answer["result"], False, "set_param does not return the old secret")
        self._assert_nothing_leaks(text, "set_param")
        self.assertEqual(self.env["o365.config"].azure_app().client_secret, "replaced-over-rpc")
        _answer, text = self._rpc(
            "ir.config_parameter", "search_read", [[("key", "like", "o365_calendar_sync.")]], {"fields": ["key"]}
        )
        keys = {row["key"] for row in json.loads(text)["result"]}
        self.assertIn("o365_calendar_sync.client_id", keys)
        self.assertNotIn("o365_calendar_sync.client_secret", keys, "hidden from System Parameters")
        answer, _text = self._rpc(
            "res.config.settings",
            "web_read",
            [self.settings.ids],
            {"specification": {"o365_client_secret_saved": {}, "o365_certificate_saved": {}}},
        )
        shown = answer["result"][0]
        self.assertEqual(shown["o365_client_secret_saved"], "A client secret is saved.")
        self.assertIn(certificate_thumbprint(self.cert_pem), shown["o365_certificate_saved"])
        self.assertIn("valid until", shown["o365_certificate_saved"])

    def _assert_credentials_kept(self):
        app = self.env["o365.config"].azure_app()
        self.assertEqual(app.client_secret, CLIENT_SECRET, "nobody replaced the secret over RPC")
        self.assertIn(self.cert_pem.strip(), app.certificate)

    def test_settings_replace_keep_and_forget(self):
        """S1, issue 27: a typed secret replaces the saved one and is not kept in the form's record;
        an empty field keeps it; Remove forgets it; the connection test uses the saved one."""
        admin = self.env.ref("base.user_admin")
        Settings = self.env["res.config.settings"].with_user(admin)
        form = Settings.create({})
        self.assertFalse(form.o365_client_secret, "the form never holds the saved secret")
        self.assertFalse(form.o365_certificate)
        form.execute()
        self.assertEqual(self.env["o365.config"].azure_app().client_secret, CLIENT_SECRET, "empty keeps it")
        app = self.env["o365.config"].azure_app()
        typed = {
            "o365_client_id": app.client_id,
            "o365_tenant": app.tenant,
            "o365_public_base_url": self.base_url(),
            "o365_login_endpoint": app.login_endpoint,
            "o365_graph_endpoint": app.graph_endpoint,
            "o365_ca_bundle": app.ca_bundle,
        }
        result = Settings.o365_check_connection_values(typed)
        by_key = {check["key"]: check["status"] for check in result["checks"]}
        self.assertEqual(by_key["client"], "pass", "the saved secret stands in for the one not typed")
        form = Settings.create({"o365_client_secret": "  replaced-secret  "})
        form.execute()
        self.assertEqual(self.env["o365.config"].azure_app().client_secret, "replaced-secret")
        self.assertFalse(form.o365_client_secret, "not kept in the saved form either")
        Settings.create({}).action_o365_forget_client_secret()
        self.assertFalse(self.env["o365.config"].azure_app().client_secret)
        self.assertEqual(Settings.create({}).o365_client_secret_saved, "No client secret saved.")
