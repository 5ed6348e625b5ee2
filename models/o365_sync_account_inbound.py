"""Outlook -> Odoo: webhook subscription, queued delta pulls, page ingestion (SPEC B, E3, E4)."""

import logging
import secrets
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import psycopg2

from odoo import api, fields, models
from odoo.tools import SQL

from ..engine.runner import (
    PULL_CRON_XMLIDS,
    PULL_LOCK_CLASS,
    SHARDS,
    PullRunner,
    mailbox_lock,
    run_again_soon,
    run_time_budget,
)
from ..utils import event_filters
from ..utils.auth import AuthError
from ..utils.email_domains import is_internal
from ..utils.graph_client import GraphError
from ..utils.meeting_mapping import Directory, unreadable

_logger = logging.getLogger(__name__)

SYSTEM_ONLY = "base.group_system"
NOTIFICATION_ROUTE = "/o365_calendar_sync/notifications"
LIFECYCLE_ROUTE = "/o365_calendar_sync/notifications/lifecycle"
# Under the legacy 4,230-minute cap (facts §3.1) so either service generation accepts it.
SUBSCRIPTION_MINUTES = 4200
RENEW_BEFORE = timedelta(hours=36)
PAGE_SIZE = 100
WINDOW_BEFORE_START = timedelta(days=1)
WINDOW_AHEAD = timedelta(days=365)
# A new round (fresh window) once the stored window reaches less than this far ahead.
WINDOW_MIN_AHEAD = timedelta(days=330)
# The safety net: a syncing account not pulled for this long is pulled by the cron. While
# its change notifications work, a few reads a day are enough (SPEC E7: an idle mailbox
# costs a handful of Graph requests a day); without a live subscription, or when a safety
# pull found changes no notification had announced, it is polled every 15 minutes.
SAFETY_PULL_AFTER = timedelta(minutes=15)
SAFETY_PULL_AFTER_NOTIFIED = timedelta(hours=6)
MISSED_NOTIFICATIONS_MEMORY = timedelta(days=1)
RESET_CODES = frozenset({"syncstatenotfound", "resyncrequired"})


def _is_sync_reset(error):
    """410 Gone / SyncStateNotFound / resyncRequired: the delta token is dead, start a new round."""
    return error.status == 410 or (error.code or "").lower() in RESET_CODES


