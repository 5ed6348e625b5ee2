"""Delta rounds: paging, token expiry in the middle of changes, echo rule, locking (SPEC E3, E4, E6, B14)."""

from datetime import UTC, datetime, timedelta
from unittest.mock import patch

from graph_emulator.events import to_immutable
from odoo.tests import tagged

from ..engine import importer
from .common import CUSTOMER, ORG_DOMAIN, PullCase


@tagged("post_install", "-at_install")
class TestPullDelta(PullCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls._connected_user("alice_d6", tz="Europe/London")
        cls.alice_upn = f"alice_d6@{ORG_DOMAIN}"

    def test_paging_with_maxpagesize(self):
        """E3: the pull asks for small pages (Prefer odata.maxpagesize), follows nextLinks and keeps the deltaLink."""
        for n in range(5):
            self.outlook_create(self.alice_upn, f"Paged {n}", attendees=[f"carol@{CUSTOMER}"])
        self.emulator.state.clear_requests()
        with patch.object(importer, "PAGE_SIZE", 2):
            self.run_pull_cron()
        self.assertEqual(self.delta_reads(), 3, "5 changes in pages of 2")
        self.assertEqual(len(self.env["calendar.event"].search([("name", "=like", "Paged %")])), 5)
        self.assertIn("$deltatoken=", self.account(self.alice).sudo().delta_link)

    def test_token_expiry_in_the_middle_of_changes(self):
        """E3, B14: a 410 SyncStateNotFound while paging restarts cleanly: no duplicate, no lost update or deletion."""
        keep = self.outlook_create(self.alice_upn, "Keep me", attendees=[f"carol@{CUSTOMER}"])
        gone = self.outlook_create(self.alice_upn, "Delete me", attendees=[f"carol@{CUSTOMER}"])
        for n in range(3):
            self.outlook_create(self.alice_upn, f"Filler {n}", attendees=[f"carol@{CUSTOMER}"])
        self.run_pull_cron()
        kept, deleted = self.meeting_of(self.alice, keep), self.meeting_of(self.alice, gone)
        self.assertTrue(kept and deleted)
        # Changes arrive while the token dies halfway through the next round's pages.
        self.outlook_update(self.alice_upn, keep["id"], {"location": {"displayName": "New room"}})
        self.outlook_delete(self.alice_upn, gone["id"])
        fresh = self.outlook_create(self.alice_upn, "Brand new", attendees=[f"carol@{CUSTOMER}"])
        for n in range(3):
            self.outlook_update(
                self.alice_upn,
                self.mailbox_events(self.alice_upn, subject=f"Filler {n}")[0]["id"],
                {"location": {"displayName": f"F{n}"}},
            )
        original = importer.Importer.ingest_page
        pages = []

        def ingest_then_expire(self_, account, page, client=None):
            pages.append(len(page))
            result = original(self_, account, page, client)
            if len(pages) == 1:
                self.emulator.state.expire_delta_tokens(self.alice_upn)
            return result

        self.emulator.state.clear_requests()
        with (
            patch.object(importer, "PAGE_SIZE", 2),
            patch.object(importer.Importer, "ingest_page", ingest_then_expire),
        ):
            self.run_pull_cron()
        statuses = self.emulator.state.request_stats()["byStatus"]
        self.assertEqual(statuses.get("410"), 1, "the token died mid-round")
        self.assertFalse(self.account(self.alice).last_error)
        self.assertEqual(kept.location, "New room")
        self.assertFalse(deleted.active, "the deletion was not lost")
        self.assertTrue(self.meeting_of(self.alice, fresh))
        for subject in ("Keep me", "Brand new", "Filler 0", "Filler 1", "Filler 2"):
            self.assertEqual(len(self.logged_meetings(subject)), 1, f"{subject}: one record")

    def test_reset_with_location_resyncs(self):
        """E3: a service-side reset (410 with Location) also leads to a clean new round."""
        ev = self.outlook_create(self.alice_upn, "Before reset", attendees=[f"carol@{CUSTOMER}"])
        self.run_pull_cron()
        self.emulator.state.expire_delta_tokens(self.alice_upn, mode="reset")
        self.outlook_update(self.alice_upn, ev["id"], {"location": {"displayName": "After reset"}})
        self.run_pull_cron()
        self.assertEqual(self.meeting_of(self.alice, ev).location, "After reset")
        self.assertEqual(len(self.logged_meetings("Before reset")), 1)
        self.assertFalse(self.account(self.alice).last_error)

    def test_echo_and_contract_dispatch(self):
        """E4: a version already known (same changeKey) is skipped; ERP-owned links go to the record's own methods."""
        Meeting = type(self.env["calendar.event"])
        start = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(days=4)
        erp = self.env["calendar.event"].create(
            {"name": "ERP meeting", "start": start, "stop": start + timedelta(hours=1)}
        )
        ev = self.outlook_create(self.alice_upn, "ERP meeting", start=start, attendees=[f"carol@{CUSTOMER}"])
        account = self.account(self.alice)
        # As if the outbound push had created it (issue 5): link with origin odoo and the changeKey it saw.
        self.env["o365.event.link"].sudo().create(
            {
                "account_id": account.id,
                "res_model": "calendar.event",
                "res_id": erp.id,
                "graph_event_id": to_immutable(ev["id"]),  # the id form Odoo asks Graph for
                "ical_uid": ev["iCalUId"],
                "change_key": ev["changeKey"],
                "origin": "odoo",
            }
        )
        with (
            patch.object(Meeting, "_o365_apply_outlook_change", autospec=True) as change,
            patch.object(Meeting, "_o365_apply_outlook_removal", autospec=True) as removal,
        ):
            self.run_pull_cron()
            self.assertFalse(change.called, "our own version read back: no write (echo)")
            self.assertEqual(len(self.logged_meetings("ERP meeting")), 1, "not logged a second time")
            moved = self.outlook_update(self.alice_upn, ev["id"], {"location": {"displayName": "Moved"}})
            self.run_pull_cron()
            self.assertEqual(change.call_count, 1)
            _record, link, event = change.call_args.args
            link = self.env["o365.event.link"].browse(link.id)  # the job's cursor is closed by now
            self.assertEqual((link.origin, event["changeKey"]), ("odoo", moved["changeKey"]))
            self.outlook_delete(self.alice_upn, ev["id"])
            self.run_pull_cron()
            self.assertEqual(removal.call_count, 1)

    def test_locked_account_is_skipped(self):
        """E6: when another worker holds the mailbox's pull lock, this run leaves its queued pull alone,
        and the next run does it. (The lock itself, across real connections, is proven by the push's
        concurrency tests: inside this test every cursor shares one transaction.)"""
        account = self.account(self.alice)
        self.outlook_create(self.alice_upn, "Locked out", attendees=[f"carol@{CUSTOMER}"])
        self.delivered()
        self.emulator.state.clear_requests()
        with patch.object(importer, "mailbox_session_lock", return_value=False):
            self.run_pull_job()
        self.assertEqual(self.delta_reads(), 0)
        self.assertTrue(self.pending_pulls(account), "the queued pull waits for the next run")
        self.run_pull_cron()
        self.assertTrue(self.logged_meetings("Locked out"))

    def test_failure_reported_and_others_continue(self):
        """E6, S3: one mailbox failing shows in its sync status and does not stop the pull of other users."""
        bob = self._connected_user("bob_d6", tz="Europe/London")
        bob_upn = f"bob_d6@{ORG_DOMAIN}"
        self.outlook_create(self.alice_upn, "Alice ok", attendees=[f"carol@{CUSTOMER}"])
        self.outlook_create(bob_upn, "Bob fails", attendees=[f"carol@{CUSTOMER}"])
        self.delivered()
        self.emulator.state.add_fault(status=503, mailbox=bob_upn, path_contains="calendarView", count=1)
        self.run_pull_cron()
        self.assertTrue(self.logged_meetings("Alice ok"))
        self.assertIn("Reading your Outlook calendar failed", self.account(bob).last_error)
        self.assertTrue(self.pending_pulls(self.account(bob)), "transient failure: the pull is queued again")
        self.run_pull_cron()
        self.assertTrue(self.logged_meetings("Bob fails"))
        self.assertFalse(self.account(bob).last_error)

    def test_passing_412_read_again_as_the_push_retries_it(self):
        """E6, E2 (issue 24): Graph's passing 412 on a delta read (GRAPH_FACTS §1.3: seen even
        on plain GETs) passes by itself for the pull as it does for the push: the pull is queued again
        and the next run logs the meeting. Before issue 24 the pull took it as final."""
        self.outlook_create(self.alice_upn, "After a 412", attendees=[f"carol@{CUSTOMER}"])
        self.delivered()
        self.emulator.state.add_fault(status=412, mailbox=self.alice_upn, path_contains="calendarView", count=1)
        self.run_pull_cron()
        self.assertFalse(self.logged_meetings("After a 412"))
        self.assertTrue(self.pending_pulls(self.account(self.alice)), "transient: the pull is queued again")
        self.run_pull_cron()
        self.assertTrue(self.logged_meetings("After a 412"))


class TestPullDeltaOrganization(TestPullDelta):
    """O2: the same tests, with the mailboxes connected by the organisation's application."""

    connection_mode = "organization"
