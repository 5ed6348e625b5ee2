"""Issue 15, SPEC S3, S7 in a real browser: the record badge, Retry on a failed push, and the
administrators' health view. Tours: static/tests/tours/o365_sync_health_tour.js.

With O365_SCREENSHOTS=1 they also save static/description/screenshots/*.png.
"""

from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import common, new_test_user, tagged

from ..engine import pusher
from ..utils.graph_client import GraphClient
from .common import O365Case, TourBrowser


@tagged("post_install", "-at_install")
class TestTourHealth(O365Case):
    browser_size = "1366x900"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tom = cls._connected_user("tom_tour")
        cls.tom.write({"name": "Tom Tour", "groups_id": [(4, cls.env.ref("base.group_partner_manager").id)]})
        account = cls.env["o365.sync.account"]._for_user(cls.tom)
        account.sync_started_at = fields.Datetime.now() - timedelta(hours=1)  # records of this transaction are newer
        cls.customer = cls.env["res.partner"].create(
            {"name": "Northwind Traders", "is_company": True, "email": "buyer@northwind.example"}
        )
        cls.admin_user = new_test_user(
            cls.env, "ada_health", groups="base.group_user,base.group_system", email="ada@contoso.example"
        )

    def _tour(self, url, tour, login):
        with patch.object(common, "ChromeBrowser", TourBrowser):
            self.start_tour(url, tour, login=login, timeout=120)

    def _push(self):
        self.env.flush_all()
        pusher.push_due(self.env)
        self.env.invalidate_all()

    def _activity_url(self, activity):
        return f"/odoo/action-mail.mail_activity_action/{activity.id}"

    def test_salesperson_schedules_a_call_and_sees_it_on_outlook(self):
        """S3, A1: a salesperson schedules a call on a customer from the chatter (Start and End in the
        dialog); after the push job ran, the activity says "On Outlook"."""
        self._tour(f"/odoo/action-base.action_partner_form/{self.customer.id}", "o365_schedule_call", "tom_tour")
        call = self.env["mail.activity"].search([("summary", "=", "Discuss the offer")])
        self.assertEqual(len(call), 1)
        self.assertEqual(call.o365_sync_status, "waiting")
        self._push()
        self.assertEqual(call.o365_sync_status, "synced")
        self.assertTrue(self.mailbox_events("tom_tour@contoso.example", subject="Phone Call: Discuss the offer"))
        self._tour(self._activity_url(call), "o365_activity_on_outlook", "tom_tour")
        self._tour("/odoo/calendar", "o365_calendar_indicator", "tom_tour")

    def test_failed_push_shows_plain_words_and_retry(self):
        """S3, E2: a push Outlook refused shows "Failed" and plain words on the activity, with Retry."""
        call = self.env["mail.activity"].create(
            {
                "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                "res_id": self.customer.id,
                "activity_type_id": self.env.ref("mail.mail_activity_data_call").id,
                "summary": "Refused by Outlook",
                "user_id": self.tom.id,
            }
        )
        refusal = {"error": {"code": "ErrorInvalidRequest", "message": "Your request is invalid."}}

        def refuse(_client, requests_):
            return {r["id"]: {"status": 400, "headers": {}, "body": refusal} for r in requests_}

        with patch.object(GraphClient, "batch", refuse):
            self._push()
        self.assertEqual(call.o365_sync_status, "failed")
        self._tour(self._activity_url(call), "o365_failed_push_retry", "tom_tour")
        row = self.env["o365.push.queue"].sudo().search([("res_model", "=", "mail.activity"), ("res_id", "=", call.id)])
        self.assertEqual(row.state, "pending")

    def test_admin_stops_a_user_from_the_health_view(self):
        """S7: an administrator opens the health view and stops one user's sync."""
        una = self._connected_user("una_health", start_sync=True)
        self.env["o365.sync.account"]._for_user(una).write(
            {
                "connection_state": "reconnect",
                "last_error": "Reconnect needed. Microsoft 365 no longer accepts your sign-in "
                "(it expired, was revoked, or consent was withdrawn).\n\nDetails: invalid_grant",
            }
        )
        self._connected_user("sam_health", start_sync=False)
        self.env["mail.activity"].create(
            {
                "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                "res_id": self.customer.id,
                "activity_type_id": self.env.ref("mail.mail_activity_data_todo").id,
                "summary": "Waiting for the push",
                "user_id": self.tom.id,
            }
        )
        self._tour("/odoo/action-o365_calendar_sync.action_o365_sync_account", "o365_admin_health", "ada_health")
        self.env.invalidate_all()
        self.assertEqual(self.env["o365.sync.account"]._for_user(self.tom).sync_state, "stopped")
