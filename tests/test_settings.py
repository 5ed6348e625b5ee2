from odoo.tests import TransactionCase, tagged


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
        domains = self.env["o365.config"]._org_domains()
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
        self.assertEqual(self.env["o365.config"]._org_domains(), ["contoso.example", "fabrikam.example"])

    def test_endpoints_default_to_microsoft_and_can_point_elsewhere(self):
        """S1: Graph and login endpoints default to Microsoft's and can point at an emulator."""
        app = self.env["o365.config"]._azure_app()
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
        app = self.env["o365.config"]._azure_app()
        self.assertEqual(app.authority, "https://127.0.0.1:8443/contoso.example")
        self.assertEqual(app.verify, "/tmp/ca.pem")
        self.assertEqual(app.missing(), [])
