"""What happens to a mailbox when its Odoo side goes away (issue 22).

S9: a syncing user archived (or deleted) in Odoo stops syncing at once. O1: going back
from the organisation's connection to per-user sign-ins stops the mailboxes the
organisation connected at once.
"""

import time
from datetime import date

from odoo.tests import new_test_user, tagged

from ..engine import importer
from .common import ORG_DOMAIN, ButtonsMixin, PushCase


@tagged("post_install", "-at_install")
class TestDepartingUser(ButtonsMixin, PushCase):
    """S9: departing employees."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.boss = new_test_user(
            cls.env, "hal_admin", groups="base.group_user,base.group_system", email=f"hal_admin@{ORG_DOMAIN}"
        )
        cls.leaver = cls._push_user("lee_leaves")
        cls.leaver_upn = cls.leaver.email

    def setUp(self):
        super().setUp()
        account = self._account(self.leaver)
        # A live subscription for this test (the emulator outlives the rollback).
        importer.Importer(self.env).subscribe(account)
        self.subscription = account.subscription_id
        self.assertIn(self.subscription, self._subscription_ids())

    def _subscription_ids(self):
        return {s["id"] for s in self.emulator.state.list_subscriptions()}

    def _synced_task_and_a_waiting_one(self):
        synced = self.schedule(self.todo_type, "Already in Outlook", user=self.leaver, date_deadline=date(2031, 3, 3))
        self.run_push()
        self.assertTrue(self.link_of(synced, self.leaver))
        waiting = self.schedule(self.todo_type, "Not sent yet", user=self.leaver, date_deadline=date(2031, 3, 4))
        self.env.flush_all()
        self.assertTrue(self.queue_rows(waiting))
        return synced, waiting

    def test_archived_user_stops_syncing_at_once(self):
        """S9: an administrator archives a syncing user (Archive on the user, as the web client sends it):
        at once their account is stopped, its notifications refused, their waiting change dropped with a
        note on the account; the subscription goes in the background (the pull job), links stay, nothing is
        deleted in Outlook, and no Graph request touches the mailbox afterwards. Reactivating the user
        leaves the sync stopped."""
        synced, waiting = self._synced_task_and_a_waiting_one()
        self.emulator.state.clear_requests()
        self.authenticate("hal_admin", "hal_admin")
        self.call("res.users", "action_archive", [[self.leaver.id]])
        self.assertEqual(self.graph_requests(), [], "E1: archiving waits on no Graph request")

        self.env.invalidate_all()
        account = self._account(self.leaver)
        self.assertEqual(account.sync_state, "stopped")
        self.assertFalse(account.subscription_secret, "its notifications are refused from now on")
        self.assertEqual(account.subscription_to_remove, self.subscription)
        self.assertFalse(self.queue_rows(waiting), "the waiting change is dropped")
        self.assertIn("was archived in Odoo", account.last_error_words)
        self.assertIn("1 change(s) waiting for Outlook were dropped", account.last_error_words)
        self.assertTrue(self.link_of(synced, self.leaver), "links are kept")

        self.run_pull_job()
        self.assertNotIn(self.subscription, self._subscription_ids(), "the subscription is removed")
        self.assertEqual(
            [e["subject"] for e in self.mailbox_events(self.leaver_upn)],
            ["Task: Already in Outlook"],
            "nothing is deleted in Outlook, and the dropped change never arrives",
        )

        self.emulator.state.clear_requests()
        synced.write({"summary": "Edited after the user left"})
        self.run_push()
        self.run_pull_job()
        self.env["o365.sync.cron"]._cron_renew_subscriptions()
        self.run_pull_job()
        self.assertEqual(self.graph_requests(mailbox=self.leaver_upn), [], "no Graph request for the mailbox")

        self.call("res.users", "action_unarchive", [[self.leaver.id]])
        self.env.invalidate_all()
        self.assertEqual(self._account(self.leaver).sync_state, "stopped", "reactivating does not resume sync")
        self.run_pull_job()
        self.assertEqual(self.graph_requests(mailbox=self.leaver_upn), [])

    def test_deleted_user_stops_syncing_first(self):
        """S9: deleting a syncing user stops their sync and drops their waiting change before their account
        goes with them: no Graph request for their mailbox afterwards, nothing deleted in Outlook."""
        self._synced_task_and_a_waiting_one()
        account = self._account(self.leaver)
        self.emulator.state.clear_requests()
        self.leaver.unlink()
        self.assertFalse(account.exists())
        self.assertFalse(self.queue_rows().filtered(lambda row: not row.account_id.exists()))
        self.run_push()
        self.run_pull_job()
        self.assertEqual(self.graph_requests(mailbox=self.leaver_upn), [])
        self.assertEqual(len(self.mailbox_events(self.leaver_upn)), 1, "nothing is deleted in Outlook")
        # Their sign-in went with the account: the subscription is deleted right after the deletion
        # commits, with a token taken before (what the test transaction's commit would run).
        self.assertIn(self.subscription, self._subscription_ids())
        self.env.cr.postcommit.run()
        self.assertNotIn(self.subscription, self._subscription_ids())
        self.assertEqual(len(self.mailbox_events(self.leaver_upn)), 1, "nothing is deleted in Outlook")


@tagged("post_install", "-at_install")
class TestBackToPerUserSignIns(ButtonsMixin, PushCase):
    """O1: the administrator switches from the organisation's connection back to per-user sign-ins."""

    connection_mode = "organization"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.boss = new_test_user(
            cls.env, "ida_admin", groups="base.group_user,base.group_system", email=f"ida_admin@{ORG_DOMAIN}"
        )

    def test_saving_per_user_mode_stops_the_organisations_mailboxes_at_once(self):
        """O1, S7: saving Settings with per-user sign-ins stops, in that save, every mailbox the
        organisation connected: its tab says to connect their own account (one notice), its notifications
        are refused, its subscription is removed in the background with the application's token, and its
        waiting change waits for the user's own sign-in; no Graph request is made for it meanwhile."""
        account = self._account(self.alice)
        self.assertEqual((account.connected_by, account.connection_state), ("organization", "connected"))
        importer.Importer(self.env).subscribe(account)
        subscription = account.subscription_id
        self.schedule(self.todo_type, "Waits for her own sign-in", date_deadline=date(2031, 4, 4))
        self.env.flush_all()
        self.emulator.state.clear_requests()

        self.authenticate("ida_admin", "ida_admin")
        settings_id = self.call("res.config.settings", "create", [{"o365_connection_mode": "user"}])
        self.button("res.config.settings", "execute", [settings_id])
        self.assertEqual(self.graph_requests(), [], "E1: the save waits on no Graph request")

        self.env.invalidate_all()
        account = self._account(self.alice)
        self.assertEqual(account.connection_state, "reconnect")
        self.assertIn("no longer connects your Microsoft 365 mailbox", account.last_error_words)
        self.assertEqual(len(self.notices(self.alice)), 1)
        self.assertEqual(self.alice.with_user(self.alice).o365_health_state, "reconnect")
        self.assertFalse(account.subscription_secret, "its notifications are refused from now on")
        self.assertEqual(account.subscription_to_remove, subscription)

        self.run_pull_job()
        self.assertNotIn(subscription, {s["id"] for s in self.emulator.state.list_subscriptions()})
        self.assertFalse(self._account(self.alice).subscription_to_remove)
        self.emulator.state.clear_requests()
        self.run_push()
        self.assertEqual(self.graph_requests(), [], "nothing is asked until she connects her own account")
        [row] = self.queue_rows()
        self.assertEqual((row.state, row.attempts), ("pending", 0), "her change waits, nothing is lost")