class O365SyncAccount(models.Model):
    _inherit = "o365.sync.account"

    delta_window_end = fields.Datetime(groups=SYSTEM_ONLY, copy=False)
    # A subscription Stop or Disconnect left for the pull job to remove (S4: they
    # never wait on Graph in the user's request).
    subscription_to_remove = fields.Char(groups=SYSTEM_ONLY, copy=False)
    last_pull_at = fields.Datetime("Last Outlook Pull", readonly=True, copy=False)
    notifications_missed_at = fields.Datetime(
        readonly=True, copy=False, help="A safety-net pull found changes that no change notification announced."
    )

    # -- lifecycle hooks (S3, S4) -------------------------------------------------------

    def _on_sync_started(self):
        """Queue the subscription and the first pull for the pull job, after commit.

        Creating a subscription makes Graph call our notification URL back before
        it answers; done inside the Start Syncing request, that request would wait
        on Graph, and a notification could arrive before the secret is committed.
        """
        result = super()._on_sync_started()
        for account in self:
            account.sudo().write({"delta_link": False, "delta_window_end": False})
            account._o365_request("recreate")
        return result

    def _on_sync_stopped(self):
        """Forget the subscription here; the pull job removes it from Graph after commit (S4).

        Its secret goes now, so a notification it still brings is refused at once
        and queues nothing.
        """
        result = super()._on_sync_stopped()
        for account in self:
            account = account.sudo()
            values = {
                "subscription_id": False,
                "subscription_secret": False,
                "subscription_expires_at": False,
                "delta_link": False,
                "delta_window_end": False,
            }
            if account.subscription_id:
                values["subscription_to_remove"] = account.subscription_id
            account.write(values)
            self.env["o365.pull.request"].sudo().search([("account_id", "=", account.id)]).unlink()
            if account.subscription_to_remove:
                account._o365_wake_pull()
        return result

    def _on_disconnected(self):
        """Keep the tokens only until the pull job has removed the subscription with them."""
        pending = self.sudo().filtered("subscription_to_remove")
        return super(O365SyncAccount, self - pending)._on_disconnected()

    def _on_mailbox_forgotten(self):
        """Another mailbox: the old one's subscription cannot be removed with the new sign-in."""
        result = super()._on_mailbox_forgotten()
        self.sudo().write({"subscription_to_remove": False, "delta_link": False, "delta_window_end": False})
        return result

    def _o365_remove_old_subscription(self):
        """Remove the subscription Stop or Disconnect left (S4); forget the tokens of a disconnected account.

        A passing failure keeps it for the next run; anything else drops it (it
        expires by itself within three days, SUBSCRIPTION_MINUTES).
        """
        self.ensure_one()
        account = self.sudo()
        state = account.connection_state
        if account.subscription_to_remove and (account.token_cache or account.connected_by == "organization"):
            try:
                with self.env.cr.savepoint():
                    self._graph_client().delete_subscription(account.subscription_to_remove)
            except GraphError as exc:
                if exc.transient and state != "disconnected":
                    _logger.info("o365 account %s: subscription not removed yet (%s)", account.id, exc)
                    return False
                if exc.status != 404:
                    _logger.info("o365 account %s: subscription left to expire (%s)", account.id, exc)
            except AuthError as exc:
                _logger.info("o365 account %s: subscription left to expire (%s)", account.id, exc)
        values = {"subscription_to_remove": False}
        if state == "disconnected":
            values.update({"token_cache": False, "connection_state": "disconnected"})
        account.write(values)
        return True

    # -- subscriptions (E3) -------------------------------------------------------------

    def _o365_notification_urls(self):
        base = self.env["o365.config"]._public_base_url()
        return base + NOTIFICATION_ROUTE, base + LIFECYCLE_ROUTE

    def _o365_report_error(self, what, exc):
        """Plain words in the user's sync status; never a token (S5)."""
        message = f"{what}: {exc}"
        _logger.warning("o365 account %s: %s", self.id, message)
        self.sudo().write({"last_error": message})

    def _o365_subscribe(self):
        """Create the change-notification subscription (replacing any previous one)."""
        self.ensure_one()
        account = self.sudo()
        notify_url, lifecycle_url = self._o365_notification_urls()
        secret = secrets.token_urlsafe(32)
        try:
            client = self._graph_client()
            if account.subscription_id:
                try:
                    client.delete_subscription(account.subscription_id)
                except GraphError as exc:
                    if exc.status != 404:
                        raise
            # Store the secret first: Graph validates the URL before answering.
            account.write({"subscription_secret": secret, "subscription_id": False})
            expires = fields.Datetime.now() + timedelta(minutes=SUBSCRIPTION_MINUTES)
            sub = client.create_subscription(notify_url, secret, expires, lifecycle_url=lifecycle_url)
        except (AuthError, GraphError) as exc:
            self._o365_report_error(self.env._("Outlook change notifications could not be set up"), exc)
            return False
        account.write(
            {
                "subscription_id": sub["id"],
                "subscription_expires_at": event_filters.parse_graph_stamp(sub.get("expirationDateTime")) or expires,
            }
        )
        self._o365_remove_stray_subscriptions(client, sub["id"], notify_url)
        return True

    def _o365_remove_stray_subscriptions(self, client, keep_id, notify_url):
        """Delete this mailbox's other subscriptions to this database's notification URL: left by
        a lost answer, a crash or an older install, they would keep notifying and be refused (E7).

        Not for the organisation's application: Graph lists it the subscriptions of every mailbox,
        which per mailbox would cost a full listing each; ``_o365_sweep_organization_subscriptions``
        goes through them once for all (O2)."""
        if self.connected_by == "organization":
            return
        try:
            stray = [
                s["id"]
                for s in client.list_subscriptions()
                if s.get("id") != keep_id and (s.get("notificationUrl") or "").rstrip("/") == notify_url.rstrip("/")
            ]
            for subscription_id in stray:
                client.delete_subscription(subscription_id)
        except (AuthError, GraphError) as exc:
            _logger.info("o365 account %s: stray subscriptions not removed yet (%s)", self.id, exc)
            return
        if stray:
            _logger.info("o365 account %s: removed %s stray subscription(s)", self.id, len(stray))

    def _o365_renew_subscription(self):
        self.ensure_one()
        account = self.sudo()
        if not account.subscription_id:
            return self._o365_subscribe()
        try:
            client = self._graph_client()
            expires = fields.Datetime.now() + timedelta(minutes=SUBSCRIPTION_MINUTES)
            sub = client.renew_subscription(account.subscription_id, expires)
        except GraphError as exc:
            if exc.status == 404:  # gone on Graph's side: make a new one
                return self._o365_subscribe()
            self._o365_report_error(self.env._("Outlook change notifications could not be renewed"), exc)
            return False
        except AuthError as exc:
            self._o365_report_error(self.env._("Outlook change notifications could not be renewed"), exc)
            return False
        account.write(
            {"subscription_expires_at": event_filters.parse_graph_stamp(sub.get("expirationDateTime")) or expires}
        )
        return True

    @api.model
    def _cron_renew_subscriptions(self):
        """Queue the renewal of subscriptions that expire soon, and the creation of missing ones,
        for the pull job: it runs them under the mailbox's pull lock, so a renewal never races
        Start Syncing (or another renewal) into a second subscription."""
        soon = fields.Datetime.now() + RENEW_BEFORE
        accounts = (
            self.sudo()
            .search([("sync_state", "=", "running"), ("connection_state", "=", "connected")])
            .filtered(
                lambda a: not a.subscription_id or not a.subscription_expires_at or a.subscription_expires_at < soon
            )
        )
        for account in accounts:
            account._o365_request("renew")
        self._o365_sweep_organization_subscriptions()

    @api.model
    def _o365_sweep_organization_subscriptions(self):
        """Delete the organisation's application's subscriptions to this database's notification URL
        that no account knows (left by a lost answer, a crash, a Stop whose removal failed): they would
        keep notifying and be refused (E7, O2). One listing for every mailbox; a subscription made in
        the last half hour is left alone, as its account may not have committed it yet. Returns how
        many were deleted."""
        if not self.env["o365.config"]._azure_app().organization:
            return 0
        notify_url = self._o365_notification_urls()[0].rstrip("/")
        try:
            graph = self._organization_graph()
            listed = graph.list_subscriptions()
        except (AuthError, GraphError) as exc:
            _logger.info("o365: the organisation's stray subscriptions not looked for yet (%s)", exc)
            return 0
        self.flush_model(["subscription_id", "subscription_to_remove"])
        self.env.cr.execute(
            "SELECT subscription_id FROM o365_sync_account WHERE subscription_id IS NOT NULL "
            "UNION SELECT subscription_to_remove FROM o365_sync_account WHERE subscription_to_remove IS NOT NULL"
        )
        known = {row[0] for row in self.env.cr.fetchall()}
        fresh = fields.Datetime.now() + timedelta(minutes=SUBSCRIPTION_MINUTES) - timedelta(minutes=30)
        stray = [
            s["id"]
            for s in listed
            if (s.get("notificationUrl") or "").rstrip("/") == notify_url
            and s.get("id") not in known
            and (event_filters.parse_graph_stamp(s.get("expirationDateTime")) or fresh) < fresh
        ]
        removed = 0
        for subscription_id in stray:
            try:
                graph.delete_subscription(subscription_id)
                removed += 1
            except GraphError as exc:
                removed += exc.status == 404
                if exc.status != 404:
                    _logger.info("o365: stray subscription %s not removed yet (%s)", subscription_id, exc)
        if removed:
            _logger.info("o365: removed %s stray subscription(s) of the organisation's application", removed)
        return removed

    # -- queued pulls (E3, E6) ------------------------------------------------------------

    def _o365_request(self, kind="pull"):
        """Queue work for the pull job and wake it; no Graph call here."""
        new = self.env["o365.pull.request"].sudo()._request(self.ids, kind)
        self.browse(new)._o365_wake_pull()
        return new

    def _o365_wake_pull(self):
        """Wake the pull crons of these accounts' shards, right after commit."""
        for shard in {account.id % SHARDS for account in self}:
            cron = self.env.ref(PULL_CRON_XMLIDS[shard], raise_if_not_found=False)
            if cron:
                cron.sudo()._trigger()

    @api.model
    def _cron_pull(self, shard=0, shards=1, cursor_factory=None, parallel=None):
        """One run of a pull cron (one shard of the mailboxes): queue the safety-net pulls that
        are due, then run what is queued, each mailbox in its own transaction, time-boxed under
        Odoo's cron time limit; the cron is woken again at once for what is left.
        ``cursor_factory`` and ``parallel`` let a test run it in its own transaction."""
        runner = PullRunner(
            self.env.registry,
            cursor_factory=cursor_factory,
            shard=shard,
            shards=shards,
            parallel=parallel or self.env["o365.push.queue"]._param_int("push_parallel_mailboxes"),
            time_budget=run_time_budget(),
        )
        stats = runner.run()
        if stats["mailboxes_left"]:
            run_again_soon(self.env, PULL_CRON_XMLIDS[shard])
        return stats

    @api.model
    def _o365_queue_safety_pulls(self, shard=0, shards=1):
        """Pull syncing accounts not heard of lately: rarely while notifications work, every 15
        minutes without them. Spread by account so the pulls of many mailboxes never come at once."""
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                """SELECT id FROM o365_sync_account
                   WHERE sync_state = 'running' AND connection_state = 'connected' AND mod(id, %s) = %s
                     AND (last_pull_at IS NULL OR last_pull_at < %s - CASE
                          WHEN subscription_id IS NOT NULL AND subscription_expires_at > %s
                               AND (notifications_missed_at IS NULL OR notifications_missed_at < %s)
                          THEN %s + mod(id, 60) * interval '1 minute'
                          ELSE %s END)""",
                shards,
                shard,
                now,
                now,
                now - MISSED_NOTIFICATIONS_MEMORY,
                SAFETY_PULL_AFTER_NOTIFIED,
                SAFETY_PULL_AFTER,
            )
        )
        due = [row[0] for row in self.env.cr.fetchall()]
        self.env["o365.pull.request"].sudo()._request(due, "safety")

    def _o365_run_requests(self, locked=False):
        """Do what is queued for this account, under its pull lock; failures stay with it (E6).

        ``locked``: the caller (the pull runner) holds the lock already."""
        self.ensure_one()
        account = self.sudo()
        if not locked and not mailbox_lock(self.env.cr, PULL_LOCK_CLASS, account.id):
            return False  # another worker is on it; its requests wait for the next run
        kinds = self.env["o365.pull.request"].sudo()._take(account)
        if not account._is_syncing():
            return False
        try:
            with self.env.cr.savepoint():
                subscribed = None
                if "recreate" in kinds:
                    subscribed = account._o365_subscribe()
                elif "renew" in kinds:
                    subscribed = account._o365_renew_subscription()
                # A subscription that could not be set up stays the error the user sees.
                changes = account._o365_pull(full="resync" in kinds, clear_error=subscribed is not False)
                if kinds == {"safety"} and changes:
                    # Changes no notification announced: pull this mailbox often for a while.
                    _logger.info("o365 account %s: a safety pull found %s missed changes", account.id, changes)
                    account.write({"notifications_missed_at": fields.Datetime.now()})
        except (AuthError, GraphError) as exc:
            if account.connected_by == "organization" and getattr(exc, "status", None) == 403:
                # Outside the organisation's application's reach (O1): stop until an administrator fixes it.
                account._mailbox_out_of_reach(
                    {"status": 403, "body": {"error": {"code": exc.code, "message": exc.message}}}
                )
                return False
            account._o365_report_error(self.env._("Reading your Outlook calendar failed"), exc)
            if isinstance(exc, GraphError) and exc.transient:
                self.env["o365.pull.request"].sudo()._request(account.ids, "pull")
            return False
        except Exception:  # pylint: disable=broad-except
            # A bug met on one user's data must not stall everyone else's pull (E6).
            _logger.exception("o365 account %s: pull failed", account.id)
            account.sudo().write({"last_error": self.env._("Reading your Outlook calendar failed unexpectedly.")})
            return False
        return True

    # -- delta rounds (E3, E4) ------------------------------------------------------------

    def _o365_window(self):
        now = fields.Datetime.now()
        start = (self.sync_started_at or now) - WINDOW_BEFORE_START
        return start, now + WINDOW_AHEAD

    def _o365_pull(self, full=False, clear_error=True):
        """One delta round: page through nextLinks, keep the deltaLink, ingest every page.
        Returns how many changed events a continued round brought (0 for a new round)."""
        self.ensure_one()
        account = self.sudo()
        client = self._graph_client()
        link = False if full else account.delta_link
        now = fields.Datetime.now()
        if link and account.delta_window_end and account.delta_window_end < now + WINDOW_MIN_AHEAD:
            link = False  # rolling window: a token's window is fixed, so start a new round
        for attempt in (1, 2):
            fresh_round = not link
            start, end = account._o365_window()
            seen = set()
            try:
                for events, delta_link in client.calendar_view_delta(
                    link or None, start=start, end=end, page_size=PAGE_SIZE, time_zone="UTC"
                ):
                    seen.update(e.get("id") for e in events)
                    account._o365_ingest_page(events, client)
                    if delta_link:
                        vals = {"delta_link": delta_link}
                        if fresh_round:
                            vals["delta_window_end"] = end
                        account.write(vals)
                break
            except GraphError as exc:
                if attempt == 1 and _is_sync_reset(exc):
                    _logger.info("o365 account %s: delta token expired (%s), new round", account.id, exc.code)
                    account.write({"delta_link": False})
                    link = False
                    continue
                raise
        if fresh_round:
            # A new round lists what exists now; deletions made while no token was
            # valid show up only as missing events.
            account._o365_reconcile_missing(seen, client, start, end)
        values = {"last_pull_at": fields.Datetime.now(), "last_success_at": fields.Datetime.now()}
        if clear_error:
            values["last_error"] = False
        account.write(values)
        return 0 if fresh_round else len(seen)

    def _o365_reconcile_missing(self, seen, client, start, end):
        Link = self.env["o365.event.link"].sudo()
        links = Link.search(
            [("account_id", "=", self.id), ("origin", "=", "outlook"), ("res_model", "=", "calendar.event")]
        )
        missing = links.filtered(lambda lk: lk.graph_event_id not in seen)
        if not missing:
            return
        events = self.env["calendar.event"].sudo().browse(missing.mapped("res_id")).exists()
        in_window = {e.id for e in events if e.active and e.stop and e.stop >= start and e.start <= end}
        for link in missing.filtered(lambda lk: lk.res_id in in_window):
            self._o365_handle_removed(link, client)

    # -- ingestion (B1-B14) ---------------------------------------------------------------

    def _o365_directory(self, addresses):
        """Contacts and internal users for a page's addresses, in ONE query (B2).

        A contact is a partner with that normalised email and no internal user; an
        internal user is matched through their partner. Lowest id wins on duplicates,
        individuals before companies.
        """
        directory = Directory()
        if not addresses:
            return directory
        # Odoo stores ASCII addresses lower-cased (an indexed equality is enough); a
        # non-ASCII local part keeps its case there, so those compare lower-cased.
        ascii_only = [a for a in addresses if a.isascii()]
        non_ascii = [a for a in addresses if not a.isascii()]
        match = SQL("p.email_normalized = ANY(%s)", ascii_only)
        if non_ascii:
            match = SQL("(%s OR lower(p.email_normalized) = ANY(%s))", match, non_ascii)
        self.env.cr.execute(
            SQL(
                """SELECT p.id, lower(p.email_normalized), p.is_company, c.id, c.is_company, u.id
                     FROM res_partner p
                     JOIN res_partner c ON c.id = COALESCE(p.commercial_partner_id, p.id)
                LEFT JOIN res_users u ON u.partner_id = p.id AND u.active AND NOT u.share
                    WHERE p.active AND %s
                 ORDER BY p.is_company, p.id""",
                match,
            )
        )
        org_domains = self.env["o365.config"]._org_domains()
        for partner_id, email, _is_company, company_id, company_is_company, user_id in self.env.cr.fetchall():
            if user_id:
                directory.users.setdefault(email, (user_id, partner_id))
            elif not is_internal(email, org_domains):
                directory.contacts.setdefault(email, partner_id)
                directory.companies[partner_id] = company_id if company_is_company else None
        return directory

    def _o365_ingest_page(self, events, client=None):
        """Apply one delta page; the per-page lookups are batched (links, exclusions, contacts)."""
        self.ensure_one()
        Link = self.env["o365.event.link"].sudo()
        Exclusion = self.env["o365.event.exclusion"].sudo()
        ids = [e["id"] for e in events if e.get("id")]
        links = {
            lk.graph_event_id: lk for lk in Link.search([("account_id", "=", self.id), ("graph_event_id", "in", ids)])
        }
        org_domains = self.env["o365.config"]._org_domains()
        unlinked = [e for e in events if e.get("id") not in links and not event_filters.is_removed(e)]
        linked_live = [e for e in events if e.get("id") in links and not event_filters.is_removed(e)]
        directory = self._o365_directory(event_filters.page_addresses(unlinked + linked_live, org_domains))
        excluded = Exclusion._excluded_ids(self, [e["id"] for e in unlinked])
        # An ERP create whose answer was lost is in Outlook but not linked yet: the
        # push's retry links it (same transactionId), so the pull leaves it alone.
        pushing = (
            self.env["o365.push.queue"]
            .sudo()
            ._sent_creates(self, {e["transactionId"] for e in unlinked if e.get("transactionId")})
        )
        uids = list({e["iCalUId"] for e in unlinked if e.get("iCalUId")})
        copies = {}
        if uids:
            for lk in Link.search([("ical_uid", "in", uids), ("account_id", "!=", self.id)], order="id"):
                copies.setdefault(lk.ical_uid, lk)
        new_meetings = []  # prepared in the loop, created together after it
        for event in events:
            event_id = event.get("id")
            if not event_id:
                continue
            link = links.get(event_id)
            if event_filters.is_removed(event):
                if link:
                    self._o365_handle_removed(link, client)
                continue
            problem = unreadable(event)
            if problem:
                # Skipped, not fatal: one broken event must not stop the page (E6);
                # its next edit in Outlook brings it back.
                _logger.warning("o365 account %s: skipped Outlook event %s: %s", self.id, event_id, problem)
                continue
            with self._o365_isolated(_logger.exception, "skipped Outlook event %s it could not apply", event_id):
                if link:
                    self._o365_handle_linked(link, event, directory)
                elif event_id not in excluded and self.sync_events and event.get("transactionId") not in pushing:
                    to_log = self._o365_handle_new(event, directory, org_domains, copies)
                    if to_log:
                        new_meetings.append(to_log)
        if new_meetings:
            self._o365_log_new(new_meetings)

    def _o365_handle_linked(self, link, event, directory):
        if event.get("changeKey") and event["changeKey"] == link.change_key:
            # E4: our own write read back, or a replay. What only Outlook knows about
            # our own push (a Teams join link, A14) is kept; nothing is pushed back.
            if link.origin == "odoo" and link.res_model == "calendar.event":
                meeting = self.env["calendar.event"].sudo().browse(link.res_id).exists()
                if meeting:
                    meeting._o365_pushed(self, event)
            return
        record = self.env[link.res_model].sudo().browse(link.res_id).exists()
        if not record:
            link.unlink()
            return
        if event_filters.is_cancelled(event):
            if hasattr(record, "_o365_apply_outlook_removal"):
                # The organiser cancelled it: the whole meeting goes, whoever's copy told us.
                record.with_context(o365_cancelled=True)._o365_apply_outlook_removal(link)
            if link.exists():
                link.change_key = event.get("changeKey")
            return
        if link.origin == "outlook" and link.res_model == "calendar.event":
            record._o365_apply_outlook_update(link, event, directory)
        elif hasattr(record, "_o365_apply_outlook_change"):
            record._o365_apply_outlook_change(link, event)
        else:
            link.change_key = event.get("changeKey")

    def _o365_handle_removed(self, link, client):
        """A tombstone: deleted, or only moved out of the window (facts §2.1): ask Graph which."""
        record = self.env[link.res_model].sudo().browse(link.res_id).exists()
        if not record or self.env["o365.push.queue"]._deleting(self, link.res_model, link.res_id):
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
        if current and not event_filters.is_cancelled(current):
            directory = self._o365_directory(
                event_filters.page_addresses([current], self.env["o365.config"]._org_domains())
            )
            self._o365_handle_linked(link, current, directory)
        elif hasattr(record, "_o365_apply_outlook_removal"):
            record._o365_apply_outlook_removal(link)

    def _o365_handle_new(self, event, directory, org_domains, copies):
        """The B pipeline for an event Odoo has no record of."""
        copy_of = copies.get(event.get("iCalUId"))
        if copy_of and copy_of.origin == "odoo":
            return  # an ERP meeting's copy in an attendee's mailbox: the ERP side owns it
        ok, reason = event_filters.decide(
            event,
            sync_started_at=self.sync_started_at,
            org_domains=org_domains,
            category_filter=self._category_filter(),
            known_contacts=set(directory.contacts),
        )
        if not ok:
            if reason in event_filters.STICKY_REASONS:
                self.env["o365.event.exclusion"].sudo()._exclude(self, event["id"], reason)
            return
        Meeting = self.env["calendar.event"].sudo()
        if copy_of and copy_of.res_model == "calendar.event":
            meeting = Meeting.browse(copy_of.res_id).exists()
            if meeting:
                # B12: one meeting, one record; this mailbox's copy links to it.
                link = self._o365_link(meeting, event)
                meeting._o365_apply_outlook_update(link, event, directory)
                return None
        return Meeting._o365_prepare_log(self, event, directory, org_domains)

    def _o365_log_new(self, prepared):
        """Create a page's new logged meetings in one batch (Odoo's create is far cheaper
        per record in a batch); if the batch fails, one by one, skipping what fails (E6)."""
        Meeting = self.env["calendar.event"].sudo()
        with self._o365_isolated(
            _logger.warning, "logging %s meetings at once failed; one by one", len(prepared)
        ) as batch:
            Meeting._o365_log_from_outlook(self, prepared)
        if batch.done:
            return
        for item in prepared:
            with self._o365_isolated(_logger.exception, "skipped Outlook event %s it could not log", item[0]["id"]):
                Meeting._o365_log_from_outlook(self, [item])

    @contextmanager
    def _o365_isolated(self, log, message, *args):
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
            log("o365 account %s: " + message, self.id, *args)

    def _o365_link(self, record, event):
        return self._o365_links(record, [event])

    def _o365_links(self, records, events):
        """Link each record to the Outlook event at the same position."""
        return (
            self.env["o365.event.link"]
            .sudo()
            .create(
                [
                    {
                        "account_id": self.id,
                        "res_model": record._name,
                        "res_id": record.id,
                        "graph_event_id": event["id"],
                        "ical_uid": event.get("iCalUId"),
                        "change_key": event.get("changeKey"),
                        "origin": "outlook",
                    }
                    for record, event in zip(records, events, strict=True)
                ]
            )
        )
