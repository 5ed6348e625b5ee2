"""Outlook -> Odoo, step 5 of a pull turn (engine/importer.py): ingest a delta page (SPEC B1-B14, E4, E6).

Outlook changes of linked records go to the records' hooks (``_o365_apply_outlook_change``,
``_o365_apply_outlook_removal``), an occurrence of a series made in Odoo to that series
(A16), new meetings with customers are prepared and logged in one batch (B1-B14); an
event the data makes fail is skipped, never the page (E6).

``PullPages`` is a mixin of ``Importer``: it uses the pull's ``env``.
"""

import logging
from contextlib import contextmanager
from types import SimpleNamespace

import psycopg2

from ..utils.auth import AuthError
from ..utils.directory import contact_directory
from ..utils.graph_client import GraphError
from ..utils.graph_event import unreadable
from ..utils.locks import lock_contacts, lock_meetings
from ..utils.mappers.meeting import STICKY_REASONS, decide, is_cancelled, is_removed, page_addresses

_logger = logging.getLogger(__name__)


class PullPages:
    """What a delta page does, in a pull turn (``Importer`` in engine/importer.py)."""

    def ingest_page(self, account, page, client=None):
        """Apply one delta page (Graph event dicts); the per-page lookups are batched (links,
        exclusions, contacts), and its new meetings are logged in one batch."""
        new_meetings = self.collect_page(account, page, client)
        if new_meetings:
            self.log_new_meetings([(account, item) for item in new_meetings])

    def collect_page(self, account, page, client=None, directory=None):
        """Apply one delta page, except its new meetings with customers: returns what logging them
        takes (``_o365_prepare_log``), for ``log_new_meetings`` to create with others. The page's
        meetings and contacts stay locked until the transaction ends (utils/locks.py), so nobody
        logs them meanwhile. ``directory``: the page's contacts, when the caller read them with
        other pages'."""
        Link = self.env["o365.event.link"].sudo()
        ids = [e["id"] for e in page if e.get("id")]
        links = {
            lk.graph_event_id: lk
            for lk in Link.search([("account_id", "=", account.id), ("graph_event_id", "in", ids)])
        }
        org_domains = self.env["o365.config"].org_domains()
        unlinked = [e for e in page if e.get("id") not in links and not is_removed(e)]
        linked_live = [e for e in page if e.get("id") in links and not is_removed(e)]
        # Through the account's entry point: tests count its calls (tests/test_hostile_input.py).
        if directory is None:
            directory = contact_directory(self.env, page_addresses(unlinked + linked_live, org_domains))
        excluded = self.env["o365.event.exclusion"].sudo().excluded_ids(account, [e["id"] for e in unlinked])
        # An ERP create whose answer was lost is in Outlook but not linked yet: the
        # push's retry links it (same transactionId), so the pull leaves it alone.
        pushing = (
            self.env["o365.push.queue"]
            .sudo()
            .sent_creates(account, {e["transactionId"] for e in unlinked if e.get("transactionId")})
        )
        uids = list({e["iCalUId"] for e in unlinked if e.get("iCalUId")})
        copies = {}
        if uids:
            # B12, whatever the interleaving: "log it or attach to the record another mailbox
            # logged" is decided under the meeting's lock, held until this page commits; a pull
            # that waited for it reads that record (READ COMMITTED, utils/locks.py).
            lock_meetings(self.env.cr, uids)
            for lk in Link.search([("ical_uid", "in", uids), ("account_id", "!=", account.id)], order="id"):
                copies.setdefault(lk.ical_uid, lk)
        # The page's customers next (their to-dos' followers: two pulls adding the same user to the
        # same contact at once would insert that follower twice, and one would fail).
        lock_contacts(self.env.cr, directory.contacts.values())
        new_meetings = []  # prepared in the loop, created together after it
        for outlook_event in page:
            event_id = outlook_event.get("id")
            if not event_id:
                continue
            link = links.get(event_id)
            if is_removed(outlook_event):
                if link:
                    self.apply_outlook_removal(account, link, client)
                continue
            problem = unreadable(outlook_event)
            if problem:
                # Skipped, not fatal: one broken event must not stop the page (E6);
                # its next edit in Outlook brings it back.
                _logger.warning("o365 account %s: skipped Outlook event %s: %s", account.id, event_id, problem)
                continue
            with self.isolated(account, _logger.exception, "skipped Outlook event %s it could not apply", event_id):
                if link:
                    self.apply_outlook_change(account, link, outlook_event, directory)
                elif outlook_event.get("seriesMasterId") and (
                    series := self.series_made_in_odoo(account, outlook_event)
                ):
                    # One occurrence of a series made in Odoo (A16): applied to that occurrence if Outlook
                    # changed it alone; never logged as a meeting of its own (B5).
                    occurrence = series._o365_link_occurrence(account, outlook_event)
                    if occurrence:
                        self.apply_outlook_change(account, occurrence, outlook_event, directory)
                elif (
                    event_id not in excluded
                    and account.sync_events
                    and outlook_event.get("transactionId") not in pushing
                ):
                    to_log = self.prepare_new_meeting(account, outlook_event, directory, org_domains, copies)
                    if to_log:
                        new_meetings.append(to_log)
        return new_meetings

    def apply_outlook_change(self, account, link, outlook_event, directory):
        """A linked event changed in Outlook: the linked record applies it (its hooks)."""
        if outlook_event.get("changeKey") and outlook_event["changeKey"] == link.change_key:
            # E4: our own write read back, or a replay. What only Outlook knows about
            # our own push (a Teams join link, A14) is kept; nothing is pushed back.
            if link.origin == "odoo" and link.res_model == "calendar.event":
                meeting = self.env["calendar.event"].sudo().browse(link.res_id).exists()
                if meeting:
                    meeting._o365_pushed(account, outlook_event)
            return
        record = self.env[link.res_model].sudo().browse(link.res_id).exists()
        if not record:
            link.unlink()
            return
        if is_cancelled(outlook_event):
            # The organiser cancelled it: the whole meeting goes, whoever's copy told us.
            record._o365_apply_outlook_removal(link, cancelled=True)
            if link.exists():
                link.change_key = outlook_event.get("changeKey")
            return
        record._o365_apply_outlook_change(link, outlook_event, directory=directory)

    def series_made_in_odoo(self, account, outlook_event):
        """The calendar.recurrence whose Outlook series this occurrence belongs to (A16), or None."""
        master = (
            self.env["o365.event.link"]
            .sudo()
            .search(
                [
                    ("account_id", "=", account.id),
                    ("res_model", "=", "calendar.recurrence"),
                    ("graph_event_id", "=", outlook_event["seriesMasterId"]),
                ],
                limit=1,
            )
        )
        return self.env["calendar.recurrence"].sudo().browse(master.res_id).exists() if master else None

    def apply_outlook_removal(self, account, link, client):
        """A tombstone: deleted, or only moved out of the window (GRAPH_FACTS §2.1): ask Graph which."""
        record = self.env[link.res_model].sudo().browse(link.res_id).exists()
        if not record or self.env["o365.push.queue"].delete_asked(account, link.res_model, link.res_id):
            # Gone from Odoo, or Odoo's own delete read back (its answer may have been lost):
            # not the user's removal in Outlook (E4).
            link.unlink()
            return
        current = None
        if client is not None:
            try:
                current = client.get_event(link.graph_event_id)
            except GraphError as exc:
                if exc.status != 404:
                    raise
        if current and not is_cancelled(current):
            directory = contact_directory(self.env, page_addresses([current], self.env["o365.config"].org_domains()))
            self.apply_outlook_change(account, link, current, directory)
        else:
            record._o365_apply_outlook_removal(link)

    def prepare_new_meeting(self, account, outlook_event, directory, org_domains, copies):
        """The B pipeline for an event Odoo has no record of: the values of the meeting to log,
        or None (filtered out, or linked to the meeting another mailbox already logged)."""
        copy_of = copies.get(outlook_event.get("iCalUId"))
        if copy_of and copy_of.origin == "odoo":
            return None  # an ERP meeting's copy in an attendee's mailbox: the ERP side owns it
        ok, reason = decide(
            outlook_event,
            sync_started_at=account.sync_started_at,
            org_domains=org_domains,
            category_filter=account.category_filter(),
            known_contacts=set(directory.contacts),
        )
        if not ok:
            if reason in STICKY_REASONS:
                self.env["o365.event.exclusion"].sudo().exclude(account, outlook_event["id"], reason)
            return None
        Meeting = self.env["calendar.event"].sudo()
        if copy_of and copy_of.res_model == "calendar.event":
            meeting = Meeting.browse(copy_of.res_id).exists()
            if meeting:
                # B12: one meeting, one record; this mailbox's copy links to it.
                link = self.env["o365.event.link"].link_outlook_events(account, meeting, [outlook_event])
                meeting._o365_apply_outlook_change(link, outlook_event, directory=directory)
                return None
        return Meeting._o365_prepare_log(account, outlook_event, directory, org_domains)

    def log_new_meetings(self, entries):
        """Create new logged meetings, (account, prepared) each, in one batch (Odoo's create is far
        cheaper per record in a batch); if the batch fails, one by one, skipping what fails (E6)."""
        Meeting = self.env["calendar.event"].sudo()
        with self.isolated(
            entries[0][0], _logger.warning, "logging %s meetings at once failed; one by one", len(entries)
        ) as batch:
            Meeting._o365_log_from_outlook(entries)
        if batch.done:
            return
        for account, item in entries:
            with self.isolated(account, _logger.exception, "skipped Outlook event %s it could not log", item[0]["id"]):
                Meeting._o365_log_from_outlook([(account, item)])

    @contextmanager
    def isolated(self, account, log, message, *args):
        """Run the block under a savepoint; if the data makes it fail, roll it back and log it (E6).

        Graph, sign-in and database concurrency errors are not the data's fault:
        they propagate, and the whole round is retried. ``.done`` tells whether the
        block went through.
        """
        outcome = SimpleNamespace(done=False)
        try:
            with self.env.cr.savepoint():
                yield outcome
            outcome.done = True
        except (AuthError, GraphError, psycopg2.OperationalError):
            raise
        except Exception:  # pylint: disable=broad-except
            log("o365 account %s: " + message, account.id, *args)
