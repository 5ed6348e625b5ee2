"""The webhook controller and the subscription lifecycle (SPEC E3), over real HTTP."""

import json
import time
from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from .common import CUSTOMER, ORG_DOMAIN, PullCase

ROUTE = "/o365_calendar_sync/notifications"


@tagged("post_install", "-at_install")
class TestNotifications(PullCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls._connected_user("alice_n6", tz="Europe/London")
        cls.alice_upn = f"alice_n6@{ORG_DOMAIN}"

    def post(self, body, path=ROUTE, raw=False):
        data = body if raw else json.dumps(body).encode()
        self.env.flush_all()  # the controller reads through its own cursor
        return self.url_open(path, data=data, headers={"Content-Type": "application/json"}, timeout=10)

    def notification(self, **overrides):
        account = self.account(self.alice).sudo()
        item = {
            "subscriptionId": account.subscription_id,
            "clientState": account.subscription_secret,
            "changeType": "created",
            "resource": "Users/x/Events/y",
        }
        item.update(overrides)
        return {"value": [item]}

    def triggers(self):
        cron = self.env.ref("o365_calendar_sync.ir_cron_o365_pull")
        return self.env["ir.cron.trigger"].sudo().search_count([("cron_id", "=", cron.id)])

    def test_validation_handshake(self):
        """E3: the validation token is echoed, URL-decoded, as text/plain 200 (POST as Graph does, and GET)."""
        answer = self.url_open(ROUTE + "?validationToken=Validation%3A%20Testing%20client", data=b"", timeout=10)
        self.assertEqual(answer.status_code, 200)
        self.assertEqual(answer.text, "Validation: Testing client")
        self.assertTrue(answer.headers["Content-Type"].startswith("text/plain"))
        answer = self.url_open(ROUTE + "/lifecycle?validationToken=abc", timeout=10)
        self.assertEqual((answer.status_code, answer.text), (200, "abc"))

    def test_valid_notification_queues_pull_fast(self):
        """E3: a genuine notification is acknowledged with 202 well under 3 s and only queues a pull (no Graph call)."""
        self.emulator.state.clear_requests()
        started = time.monotonic()
        answer = self.post(self.notification())
        elapsed = time.monotonic() - started
        self.assertEqual(answer.status_code, 202)
        self.assertLess(elapsed, 1.0)
        self.assertEqual(self.pending_pulls(self.account(self.alice)), 1)
        self.assertEqual(self.emulator.state.request_stats()["total"], 0, "no Graph call inside the request")

    def test_echo_of_odoo_own_write_queues_no_pull(self):
        """E3, E4: the notification about the event version Odoo itself just wrote (its etag is the changeKey the
        link holds) queues no pull; a change made in Outlook to the same event does. Before, every pushed event
        cost its mailbox a delta read, in the same cron workers as the push (bench/engine_notes.md)."""
        account = self.account(self.alice)
        account.sync_started_at = fields.Datetime.now() - timedelta(hours=1)  # the activity is new (S3)
        activity = self.env["mail.activity"].create(
            {
                "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                "res_id": self.carol.id,
                "activity_type_id": self.env.ref("mail.mail_activity_data_todo").id,
                "summary": "Echo check",
                "user_id": self.alice.id,
            }
        )
        self.run_push()
        link = self.link_of(activity, self.alice)
        self.assertTrue(link.change_key)
        self.assertEqual(self.pending_pulls(account), 0)
        self.assertGreaterEqual(self.delivered(), 1, "Graph announced the event Odoo created")
        self.assertEqual(self.pending_pulls(account), 0, "Odoo's own write is not read back")

        (raw,) = [e for e in self.emulator.state.events_raw(self.alice_upn) if "Echo check" in e["subject"]]
        self.outlook_update(self.alice_upn, raw["id"], {"subject": "Echo check, renamed in Outlook"})
        self.assertGreaterEqual(self.delivered(), 1)
        self.assertEqual(self.pending_pulls(account), 1, "a change made in Outlook is pulled")

    def test_forged_notifications_have_no_effect(self):
        """E3: wrong clientState, unknown subscription, malformed JSON or an oversized body: clear status, no effect."""
        triggers = self.triggers()
        cases = [
            (self.post(self.notification(clientState="guess")), 403),
            (self.post(self.notification(subscriptionId="00000000-0000-0000-0000-000000000000")), 403),
            (self.post(self.notification(clientState=None)), 403),
            (self.post(b"{not json", raw=True), 400),
            (self.post({"value": "nope"}), 400),
            (self.post(b"\xff\xfe", raw=True), 400),
            (self.post(b'{"value": [{"clientState": "' + b"x" * (1024 * 1024 + 10) + b'"}]}', raw=True), 413),
        ]
        for answer, status in cases:
            self.assertEqual(answer.status_code, status, answer.text)
            self.assertTrue(answer.text, "the answer says what is wrong")
        self.assertEqual(self.pending_pulls(), 0)
        self.assertEqual(self.triggers(), triggers)

    def test_notification_storm_bounded_pulls(self):
        """E3: hundreds of notifications for one user make one queued pull and a bounded number of Graph reads."""
        account = self.account(self.alice)
        for n in range(150):
            self.outlook_create(self.alice_upn, f"Storm {n}", attendees=[f"carol@{CUSTOMER}"])
        self.delivered()
        # Forged-free extra burst straight at the controller, as Graph's retries would look.
        for _n in range(150):
            self.assertEqual(self.post(self.notification()).status_code, 202)
        log = self.emulator.state.notification_log
        self.assertTrue(all(e["delivered"] for e in log))
        self.assertTrue(all(a["seconds"] < 3 for e in log for a in e["attempts"]), "each answer under 3 s")
        self.assertEqual(self.pending_pulls(account), 1, "one pending pull however many notifications")
        self.emulator.state.clear_requests()
        self.run_pull_cron()
        delta_reads = self.delta_reads()
        self.assertLessEqual(delta_reads, 3, "150 changes = 2 pages of 100")
        self.assertEqual(len(self.env["calendar.event"].search([("name", "=like", "Storm %")])), 150)
        self.assertEqual(self.pending_pulls(account), 0)

    def test_lifecycle_reauthorization_renews(self):
        """E3: reauthorizationRequired renews the subscription, then catches up with a pull."""
        account = self.account(self.alice).sudo()
        sub_id = account.subscription_id
        before = next(s for s in self.emulator.state.list_subscriptions() if s["id"] == sub_id)
        self.emulator.state.trigger_lifecycle(sub_id, "reauthorizationRequired")
        self.delivered()
        self.assertEqual(self.pending_pulls(account), 2)
        self.emulator.state.clear_requests()
        self.run_pull_cron()
        renewals = [r for r in self.graph_requests() if r["method"] == "PATCH" and sub_id in r["path"]]
        self.assertEqual([r["status"] for r in renewals], [200], "renewed once")
        after = next(s for s in self.emulator.state.list_subscriptions() if s["id"] == sub_id)
        self.assertGreaterEqual(after["expirationDateTime"], before["expirationDateTime"])

    def test_lifecycle_subscription_removed_recreates(self):
        """E3: subscriptionRemoved makes a new subscription (validated again) and a catch-up pull."""
        account = self.account(self.alice).sudo()
        old = account.subscription_id
        self.emulator.state.trigger_lifecycle(old, "subscriptionRemoved")
        self.delivered()
        self.run_pull_cron()
        self.assertNotEqual(account.subscription_id, old)
        ids = {s["id"] for s in self.emulator.state.list_subscriptions()}
        self.assertIn(account.subscription_id, ids)
        self.assertNotIn(old, ids)
        self.assertFalse(account.last_error)

    def test_lifecycle_missed_full_resync(self):
        """E3: 'missed' notifications lead to a full delta round (a new window), without duplicates."""
        ev = self.outlook_create(self.alice_upn, "Missed one", attendees=[f"carol@{CUSTOMER}"])
        self.drop_held_notifications()  # Graph lost the change notification
        account = self.account(self.alice).sudo()
        account.delta_window_end = fields.Datetime.now() + timedelta(days=340)
        self.emulator.state.trigger_lifecycle(account.subscription_id, "missed")
        self.delivered()
        self.run_pull_cron()
        self.assertGreater(account.delta_window_end, fields.Datetime.now() + timedelta(days=360), "a new round")
        meeting = self.meeting_of(self.alice, ev)
        self.assertTrue(meeting)
        self.assertEqual(len(self.logged_meetings("Missed one")), 1)

    def test_subscription_refused_is_made_again_by_the_safety_net(self):
        """E3, E7: a subscription Graph refused (429 at Start) is not left for the 6-hourly renewal: the
        mailbox's safety-net pull, due every 15 minutes without a subscription, makes it again."""
        account = self.account(self.alice).sudo()
        self.emulator.state.add_fault(status=429, method="POST", path_contains="/subscriptions", count=1)
        self.env["o365.pull.request"].enqueue(account.ids, "recreate")
        self.run_pull_job()
        self.assertFalse(account.subscription_id)
        self.assertIn("could not be set up", account.last_error)
        account.last_pull_at = fields.Datetime.now() - timedelta(minutes=16)
        self.run_pull_job()
        self.assertTrue(account.subscription_id, "made again by the next safety-net pull")
        self.assertFalse(account.last_error)

    def test_safety_net_pull_without_notification(self):
        """E3, E7: the periodic pull catches a change whose notification never came; having found one,
        it reads that mailbox every 15 minutes for a while instead of every 6 hours."""
        ev = self.outlook_create(self.alice_upn, "Silent change", attendees=[f"carol@{CUSTOMER}"])
        self.drop_held_notifications()
        account = self.account(self.alice).sudo()
        account.last_pull_at = fields.Datetime.now() - timedelta(hours=8)
        self.run_pull_job()
        self.assertTrue(self.meeting_of(self.alice, ev))
        self.assertTrue(account.notifications_missed_at, "missed notifications are noticed")
        account.last_pull_at = fields.Datetime.now() - timedelta(minutes=20)
        self.emulator.state.clear_requests()
        self.run_pull_job()
        self.assertEqual(self.delta_reads(), 1, "pulled again after 15 minutes")

    def test_idle_mailbox_with_notifications_is_read_rarely(self):
        """E7: while change notifications work, an idle mailbox is not read every 15 minutes: its
        safety-net read comes after 6 hours; without a live subscription, after 15 minutes."""
        account = self.account(self.alice).sudo()
        self.emulator.state.clear_requests()
        account.last_pull_at = fields.Datetime.now() - timedelta(hours=2)
        self.run_pull_job()
        self.assertEqual(self.delta_reads(), 0, "notifications work: no read after 2 hours")
        account.last_pull_at = fields.Datetime.now() - timedelta(hours=7, minutes=1)
        self.run_pull_job()
        self.assertEqual(self.delta_reads(), 1, "one read after 7 hours")
        account.write({"subscription_id": False, "last_pull_at": fields.Datetime.now() - timedelta(minutes=16)})
        self.emulator.state.clear_requests()
        self.run_pull_job()
        self.assertEqual(self.delta_reads(), 1, "no subscription: polled every 15 minutes")

    def test_renewal_cron_and_failure_in_status(self):
        """E3, S3: the cron renews a subscription close to expiry; a failure shows in the user's sync status."""
        account = self.account(self.alice).sudo()
        account.subscription_expires_at = fields.Datetime.now() + timedelta(hours=2)
        self.env["o365.sync.cron"]._cron_renew_subscriptions()  # queues the renewal for the pull job
        self.run_pull_job()
        self.assertGreater(account.subscription_expires_at, fields.Datetime.now() + timedelta(days=2))
        # The application's /subscriptions requests name no mailbox (O2): the fault takes any.
        mailbox = None if self.connection_mode == "organization" else self.alice_upn
        self.emulator.state.add_fault(
            status=503, mailbox=mailbox, method="PATCH", path_contains="/subscriptions", count=1
        )
        account.subscription_expires_at = fields.Datetime.now() + timedelta(hours=2)
        self.env["o365.sync.cron"]._cron_renew_subscriptions()
        self.run_pull_job()
        self.assertIn("could not be renewed", account.last_error)


class TestNotificationsOrganization(TestNotifications):
    """O2: the same tests, with the mailboxes connected by the organisation's application."""

    connection_mode = "organization"
