"""The webhook controller and the subscription lifecycle (SPEC E3), over real HTTP."""

import json
import time
from datetime import timedelta

from graph_emulator.events import to_immutable
from odoo import fields, sql_db
from odoo.tests import tagged

from ..utils.locks import PUSH_LOCK_CLASS
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
        account, _activity, _link = self._pushed_task("Echo check")
        self.assertEqual(self.pending_pulls(account), 0)
        self.assertGreaterEqual(self.delivered(), 1, "Graph announced the event Odoo created")
        self.assertEqual(self.pending_pulls(account), 0, "Odoo's own write is not read back")

        (raw,) = [e for e in self.emulator.state.events_raw(self.alice_upn) if "Echo check" in e["subject"]]
        self.outlook_update(self.alice_upn, raw["id"], {"subject": "Echo check, renamed in Outlook"})
        self.assertGreaterEqual(self.delivered(), 1)
        self.assertEqual(self.pending_pulls(account), 1, "a change made in Outlook is pulled")

    def _task(self, summary):
        """A new task of alice on Carol."""
        return self.env["mail.activity"].create(
            {
                "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                "res_id": self.carol.id,
                "activity_type_id": self.env.ref("mail.mail_activity_data_todo").id,
                "summary": summary,
                "user_id": self.alice.id,
            }
        )

    def _pushed_task(self, summary):
        """A new task of alice pushed to Outlook; its link holds the changeKey Odoo wrote."""
        account = self.account(self.alice)
        account.sync_started_at = fields.Datetime.now() - timedelta(hours=1)  # the activity is new (S3)
        activity = self._task(summary)
        self.run_push()
        link = self.link_of(activity, self.alice)
        self.assertTrue(link.change_key)
        return account, activity, link

    def _hold_push_lock(self, account):
        """A push of ``account``'s mailbox in flight on another connection (another worker); let go of
        by ``_let_go``."""
        cr = sql_db.db_connect(self.env.cr.dbname).cursor()
        cr.execute("SELECT pg_try_advisory_lock(%s, %s)", [PUSH_LOCK_CLASS, account.id])
        self.assertTrue(cr.fetchone()[0])
        return cr

    def _let_go(self, cr):
        cr.execute("SELECT pg_advisory_unlock_all()")
        cr.close()

    def test_echo_notified_before_the_push_commits_is_dropped_without_a_read(self):
        """E3, E4: Graph's notification about the event another worker's push just created reaches the
        controller before that push has committed its changeKey. The pull it queues waits while that push holds
        the mailbox, then is dropped without a Graph read once the changeKey is Odoo's own. A change made in
        Outlook afterwards is still read. Before, each such echo cost a delta read, during the push
        (bench/engine_notes.md)."""
        account = self.account(self.alice)
        activity = self._task("Early echo")
        push = self._hold_push_lock(account)
        try:
            # What the push in flight did so far: Graph made the event (and announces it); the link that
            # will hold its changeKey is not committed yet.
            event = self.outlook_create(self.alice_upn, "Early echo")
            link = self.env["o365.event.link"].create(
                {
                    "account_id": account.id,
                    "res_model": "mail.activity",
                    "res_id": activity.id,
                    "graph_event_id": to_immutable(event["id"]),
                    "origin": "odoo",
                }
            )
            self.assertGreaterEqual(self.delivered(), 1, "Graph announced the event")
            self.assertEqual(self.pending_pulls(account), 1, "not Odoo's own write as far as the controller can tell")
            self.emulator.state.clear_requests()
            stats = self.run_pull_job()
            self.assertEqual(stats["echoes_waiting"], 1, stats)
            self.assertEqual(self.pending_pulls(account), 1, "the pull waits for the push in flight")
            # The push settles: its changeKey is on the link, and it lets go of the mailbox.
            link.change_key = event["changeKey"]
        finally:
            self._let_go(push)
        stats = self.run_pull_job()
        self.assertEqual(stats["echoes_dropped"], 1, stats)
        self.assertEqual(self.pending_pulls(account), 0)
        self.assertEqual(self.delta_reads(), 0, "Odoo's own write is never read back")

        renamed = self.outlook_update(self.alice_upn, event["id"], {"subject": "Early echo, renamed in Outlook"})
        self.delivered()
        stats = self.run_pull_job()
        self.assertEqual(stats["pulled"], 1, stats)
        self.assertGreaterEqual(self.delta_reads(), 1)
        self.assertEqual(link.change_key, renamed["changeKey"], "the change made in Outlook was read")

    def test_push_of_another_database_is_not_waited_for(self):
        """E3, E4: PostgreSQL shows every database's advisory locks (a staging copy on the same server, S8): a
        push holding the same mailbox number in another database is not this mailbox's push, and the pull is
        not held back by it."""
        account = self.account(self.alice)
        self.env["o365.pull.request"].sudo().enqueue(account.ids, echo_keys={account.id: [("event-x", "key-x")]})
        other = sql_db.db_connect("postgres").cursor()
        try:
            other.execute("SELECT pg_try_advisory_lock(%s, %s)", [PUSH_LOCK_CLASS, account.id])
            self.assertTrue(other.fetchone()[0])
            self.assertIsNone(self.env["o365.pull.request"].sudo().settle_echoes(account), "read, not waiting")
        finally:
            self._let_go(other)

    def test_echo_whose_push_never_recorded_it_is_read(self):
        """E3, E4, E6: a notified version no push recorded (its answer was lost, the worker died) is read once no
        push holds the mailbox: nothing made in Outlook is ever dropped as an echo."""
        account, _activity, link = self._pushed_task("Lost answer")
        link.change_key = "an-older-version"
        self.delivered()
        self.assertEqual(self.pending_pulls(account), 1)
        self.emulator.state.clear_requests()
        stats = self.run_pull_job()
        self.assertEqual(stats["pulled"], 1, stats)
        self.assertGreaterEqual(self.delta_reads(), 1)
        self.assertEqual(self.pending_pulls(account), 0)

    def test_pull_with_any_plain_notification_is_read(self):
        """E3: possible echoes only spare the read when every notification behind the pull is one; a deletion
        (no changeKey) or a notification without an etag makes the pending pull a plain one, whichever came
        first."""
        account = self.account(self.alice)
        Requests = self.env["o365.pull.request"].sudo()
        Requests.enqueue(account.ids, echo_keys={account.id: [("event-a", "key-1")]})
        Requests.enqueue(account.ids, echo_keys={account.id: [("event-b", "key-2")]})
        (row,) = Requests.search([("account_id", "=", account.id)])
        self.assertEqual(row.echo_keys, [["event-a", "key-1"], ["event-b", "key-2"]])
        Requests.enqueue(account.ids)  # e.g. a deletion
        row.invalidate_recordset()
        self.assertFalse(row.echo_keys)
        Requests.enqueue(account.ids, echo_keys={account.id: [("event-c", "key-3")]})
        row.invalidate_recordset()
        self.assertFalse(row.echo_keys, "a plain pending pull stays plain")
        self.assertEqual(Requests.search_count([("account_id", "=", account.id)]), 1)
        self.assertIsNone(Requests.settle_echoes(account))
        Requests.take(account)
        Requests.enqueue(account.ids, echo_keys={account.id: [(f"event-{n}", "key") for n in range(201)]})
        (row,) = Requests.search([("account_id", "=", account.id)])
        self.assertFalse(row.echo_keys, "too many notified versions: the mailbox is simply read")

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