@tagged("post_install", "-at_install")
class TestUninstall(PushCase):
    """Uninstalling the module: Graph stops notifying an address that no longer answers."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ulla = cls._push_user("ulla_uninstall")

    def test_uninstall_hook_removes_subscriptions_within_a_bound(self):
        """Issue 22 (uninstall), E7: the module's uninstall hook deletes every Graph subscription it made,
        best effort and bounded in time: a mailbox whose Graph hangs costs at most the per-request timeout
        (its subscription is left to expire), the others are removed, and nothing in Outlook is deleted."""
        from odoo.addons.o365_calendar_sync.hooks import uninstall_hook

        subscriptions = {}
        for user in (self.alice, self.ulla):
            account = self._account(user)
            importer.Importer(self.env).subscribe(account)
            subscriptions[user] = account.subscription_id
        self.schedule(self.todo_type, "Stays in Outlook", date_deadline=date(2031, 5, 5))
        self.run_push()
        self.assertEqual(len(self.mailbox_events(self.alice_upn)), 1)
        self.emulator.state.add_fault(kind="latency", latency_ms=30000, mailbox=self.ulla.email)

        started = time.monotonic()
        uninstall_hook(self.env)
        elapsed = time.monotonic() - started

        self.assertLess(elapsed, 15, "bounded: one hanging mailbox costs at most its 5 s request timeout")
        left = {s["id"] for s in self.emulator.state.list_subscriptions()}
        self.assertNotIn(subscriptions[self.alice], left, "removed")
        self.assertIn(subscriptions[self.ulla], left, "left to expire by itself")
        self.assertEqual(len(self.mailbox_events(self.alice_upn)), 1, "nothing is deleted in Outlook")
