"""O1 (and S1 for its Test connection) in a real browser: the organisation-wide connection as
an administrator sets it up and a user starts syncing without ever signing in. Tours:
static/tests/tours/o365_organization_tour.js.

Microsoft's admin consent page is the emulator's. Grant admin consent sends the browser where the
discovery document sends browsers (issue 23), as sign-ins do: the emulator's plain-HTTP pages. The
test's browser still lets the HTTPS listener through and trusts its certificate, as a real browser
trusts Microsoft's. On the consent page it picks the administrator's account and presses Accept,
through a script the test installs in it.

With O365_SCREENSHOTS=1 the tours also save static/description/screenshots/*.png.
"""

import base64
import json
from unittest.mock import patch

from odoo import fields
from odoo.tests import common, new_test_user, tagged

from ..engine import pusher
from .common import CLIENT_ID, ORG_DOMAIN, SCREENSHOT_DIR, O365Case, TourBrowser, shared_emulator

ADMIN_UPN = f"olga_admin@{ORG_DOMAIN}"
USER_UPN = f"dana_org@{ORG_DOMAIN}"  # sorts before the administrator: the page preselects her

# Runs in every page the browser opens: on the emulator's admin consent page, pick the
# administrator's account among the tenant's users and accept.
PICK_ADMIN_AND_ACCEPT = """
document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("consent-form");
    const admin = form && form.querySelector(`input[name=login][value=${JSON.stringify(%s)}]`);
    if (admin) {
        admin.click();
        document.getElementById("accept").click();
    }
});
"""


class AdminConsentBrowser(TourBrowser):
    """The tours' browser (screenshots), accepting the admin consent page as the administrator.

    Odoo's test browser answers 404 to every request outside http://127.0.0.1; this one lets the
    emulator's HTTPS listener through (Microsoft's login service) and trusts its certificate."""

    def __init__(self, *args, **kwargs):
        # Not TourBrowser's own script: it would accept as whichever account is preselected.
        super(TourBrowser, self).__init__(*args, **kwargs)
        self._websocket_request("Security.setIgnoreCertificateErrors", params={"ignore": True})
        script = PICK_ADMIN_AND_ACCEPT % json.dumps(ADMIN_UPN)
        self._websocket_request("Page.addScriptToEvaluateOnNewDocument", params={"source": script})

    def _capture(self, name, clip):
        # As TourBrowser's, within the viewport: capturing beyond it resizes the page, and the settings
        # form re-renders at the new size, losing Test connection's check list.
        future = self._websocket_send(
            "Page.captureScreenshot",
            params={"format": "png", "captureBeyondViewport": False, "clip": dict(clip, scale=1)},
            with_future=True,
        )

        def save(done):
            SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
            (SCREENSHOT_DIR / f"{name}.png").write_bytes(base64.b64decode(done.result()["data"]))

        future.add_done_callback(save)

    def _handle_request_paused(self, **params):
        if params["request"]["url"].startswith(shared_emulator().base_url + "/"):
            return self._websocket_send("Fetch.continueRequest", params={"requestId": params["requestId"]})
        return super()._handle_request_paused(**params)


@tagged("post_install", "-at_install")
class TestTourOrganization(O365Case):
    browser_size = "1366x1500"  # the settings block and its check list fit in the viewport
    connection_mode = "user"  # the administrator switches to the organisation in the tour

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        state = cls.emulator.state
        state.add_user(ADMIN_UPN, display_name="Olga Admin", admin=True)
        state.add_user(USER_UPN, display_name="Dana Org", time_zone="Europe/Paris")
        cls.admin_user = new_test_user(
            cls.env, "olga_admin", groups="base.group_user,base.group_system", email=ADMIN_UPN, name="Olga Admin"
        )
        # Dana's login is her email, so she may start her own mailbox's sync (O1).
        cls.dana = new_test_user(
            cls.env,
            USER_UPN,
            groups="base.group_user,base.group_partner_manager",
            email=USER_UPN,
            name="Dana Org",
            tz="Europe/Paris",
        )
        cls.customer = cls.env["res.partner"].create(
            {"name": "Northwind Traders", "is_company": True, "email": "buyer@northwind.example"}
        )

    def setUp(self):
        super().setUp()
        # Nobody granted anything yet, in Microsoft 365 or as Odoo remembers it.
        self.emulator.state.revoke_admin_consent(CLIENT_ID)
        self.env["ir.config_parameter"].sudo().set_param("o365_calendar_sync.admin_consent", "")

    def _tour(self, url, tour, login):
        with patch.object(common, "ChromeBrowser", AdminConsentBrowser):
            self.start_tour(url, tour, login=login, timeout=120)

    def test_administrator_connects_the_organisation_and_a_user_syncs(self):
        """O1, S1: an administrator picks the organisation-wide connection and, without saving first
        (issue 23: one press saves and goes on), grants admin consent on Microsoft's page as a tenant
        administrator and sees every check of Test connection pass
        (application permissions, reading a mailbox); a user who never signs in presses Start Syncing
        in Preferences, is told which mailbox the organisation connected, and their To-Do reaches it."""
        self.assertFalse(self.emulator.state.app(CLIENT_ID).granted_roles)
        self._tour(
            "/odoo/action-o365_calendar_sync.action_o365_config_settings", "o365_organization_settings", "olga_admin"
        )
        self.env.invalidate_all()
        self.assertTrue(self.env["o365.config"].azure_app().organization)
        self.assertTrue(self.emulator.state.app(CLIENT_ID).granted_roles, "Accept on the page granted the roles")
        consent = self.env["ir.config_parameter"].sudo().get_param("o365_calendar_sync.admin_consent")
        self.assertIn("by olga_admin", consent)

        self._tour("/odoo", "o365_organization_start_sync", USER_UPN)
        self.env.invalidate_all()
        account = self.env["o365.sync.account"]._for_user(self.dana)
        self.assertEqual(
            (account.connection_state, account.sync_state, account.connected_by, account.mailbox_address),
            ("connected", "running", "organization", USER_UPN),
        )
        self.assertFalse(account.sudo().token_cache, "Dana never signed in")
        # Records of this test's transaction are dated at its start, before Start Syncing.
        account.sync_started_at = fields.Datetime.subtract(account.sync_started_at, hours=1)

        self._tour(f"/odoo/action-base.action_partner_form/{self.customer.id}", "o365_organization_todo", USER_UPN)
        todo = self.env["mail.activity"].search([("summary", "=", "Send the price list")])
        self.assertEqual(
            (todo.user_id, todo.activity_type_id), (self.dana, self.env.ref("mail.mail_activity_data_todo"))
        )
        self.env.flush_all()
        pusher.push_due(self.env)
        self.env.invalidate_all()
        self.assertEqual(todo.o365_sync_status, "synced")
        self.assertEqual(len(self.mailbox_events(USER_UPN, subject="Task: Send the price list")), 1)
        self.assertFalse(self.mailbox_events(ADMIN_UPN))
