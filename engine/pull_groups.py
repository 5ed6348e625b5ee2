"""Outlook -> Odoo: several mailboxes' pulls in one turn (SPEC E3, E7, B12).

A mailbox's pull, once notifications work, mostly continues its delta round and brings one
meeting. Done one mailbox at a time, what that costs is mostly per mailbox and per create:
a transaction, a lock, and Odoo's ``create`` of one meeting with its attendees, to-dos and
followers, several times dearer per record than in a batch (bench/engine_notes.md). The pull
job therefore gives the mailboxes that only continue their round to ``run_group`` in groups
(``PullRunner.due_work``, engine/importer.py): one transaction, one lock of their meetings
and contacts, one ``create`` of their new meetings. A mailbox that needs more (a new round,
a round longer than a page) falls back to its own turn; a Graph or sign-in failure is
recorded as its own turn records it.

``PullGroups`` is a mixin of ``Importer``: it uses the pull's ``env``, its page ingestion
(engine/pull_pages.py) and its own turn (``run_taken``).
"""

import logging
from collections import Counter
from datetime import timedelta

from odoo import fields

from ..utils.auth import AuthError
from ..utils.directory import contact_directory
from ..utils.graph_client import GraphError, is_sync_reset
from ..utils.locks import is_race, lock_contacts, lock_meetings
from ..utils.mappers.meeting import is_removed, page_addresses

_logger = logging.getLogger(__name__)

# Mailboxes whose pulls share a transaction and a create: their delta reads are made one after
# the other, so a group's last meeting waits for the others' reads.
PULL_GROUP = 20
# A delta page (Graph's odata.maxpagesize), for every round.
PAGE_SIZE = 100
# A new round (fresh window) once the stored window reaches less than this far ahead.
WINDOW_MIN_AHEAD = timedelta(days=330)


class PullGroups:
    """Several mailboxes' pulls in one turn (see the module docstring)."""

    def run_group(self, accounts):
        """One turn of several mailboxes whose only work is to continue their delta round: each
        one's delta page is read in turn, then all are ingested together and committed once,
        their new meetings logged by one ``create`` (a mailbox's pull mostly brings one meeting,
        and Odoo's create costs far less per record in a batch: bench/engine_notes.md). A mailbox
        that turns out to need more (a round longer than a page, a new round) gets its own turn
        (``run_taken``) after the group's; a Graph or sign-in failure is recorded as its own turn
        would (E6). Returns the outcome counters
        (pulled, echoes_dropped, echoes_waiting, raced)."""
        outcome = Counter()
        if not accounts or accounts[:1].sync_paused():
            return outcome
        Requests = self.env["o365.pull.request"].sudo()
        taken = []
        for account in accounts:
            echoes = Requests.settle_echoes(account)
            if echoes:
                outcome[f"echoes_{echoes}"] += 1
            else:
                taken.append((account, Requests.take(account)))
        self.commit()  # the taken rows, as in ``run``
        rounds, alone, unfinished = [], [], []
        for account, kinds in taken:
            if self.past_deadline():
                # One mailbox's read may take Graph's whole time-out: the run must still end well
                # before Odoo's cron time limit (engine/runner.py). The rest goes back in the queue.
                unfinished.append((account, kinds))
                continue
            if not kinds or not account.is_syncing():
                continue
            first_page = None
            if not kinds - {"pull", "safety"} and self.continues_round(account):
                try:
                    first_page = self.read_whole_round(account)
                except (AuthError, GraphError) as exc:
                    if not (isinstance(exc, GraphError) and is_sync_reset(exc)):
                        self.record_failure(account, exc)  # as its own turn would (E6)
                        continue
            if first_page:
                rounds.append((account, kinds, *first_page))
            else:
                alone.append((account, kinds))
        for account, kinds in unfinished:
            self.put_back(account, kinds)
        outcome["unfinished"] += len(unfinished)
        self.commit()  # what the reads changed: sign-ins (token caches), failures; the requests put back
        if rounds:
            try:
                with self.round_guard():
                    self.ingest_rounds(rounds)
                self.commit()
                outcome["pulled"] += len(rounds)
            except Exception as exc:  # pylint: disable=broad-except
                if is_race(exc):
                    if not self.own_transaction:
                        raise  # the caller's transaction is lost: its caller retries it
                    for account, kinds, *_round in rounds:
                        self.retry_after_race(account, kinds, exc)
                    outcome["raced"] += len(rounds)
                else:
                    # Not one event's data (those are skipped one by one, E6): a Graph or sign-in error,
                    # or a bug. Rolled back whole; each mailbox's own turn meets it and deals with it alone.
                    _logger.info(
                        "o365 accounts %s: pulling them together failed (%s); each on its own turn",
                        [account.id for account, *_round in rounds],
                        type(exc).__name__,
                    )
                    alone = [(account, kinds) for account, kinds, *_round in rounds] + alone
        for account, kinds in alone:
            if self.past_deadline():
                self.put_back(account, kinds)
                outcome["unfinished"] += 1
                self.commit()
                continue
            outcome["pulled"] += bool(self.run_taken(account, kinds))
        return outcome

    def continues_round(self, account):
        """True when the mailbox's next pull continues its stored delta round (no new round due)."""
        return bool(
            account.subscription_id
            and account.delta_link
            and account.delta_window_end
            and account.delta_window_end >= fields.Datetime.now() + WINDOW_MIN_AHEAD
        )

    def read_whole_round(self, account):
        """(client, events, deltaLink) when the continued round is one page; None when it is longer:
        the mailbox's own turn then reads it page by page. Raises Graph's or the sign-in's error."""
        client = account.graph_client()
        events, delta_link = next(client.calendar_view_delta(account.delta_link, page_size=PAGE_SIZE, time_zone="UTC"))
        return (client, events, delta_link) if delta_link else None

    def ingest_rounds(self, rounds):
        """Ingest the one-page rounds (account, kinds, client, events, deltaLink) of a group. Their
        meetings and contacts are locked first, all at once in the order of utils/locks.py, so two
        groups never wait for each other in a circle; new meetings are logged together, except
        that a meeting another mailbox of the group also holds is logged before that mailbox's
        page is read, so that it attaches to the record (B12)."""
        org_domains = self.env["o365.config"].org_domains()
        live = [event for _a, _k, _c, events, _d in rounds for event in events if not is_removed(event)]
        directory = contact_directory(self.env, page_addresses(live, org_domains))
        lock_meetings(self.env.cr, {event.get("iCalUId") for event in live})
        lock_contacts(self.env.cr, directory.contacts.values())
        pending, pending_uids = [], set()
        for account, _kinds, client, events, _delta_link in rounds:
            if pending_uids & {event.get("iCalUId") for event in events}:
                self.log_new_meetings(pending)
                pending, pending_uids = [], set()
            for item in self.collect_page(account, events, client, directory):
                pending.append((account, item))
                pending_uids.add(item[0].get("iCalUId"))
        if pending:
            self.log_new_meetings(pending)
        now = fields.Datetime.now()
        for account, kinds, _client, events, delta_link in rounds:
            values = {"delta_link": delta_link, "last_pull_at": now, "last_success_at": now, "last_error": False}
            if kinds == {"safety"} and events:
                _logger.info("o365 account %s: a safety pull found %s missed changes", account.id, len(events))
                values["notifications_missed_at"] = now
            account.write(values)
