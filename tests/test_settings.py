from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, new_test_user, tagged

from ..utils.settings import INT_DEFAULTS, PARAM_PREFIX, read_int, read_param
from .common import CLIENT_SECRET, O365Case


@tagged("post_install", "-at_install")
class TestSettings(TransactionCase):
    def test_org_domains_default_from_companies_and_users(self):
        """S1: organisation domains default to the domains of companies' and internal users' emails."""
        self.env.company.email = "info@Example.COM"
        self.env["res.users"].create({"name": "Colleague", "login": "col", "email": "col@branch.example.org"})
        self.env["res.users"].create(
            {
                "name": "Portal",
                "login": "portal1",
                "email": "p@customer.example",
                "groups_id": [(6, 0, [self.env.ref("base.group_portal").id])],
            }
        )
        domains = self.env["o365.config"].org_domains()
        self.assertIn("example.com", domains)
        self.assertIn("branch.example.org", domains)
        self.assertNotIn("customer.example", domains, "portal users are not part of the organisation")
        self.assertEqual(self.env["res.config.settings"].create({}).o365_org_domains.split(", "), domains)

    def test_org_domains_setting_is_normalised_and_wins(self):
        """S1: an edited domain list is trimmed, lower-cased and de-duplicated, and replaces the default."""
        settings = self.env["res.config.settings"].create(
            {"o365_org_domains": " Contoso.example ; @fabrikam.example, contoso.example "}
        )
        settings.execute()
        self.assertEqual(self.env["o365.config"].org_domains(), ["contoso.example", "fabrikam.example"])

    def test_settings_one_reader_for_settings_and_knobs(self):
        """S1, E2 (issue 24): every setting is read by utils/settings.py: a knob left unset, emptied or
        not a number falls back to its default; a whole number wins; the settings model reads through it."""
        params = self.env["ir.config_parameter"].sudo()
        self.assertEqual(read_int(self.env, "push_retry_hours"), INT_DEFAULTS["push_retry_hours"])
        for stored, expected in (("48", 48), ("", 24), ("many", 24), (False, 24)):
            params.set_param(PARAM_PREFIX + "push_retry_hours", stored)
            self.assertEqual(read_int(self.env, "push_retry_hours"), expected, stored)
        params.set_param(PARAM_PREFIX + "tenant", "contoso.example")
        self.assertEqual(read_param(self.env, "tenant"), "contoso.example")
        self.assertEqual(self.env["o365.config"].azure_app().tenant, "contoso.example")
        self.assertEqual(read_param(self.env, "no_such_setting", "fallback"), "fallback")

    def test_endpoints_default_to_microsoft_and_can_point_elsewhere(self):
        """S1: Graph and login endpoints default to Microsoft's and can point at an emulator."""
        app = self.env["o365.config"].azure_app()
        self.assertEqual(app.login_endpoint, "https://login.microsoftonline.com")
        self.assertEqual(app.graph_endpoint, "https://graph.microsoft.com/v1.0")
        self.assertEqual(app.authority, "https://login.microsoftonline.com/common")
        self.assertEqual(app.missing(), ["Client ID", "Client Secret"])

        self.env["res.config.settings"].create(
            {
                "o365_client_id": "cid",
                "o365_client_secret": "secret",
                "o365_tenant": "contoso.example",
                "o365_login_endpoint": "https://127.0.0.1:8443",
                "o365_graph_endpoint": "https://127.0.0.1:8443/v1.0",
                "o365_ca_bundle": "/tmp/ca.pem",
            }
        ).execute()
        app = self.env["o365.config"].azure_app()
        self.assertEqual(app.authority, "https://127.0.0.1:8443/contoso.example")
        self.assertEqual(app.verify, "/tmp/ca.pem")
        self.assertEqual(app.missing(), [])


