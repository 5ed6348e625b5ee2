"""S1-S3 in a real browser: headless Chromium runs Odoo tours against the emulator.

The tours live in static/tests/tours/. Microsoft's consent page is the emulator's
(on its plain-HTTP listener, so the browser needs no private CA); the browser
presses its Accept button itself, through a script the test installs in it, as a
user would, and the tour resumes when Microsoft sends the browser back to Odoo.

With O365_SCREENSHOTS=1 the tours also save static/description/screenshots/*.png.
"""

import json
from unittest.mock import patch

from odoo.tests import common, new_test_user, tagged

from .common import CLIENT_ID, CLIENT_SECRET, ORG_DOMAIN, TENANT, O365Case, TourBrowser


@tagged("post_install", "-at_install")
class TestTour(O365Case):
    browser_size = "1366x1100"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.emulator.state.add_user("tom_tour@contoso.example", display_name="Tom Tour", time_zone="GMT Standard Time")
        cls.tom = new_test_user(
            cls.env, "tom_tour", groups="base.group_user", email="tom_tour@contoso.example", tz="Europe/London"
        )
        cls.env["hr.employee"].create({"name": "Tom Tour", "user_id": cls.tom.id})
        cls.admin_user = new_test_user(
            cls.env, "ada_tour", groups="base.group_user,base.group_system", email="ada@contoso.example"
        )

    def _start_tour(self, tour, login, storage=None):
        code = f"odoo.startTour({tour!r}, {{stepDelay: 0}})"
        if storage:
            code = f"sessionStorage.setItem({storage[0]!r}, {json.dumps(json.dumps(storage[1]))}); {code}"
        with patch.object(common, "ChromeBrowser", TourBrowser):
            self.start_tour("/odoo", tour, login=login, code=code, timeout=120)

    def test_admin_sets_up_and_user_connects_and_syncs(self):
        """S1, S2, S3: in a real browser the administrator fills and tests the settings, then a user
        connects from Preferences through the consent page, starts and stops syncing."""
        params = self.env["ir.config_parameter"].sudo()
        for key in ("client_id", "client_secret", "login_endpoint", "graph_endpoint", "ca_bundle"):
            params.set_param(f"o365_calendar_sync.{key}", "")
        values = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "tenant": TENANT,
            "public_base_url": self.base_url(),
            "login_endpoint": self.emulator.base_url,
            "graph_endpoint": self.emulator.graph_url,
            "ca_bundle": self.emulator.ca_path,
            "org_domains": ORG_DOMAIN,
        }
        self._start_tour("o365_calendar_sync_settings", "ada_tour", ("o365_calendar_sync_tour_settings", values))
        app = self.env["o365.config"].azure_app()
        self.assertEqual(
            (app.client_id, app.client_secret, app.graph_endpoint), (CLIENT_ID, CLIENT_SECRET, values["graph_endpoint"])
        )

        self._start_tour("o365_calendar_sync_connect", "tom_tour")

        self.env.invalidate_all()
        account = self.env["o365.sync.account"]._for_user(self.tom)
        self.assertEqual(account.connection_state, "connected")
        self.assertEqual(account.mailbox_address, "tom_tour@contoso.example")
        self.assertEqual(account.mailbox_timezone, "GMT Standard Time")
        self.assertEqual(account.sync_state, "stopped")
        self.assertTrue(account.sync_started_at)
        self.assertEqual(account.exclude_categories, "Personal")
        # The tokens the browser flow stored really open Tom's mailbox.
        self.assertEqual(account.graph_client().me()["userPrincipalName"], "tom_tour@contoso.example")
