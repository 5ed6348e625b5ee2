"""Hostile input (issue 8): what Outlook, Graph or a forger sends is rejected or sanitised,
with a clear log line, and nobody else's sync suffers.

Graph's own validation refuses some of these shapes (10,000 attendees, unparsable
dates, unknown properties), so they are injected into the emulator's store or its
rendering, and still reach Odoo over the real delta pull.
"""

import json
import logging
import time
from contextlib import contextmanager
from datetime import timedelta
from unittest.mock import patch

from graph_emulator import events as emulator_events
from graph_emulator.events import to_immutable
from odoo.tests import tagged

from ..controllers import notifications
from ..engine import pull_pages
from ..utils.graph_event import GraphEvent
from .common import CUSTOMER, ORG_DOMAIN, PullCase

INBOUND_LOGGER = "odoo.addons.o365_calendar_sync"
NOTIFY = "/o365_calendar_sync/notifications"
MEGABYTE = 1024 * 1024


@tagged("post_install", "-at_install")
class TestHostileInput(PullCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls._connected_user("alice_h8h", tz="Europe/London")
        cls.bob = cls._connected_user("bob_h8h", tz="Europe/London")
        cls.alice_upn = f"alice_h8h@{ORG_DOMAIN}"
        cls.bob_upn = f"bob_h8h@{ORG_DOMAIN}"

    # -- helpers ---------------------------------------------------------------------

    @contextmanager
    def graph_renders(self, tamper):
        """Let ``tamper(rendered_event)`` change the JSON Graph sends (what its API would refuse to store)."""
        real = emulator_events.render

        def render(ev, prefs, base_url):
            out = real(ev, prefs, base_url)
            tamper(out)
            return out

        with patch.object(emulator_events, "render", render):
            yield

    def stored_event(self, upn, event_id):
        """The emulator's stored dict of an event (to inject what the API would refuse)."""
        return next(ev for ev in self.emulator.state.mailbox(upn).events.values() if ev["id"] == event_id)

    def logged(self, subject):
        return self.logged_meetings(subject)

    # -- Outlook bodies (B8, A3) -------------------------------------------------------

    def test_scripts_in_outlook_body_and_subject_are_sanitised(self):
        """B8, B1, issue 8: scripts, event handlers, javascript: links and iframes in an Outlook body are
        stripped from the logged meeting's description; a subject made of markup is escaped on the contact's
        timeline; nothing executable is stored."""
        body = (
            "<p>Agenda</p><script>alert('body')</script>"
            "<img src=x onerror=\"alert('img')\"><a href=\"javascript:alert('link')\">click</a>"
            "<iframe src='https://evil.example'></iframe><svg onload=alert(1)></svg>"
            "<style>body{display:none}</style><p style='background:url(javascript:alert(1))'>styled</p>"
        )
        subject = "<img src=x onerror=alert('subject')>Quote"
        ev = self.outlook_create(
            self.alice_upn, subject, attendees=[f"carol@{CUSTOMER}"], body={"contentType": "html", "content": body}
        )
        self.run_pull_cron()
        meeting = self.meeting_of(self.alice, ev)
        self.assertTrue(meeting, "the meeting is logged, only its markup is cleaned")
        description = str(meeting.description).lower()
        self.assertIn("agenda", description)
        for bad in ("<script", "onerror", "javascript:", "<iframe", "onload", "<style", "alert("):
            self.assertNotIn(bad, description)
        notes = self.carol.message_ids.filtered(lambda m: f"calendar.event/{meeting.id}" in (m.body or ""))
        self.assertTrue(notes)
        self.assertNotIn("<img", str(notes[0].body), "the subject is text on the timeline, never markup")

    def test_megabyte_body_handled(self):
        """B8, issue 8: a 1 MB Outlook body (HTML and plain text) is logged without a crash, sanitised,
        within a bounded time; the other events of the page are logged too."""
        chunk = "<p>Long minutes <b>bold</b> <script>alert(1)</script></p>\n"
        html_body = chunk * (MEGABYTE // len(chunk) + 1)
        text_body = "<script>alert(2)</script> plain line\n" * (MEGABYTE // 36 + 1)
        self.assertGreater(len(html_body), MEGABYTE)
        big_html = self.outlook_create(
            self.alice_upn,
            "Huge html minutes",
            attendees=[f"carol@{CUSTOMER}"],
            body={"contentType": "html", "content": html_body},
        )
        big_text = self.outlook_create(
            self.alice_upn,
            "Huge text minutes",
            attendees=[f"carol@{CUSTOMER}"],
            body={"contentType": "text", "content": text_body},
        )
        small = self.outlook_create(self.alice_upn, "Small one", attendees=[f"dave@{CUSTOMER}"])
        started = time.monotonic()
        self.run_pull_cron()
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, 60, "a megabyte body is bounded work")
        for ev in (big_html, big_text, small):
            self.assertTrue(self.meeting_of(self.alice, ev), ev["subject"])
        for ev in (big_html, big_text):
            description = str(self.meeting_of(self.alice, ev).description)
            self.assertNotIn("<script", description)
            self.assertIn("minutes" if ev is big_html else "plain line", description)
        self.assertFalse(self.account(self.alice).last_error)

    # -- what Graph sends that its API would refuse (broken dates, unknown fields) -------------

    def test_broken_dates_skip_one_event_rest_of_page_processed(self):
        """B1, E6, issue 8: an event whose start or end cannot be parsed is skipped with a clear log line;
        the rest of the page is logged, the delta round completes, and another user's sync is unaffected."""
        good_before = self.outlook_create(self.alice_upn, "Good before", attendees=[f"carol@{CUSTOMER}"])
        broken_start = self.outlook_create(self.alice_upn, "Broken start", attendees=[f"carol@{CUSTOMER}"])
        broken_end = self.outlook_create(self.alice_upn, "Broken end", attendees=[f"carol@{CUSTOMER}"])
        no_start = self.outlook_create(self.alice_upn, "No start", attendees=[f"carol@{CUSTOMER}"])
        good_after = self.outlook_create(self.alice_upn, "Good after", attendees=[f"dave@{CUSTOMER}"])
        bob_event = self.outlook_create(self.bob_upn, "Bob unaffected", attendees=[f"carol@{CUSTOMER}"])

        def tamper(out):
            if out.get("subject") == "Broken start":
                out["start"] = {"dateTime": "2026-02-30T25:61:00.0000000", "timeZone": "UTC"}
            elif out.get("subject") == "Broken end":
                out["end"] = {"dateTime": "not a date", "timeZone": "Mars/Olympus"}
            elif out.get("subject") == "No start":
                out.pop("start", None)

        with self.graph_renders(tamper), self.assertLogs(INBOUND_LOGGER, "WARNING") as logs:
            self.run_pull_cron()
        for ev in (good_before, good_after):
            self.assertTrue(self.meeting_of(self.alice, ev), f"{ev['subject']}: the rest of the page is processed")
        self.assertTrue(self.meeting_of(self.bob, bob_event), "another user's sync is unaffected")
        for ev in (broken_start, broken_end, no_start):
            self.assertFalse(self.logged(ev["subject"]), f"{ev['subject']} is skipped")
        text = "\n".join(logs.output)
        self.assertIn(to_immutable(broken_start["id"]), text, "the log line names the skipped event")
        account = self.account(self.alice)
        self.assertTrue(account.delta_link, "the delta round completed")
        # Fixed in Outlook later: the event is logged then.
        self.outlook_update(self.alice_upn, broken_start["id"], {"location": {"displayName": "Fixed"}})
        self.run_pull_cron()
        self.assertTrue(self.meeting_of(self.alice, broken_start))

    def test_meeting_odoo_refuses_is_skipped_rest_of_page_logged(self):
        """B1, E6, issue 8: when Odoo refuses one new meeting of a page (here its end before its start),
        the page's other meetings are still logged, the refused one is named in the log, and the delta
        round completes."""
        first = self.outlook_create(self.alice_upn, "Fine one", attendees=[f"carol@{CUSTOMER}"])
        refused = self.outlook_create(self.alice_upn, "Refused one", attendees=[f"carol@{CUSTOMER}"])
        last = self.outlook_create(self.alice_upn, "Fine two", attendees=[f"dave@{CUSTOMER}"])
        Meeting = type(self.env["calendar.event"])
        real_prepare = Meeting._o365_prepare_log

        def prepare(meeting, account, event, directory, org_domains):
            prepared = real_prepare(meeting, account, event, directory, org_domains)
            if event["subject"] == "Refused one":
                prepared[2]["stop"] = prepared[2]["start"] - timedelta(hours=1)
            return prepared

        with patch.object(Meeting, "_o365_prepare_log", prepare), self.assertLogs(INBOUND_LOGGER, "WARNING") as logs:
            self.run_pull_cron()
        self.assertTrue(self.meeting_of(self.alice, first))
        self.assertTrue(self.meeting_of(self.alice, last))
        self.assertFalse(self.logged("Refused one"))
        self.assertIn(to_immutable(refused["id"]), "\n".join(logs.output), "the log names the skipped event")
        self.assertTrue(self.account(self.alice).delta_link, "the delta round completed")

    def test_unknown_graph_properties_ignored(self):
        """B1, B8, issue 8: properties Graph adds in the future (on the event, its dates, attendees,
        location, body) are ignored; the meeting is logged as usual."""
        ev = self.outlook_create(
            self.alice_upn,
            "Future Graph",
            attendees=[f"carol@{CUSTOMER}"],
            location={"displayName": "Room 7"},
            body={"contentType": "html", "content": "<p>Hello</p>"},
        )

        def tamper(out):
            if out.get("subject") == "Future Graph":
                out["quantumEntanglement"] = {"level": 11, "nested": [1, {"deep": None}]}
                out["start"]["precisionHint"] = "attoseconds"
                out["attendees"][0]["holographic"] = True
                out["attendees"][0]["emailAddress"]["pronouns"] = "they"
                out["location"]["floorPlan"] = {"x": 1}
                out["body"]["renderer"] = "v9"
                out["categories"] = ["Customers", {"odd": "category object"}, None]
                out["sensitivity"] = "somethingNew"

        with self.graph_renders(tamper):
            self.run_pull_cron()
        meeting = self.meeting_of(self.alice, ev)
        self.assertTrue(meeting)
        self.assertEqual(meeting.location, "Room 7")
        self.assertIn(self.carol, meeting.partner_ids)
        self.assertIn("Hello", str(meeting.description))
        self.assertFalse(self.account(self.alice).last_error)

    # -- attendees (B2) -----------------------------------------------------------------

    def test_ten_thousand_attendees_bounded(self):
        """B2, issue 8: an event with 10,000 attendees (beyond Graph's own 500) is logged without a crash,
        within a bounded time, with the contact lookup still one query per page; only real contacts attend."""
        ev = self.outlook_create(self.alice_upn, "Mass webinar", attendees=[f"carol@{CUSTOMER}"])
        other = self.outlook_create(self.alice_upn, "Same page", attendees=[f"dave@{CUSTOMER}"])
        crowd = [
            {
                "type": "required",
                "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                "emailAddress": {"name": f"Guest {n}", "address": f"guest{n}@crowd{n % 97}.example"},
            }
            for n in range(10_000)
        ]
        crowd[5_000]["emailAddress"]["address"] = f"DAVE@{CUSTOMER.upper()}"
        with self.emulator.state.lock:
            stored = self.stored_event(self.alice_upn, ev["id"])
            stored["attendees"] = stored["attendees"] + crowd
        lookups = []
        real_directory = pull_pages.contact_directory

        def counting_directory(env, addresses):
            lookups.append(len(addresses))
            return real_directory(env, addresses)

        started = time.monotonic()
        with patch.object(pull_pages, "contact_directory", counting_directory):
            self.run_pull_cron()
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, 60)
        meeting = self.meeting_of(self.alice, ev)
        self.assertTrue(meeting)
        self.assertEqual(set(meeting.partner_ids.ids), {self.alice.partner_id.id, self.carol.id, self.dave.id})
        self.assertTrue(self.meeting_of(self.alice, other))
        self.assertEqual(len(lookups), 1, "one contact query for the whole page")
        self.assertGreaterEqual(lookups[0], 10_000)

    def test_odd_case_and_unicode_addresses_match(self):
        """B2, B3, issue 8: attendee addresses in odd case, with a display name wrapped around them, padded,
        or with Unicode characters match the contact (and the internal user) after normalisation; no contact
        is created."""
        jurgen = self.env["res.partner"].create({"name": "Jürgen Müller", "email": "Jürgen.Müller@Kunde.example"})
        zoe = self.env["res.partner"].create({"name": "Zoë", "email": "ZOE@Ünïcode-Kunde.example"})
        partners = self.env["res.partner"].search_count([])
        ev = self.outlook_create(
            self.alice_upn,
            "Odd addresses",
            attendees=[
                "Jürgen.Müller@KUNDE.EXAMPLE",
                "zoe@ünïcode-kunde.example",
                f"  CaRoL@{CUSTOMER.upper()}  ",
                f"BOB_H8H@{ORG_DOMAIN.upper()}",
            ],
        )
        with self.emulator.state.lock:
            stored = self.stored_event(self.alice_upn, ev["id"])
            stored["attendees"].append(
                {
                    "type": "required",
                    "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                    "emailAddress": {"name": "Dave", "address": f'"Dave Client" <Dave@{CUSTOMER}>'},
                }
            )
        self.run_pull_cron()
        meeting = self.meeting_of(self.alice, ev)
        self.assertTrue(meeting)
        self.assertEqual(
            set(meeting.partner_ids.ids),
            {self.alice.partner_id.id, self.bob.partner_id.id, jurgen.id, zoe.id, self.carol.id, self.dave.id},
        )
        self.assertEqual(set(meeting.activity_ids.user_id.ids), {self.alice.id, self.bob.id}, "Bob is internal")
        self.assertEqual(self.env["res.partner"].search_count([]), partners, "Odoo never creates contacts")

    def test_unicode_local_part_in_other_case_matches(self):
        """B2, issue 8: a Unicode local part written in another case still matches the contact."""
        jurgen = self.env["res.partner"].create({"name": "Jürgen Groß", "email": "jürgen.groß@kunde.example"})
        ev = self.outlook_create(self.alice_upn, "Unicode case", attendees=["JÜRGEN.GROß@KUNDE.EXAMPLE"])
        self.run_pull_cron()
        meeting = self.meeting_of(self.alice, ev)
        self.assertTrue(meeting)
        self.assertIn(jurgen, meeting.partner_ids)

    # -- forged and malformed notifications (E3; what tests/test_notifications.py does not cover) ----

    def _post(self, data, headers=None):
        self.env.flush_all()
        return self.url_open(NOTIFY, data=data, headers={"Content-Type": "application/json", **(headers or {})})

    def test_flood_of_unknown_subscriptions_is_one_log_line(self):
        """E7, issue 27 item 3: one 1 MB request of ~14,000 items with unknown subscription ids is refused
        with one log line, not one per item (the review counted 13,795 lines for one request)."""
        item = {"subscriptionId": "00000000-0000-0000-0000-000000000000", "clientState": "x"}
        body = json.dumps({"value": [item] * 13_795}, separators=(",", ":")).encode()
        self.assertLess(len(body), MEGABYTE)
        # logging.INFO, not "INFO": Odoo names its RUNBOT level (25) "INFO" too.
        with self.assertLogs(notifications._logger, logging.INFO) as logs:
            answer = self._post(body)
        self.assertEqual(answer.status_code, 403)
        self.assertEqual(len(logs.output), 1, logs.output[:3])
        self.assertIn("ignored 13795 notification(s) for an unknown subscription", logs.output[0])

    def test_refused_requests_are_rate_limited(self):
        """E7, issue 27 item 3: an address that keeps sending refused notifications is answered 429 (with
        Retry-After) without its body being read, logged once when it trips the limit; others go on."""
        forged = json.dumps({"value": [{"subscriptionId": "unknown", "clientState": "x"}]}).encode()
        alice = self.account(self.alice).sudo()
        genuine = json.dumps(
            {"value": [{"subscriptionId": alice.subscription_id, "clientState": alice.subscription_secret}]}
        ).encode()
        with patch.object(notifications.refusals, "limit", 5):
            with self.assertLogs(notifications._logger, "WARNING") as logs:
                statuses = [self._post(forged).status_code for _ in range(5)]
                statuses += [self._post(b"not json").status_code, self._post(forged).status_code]
            self.assertEqual(statuses, [403] * 5 + [429, 429])
            self.assertEqual(len([line for line in logs.output if "answering 429" in line]), 1)
            answer = self._post(genuine)
            self.assertEqual(answer.status_code, 429, "the whole address waits out the window")
            self.assertEqual(answer.headers["Retry-After"], "60")
            self.assertFalse(self.env["o365.pull.request"].sudo().search([("account_id", "=", alice.id)]))
            notifications.refusals.clear()  # the window is over
            self.assertEqual(self._post(genuine).status_code, 202)

    def test_embedded_elements_keep_the_text_around_them(self):
        """B8, issue 27: sanitising an Outlook body removes <object>, <embed> and their kin but keeps the
        text around and inside them (an unclosed <embed> used to swallow the rest of the body)."""
        body = (
            "<p>Agenda</p><object data='x.swf'><param name='a' value='b'>Fallback text</object>"
            "<p>after object</p><embed src='y.swf'><p>after embed</p><iframe src='https://evil.example'>"
            "<p>after iframe</p>"
        )
        html = GraphEvent({"id": "x", "body": {"contentType": "html", "content": body}}).description_html
        for text in ("Agenda", "Fallback text", "after object", "after embed", "after iframe"):
            self.assertIn(text, html)
        for tag in ("<object", "<embed", "<param", "<iframe", "swf", "evil.example"):
            self.assertNotIn(tag, html)

    def test_malformed_notification_bodies(self):
        """E3, issue 8: deeply nested JSON, non-object items, a JSON list or string, wrong types of fields,
        an empty body and a huge forged batch are answered 400/403 with a reason and queue nothing;
        each forged item is logged, and Alice's genuine notification in a mixed batch is the only effect."""
        Request = self.env["o365.pull.request"].sudo()
        Request.search([]).unlink()
        alice, bob = self.account(self.alice).sudo(), self.account(self.bob).sudo()
        cases = [
            (b'{"value": [1, "two", null]}', 400),
            (b'[{"subscriptionId": "x"}]', 400),
            (b'"just a string"', 400),
            (b"   ", 400),
            (b'{"value": {"subscriptionId": "x"}}', 400),
            (json.dumps({"value": [{"subscriptionId": 42, "clientState": ["x"]}]}).encode(), 403),
            (json.dumps({"value": [{"subscriptionId": alice.subscription_id, "clientState": 7}]}).encode(), 403),
        ]
        for data, status in cases:
            with self.subTest(body=data[:40]):
                answer = self._post(data)
                self.assertEqual(answer.status_code, status, answer.text[:200])
                self.assertTrue(answer.text.strip(), "the answer says what is wrong")
        forged = [{"subscriptionId": alice.subscription_id, "clientState": f"guess-{n}"} for n in range(2_000)]
        started = time.monotonic()
        with self.assertLogs("odoo.addons.o365_calendar_sync.controllers.notifications", "WARNING") as logs:
            answer = self._post(json.dumps({"value": forged}).encode())
        self.assertEqual(answer.status_code, 403)
        self.assertLess(time.monotonic() - started, 3, "refused well within Graph's 3 s")
        self.assertIn("wrong clientState", logs.output[0])
        self.assertEqual(len(logs.output), 1, "one line per request, not one per forged item (issue 27)")
        self.assertIn("ignored 2000 notification(s) with a wrong clientState", logs.output[0])
        self.assertEqual(Request.search_count([]), 0)
        # Mixed batch: Bob's item is forged (Alice's secret), Alice's is genuine.
        mixed = [
            {"subscriptionId": bob.subscription_id, "clientState": alice.subscription_secret},
            {"subscriptionId": alice.subscription_id, "clientState": alice.subscription_secret},
        ]
        with self.assertLogs("odoo.addons.o365_calendar_sync.controllers.notifications", "WARNING"):
            answer = self._post(json.dumps({"value": mixed}).encode())
        self.assertEqual(answer.status_code, 202)
        self.assertEqual(Request.search([]).account_id, alice, "only the genuine item has an effect")

    def test_recursion_bomb_notification_answers_400(self):
        """E3, issue 8: deeply nested JSON (a recursion bomb well under 1 MB) is answered 400, not 500."""
        Request = self.env["o365.pull.request"].sudo()
        Request.search([]).unlink()
        answer = self._post(b"[" * 50_000 + b"]" * 50_000)
        self.assertEqual(Request.search_count([]), 0, "nothing queued")
        self.assertEqual(answer.status_code, 400)

    def test_notification_after_stop_is_refused(self):
        """E3, S4, issue 8: a notification replayed with a subscription's old clientState after Stop Syncing
        queues nothing (the secret is gone with the subscription)."""
        account = self.account(self.alice).sudo()
        old = {"subscriptionId": account.subscription_id, "clientState": account.subscription_secret}
        account._stop_sync()
        self.env["o365.pull.request"].sudo().search([]).unlink()
        answer = self._post(json.dumps({"value": [old]}).encode())
        self.assertEqual(answer.status_code, 403)
        self.assertFalse(self.env["o365.pull.request"].sudo().search_count([]))


class TestHostileInputOrganization(TestHostileInput):
    """O2: the same tests, with the mailboxes connected by the organisation's application."""

    connection_mode = "organization"