@tagged("post_install", "-at_install")
class TestConnectionCheckUnsaved(O365Case):
    """S1: Test connection runs on the values typed in the settings form, saved or not."""

    def _saved(self):
        params = self.env["ir.config_parameter"].sudo()
        return {key: params.get_param(f"o365_calendar_sync.{key}") for key in ("client_id", "client_secret")}

    def _typed(self, **changes):
        """The form's values: what is saved, with the administrator's unsaved changes."""
        app = self.env["o365.config"].azure_app()
        values = {
            "o365_client_id": app.client_id,
            "o365_client_secret": app.client_secret,
            "o365_tenant": app.tenant,
            "o365_public_base_url": self.base_url(),
            "o365_login_endpoint": app.login_endpoint,
            "o365_graph_endpoint": app.graph_endpoint,
            "o365_ca_bundle": app.ca_bundle,
        }
        values.update(changes)
        return values

    def test_unsaved_wrong_secret_is_tested_and_not_saved(self):
        """S1: a wrong secret typed but not saved is what the test checks; the saved settings stay as they were."""
        saved = self._saved()
        result = self.env["res.config.settings"].o365_check_connection_values(
            self._typed(o365_client_secret="typed-not-saved")
        )
        self.assertFalse(result["ok"])
        by_key = {check["key"]: check for check in result["checks"]}
        self.assertEqual(by_key["client"]["status"], "fail")
        self.assertIn("client secret is wrong", by_key["client"]["text"])
        self.assertEqual(result["summary"], "1 of 5 checks failed: Client ID and secret")
        self.assertEqual(self._saved(), saved, "testing never saves the typed values")
        self.assertNotIn("typed-not-saved", str(result), "the secret is never echoed back")

    def test_unsaved_fix_passes_before_saving(self):
        """S1: with the saved secret wrong, the right one typed in the form passes every check, one line each."""
        self.env["ir.config_parameter"].sudo().set_param("o365_calendar_sync.client_secret", "saved-but-wrong")
        result = self.env["res.config.settings"].o365_check_connection_values(
            self._typed(o365_client_secret=CLIENT_SECRET)
        )
        self.assertTrue(result["ok"], result["checks"])
        self.assertEqual(
            [(c["key"], c["status"]) for c in result["checks"]],
            [("settings", "pass"), ("login", "pass"), ("client", "pass"), ("redirect", "pass"), ("graph", "pass")],
        )
        self.assertEqual(result["notification"]["params"]["type"], "success")
        self.assertEqual(len(result["notification"]["params"]["message"].splitlines()), 5)

    def test_failed_sign_in_service_marks_dependent_checks_not_checked(self):
        """S1: when the sign-in service fails, its line fails and the checks that need it say they were not run."""
        result = self.env["res.config.settings"].o365_check_connection_values(
            self._typed(o365_login_endpoint=self.emulator.graph_url)
        )
        statuses = {check["key"]: check["status"] for check in result["checks"]}
        self.assertEqual(
            statuses, {"settings": "pass", "login": "fail", "client": "skip", "redirect": "skip", "graph": "pass"}
        )
        self.assertTrue(result["summary"].startswith("1 of 5 checks failed: Microsoft sign-in service"))

    def test_only_administrators_can_test(self):
        """S1, S5: a user who is not an administrator cannot run the connection test."""
        user = new_test_user(self.env, "plain_check_user", groups="base.group_user")
        with self.assertRaises(AccessError):
            self.env["res.config.settings"].with_user(user).o365_check_connection_values(self._typed())

    def test_browser_tests_unsaved_values_without_save_dialog(self):
        """S1: in the browser, Test connection on an unsaved wrong secret shows the failing line, with no save
        dialog; the right secret typed next passes; nothing is saved; Settings links to users and the queue."""
        saved = self._saved()
        admin = new_test_user(
            self.env, "ada_unsaved", groups="base.group_user,base.group_system", email="ada_unsaved@contoso.example"
        )
        self.start_tour("/odoo", "o365_calendar_sync_settings_unsaved", login=admin.login, timeout=120)
        self.assertEqual(self._saved(), saved)


@tagged("post_install", "-at_install")
class TestSettingsPageLinks(TransactionCase):
    def test_links_to_connected_users_and_push_queue(self):
        """S1, S7: the settings page opens the Connected Users list and the Push Queue."""
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.action_o365_open_accounts()["res_model"], "o365.sync.account")
        self.assertEqual(settings.action_o365_open_push_queue()["res_model"], "o365.push.queue")
        arch = settings.get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('name="action_o365_open_accounts"', arch)
        self.assertIn('name="action_o365_open_push_queue"', arch)

    def test_outlook_calendar_checkbox_explains_the_clash(self):
        """S6: next to Odoo's own Outlook Calendar checkbox, a note says how it lives with this module."""
        arch = self.env["res.config.settings"].get_views([(False, "form")])["views"]["form"]["arch"]
        setting = arch[arch.index('id="sync_outlook_calendar_setting"') :]
        setting = setting[: setting.index("</setting>")]
        self.assertIn("module_microsoft_calendar", setting)
        self.assertIn("Microsoft 365 Calendar Sync is installed", setting)
        self.assertIn("imported twice", setting)
