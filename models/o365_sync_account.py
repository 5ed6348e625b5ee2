import logging
import time
from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..utils import plain_words
from ..utils.auth import AuthError, MicrosoftLogin, OrganizationLogin
from ..utils.graph_client import BATCH_LIMIT, EventRequests, GraphClient, GraphError, mailbox_probe, user_mailbox
from ..utils.locks import lock_accounts
from ..utils.settings import ORGANIZATION_MODE, USER_MODE

_logger = logging.getLogger(__name__)

# Fields that hold secrets or sync cursors: readable by administrators only, and
# never placed in a view (SPEC S5).
SYSTEM_ONLY = "base.group_system"
# Company-wide pause of all sync (S7): an ir.config_parameter, "1" when paused. The push
# and pull jobs do nothing while it is set (their crons in engine/cron.py, and
# engine/importer.py); changes wait.
PAUSE_PARAM = "o365_calendar_sync.sync_paused"
# Context key: a write that must not notify the user of a 'reconnect' (e.g. _connect
# putting back the state it found).
NO_RECONNECT_NOTICE = "o365_no_reconnect_notice"
# A running sync without a live subscription this long after Start is shown as late (issue 28).
DEAF_AFTER = timedelta(minutes=2)
# What a user may change on their own account (the Calendar tab's options). Everything else
# (which mailbox it opens, its connection and sync state, its errors and health) is written
# only by the sync itself (as superuser) or by an administrator: readonly=True binds views,
# not RPC (S5, issue 27).
OWNER_OPTION_FIELDS = frozenset(
    {
        "sync_phonecalls",
        "sync_tasks",
        "sync_meetings",
        "sync_events",
        "include_categories",
        "exclude_categories",
        "sync_holidays",
    }
)


def _clean_category_list(text):
    """Trim and de-duplicate a comma-separated category list, keeping its order."""
    names = []
    for raw in (text or "").split(","):
        name = raw.strip()
        if name and name.casefold() not in (n.casefold() for n in names):
            names.append(name)
    return ", ".join(names)


class O365SyncAccount(models.Model):
    """One user's link to a Microsoft 365 mailbox and their sync options.

    Kept apart from res.users so that access rules (the user and administrators
    only) apply to one small model, and res.users.settings (sent to the browser
    in the session info) never carries a token. res.users shows the user's own
    options and status through related fields (models/res_users.py).

    A thin backend: the connection (sign-in or the organisation's application),
    the options, the status, and the small entry points that views, controllers
    and the sync jobs call. The pull job's queue and wake-up are o365.pull.request's
    (models/o365_pull_request.py), as the push job's are o365.push.queue's; the jobs'
    crons are engine/cron.py, the pull itself (subscriptions, delta rounds, page
    ingestion) engine/importer.py, the push engine/pusher.py.
    """

    _name = "o365.sync.account"
    _description = "Microsoft 365 Calendar Sync Account"
    _rec_name = "user_id"

    user_id = fields.Many2one("res.users", required=True, ondelete="cascade", index=True)
    connection_state = fields.Selection(
        [
            ("disconnected", "Not connected"),
            ("connected", "Connected"),
            ("reconnect", "Reconnect needed"),
        ],
        default="disconnected",
        required=True,
        readonly=True,
    )
    mailbox_address = fields.Char(readonly=True)
    connected_by = fields.Selection(
        [(USER_MODE, "The user's own sign-in"), (ORGANIZATION_MODE, "The organisation's connection")],
        default=USER_MODE,
        required=True,
        readonly=True,
        help="Who connected this mailbox: the user, signing in (S2), or the organisation's application (O1).",
    )
    organization_lookup_address = fields.Char(
        readonly=True,
        copy=False,
        help="The address the organisation's connection looked this user's mailbox up by (O1): "
        "when the user's address changes, the next Start looks it up again.",
    )
    mailbox_user_id = fields.Char(
        "Mailbox Owner ID", readonly=True, copy=False, help="Microsoft 365 id of the mailbox's owner (O2)."
    )
    previous_mailbox_address = fields.Char(
        readonly=True,
        copy=False,
        help="The mailbox connected before Disconnect: reconnecting it keeps the links (S4).",
    )
    mailbox_timezone = fields.Char(readonly=True, help="Time zone of the Outlook mailbox.")
    token_cache = fields.Text(groups=SYSTEM_ONLY, copy=False, prefetch=False)

    # Option A: ERP activities to the calendar.
    sync_phonecalls = fields.Boolean("Phone Calls", default=True)
    sync_tasks = fields.Boolean("Tasks", default=True)
    sync_meetings = fields.Boolean("Meetings", default=True)
    # Option B: calendar events into the ERP.
    sync_events = fields.Boolean("Sync Microsoft 365 Events", default=True)
    include_categories = fields.Char(help="Comma-separated; only events in these categories are logged.")
    exclude_categories = fields.Char(help="Comma-separated; events in these categories are not logged.")
    # Option C: leaves.
    sync_holidays = fields.Boolean(default=True)

    sync_state = fields.Selection(
        [("stopped", "Stopped"), ("running", "Running")], default="stopped", required=True, readonly=True
    )
    sync_started_at = fields.Datetime("Syncing Since", readonly=True, copy=False)
    last_success_at = fields.Datetime("Last Successful Exchange", readonly=True, copy=False)
    last_error = fields.Text(readonly=True, copy=False)
    last_error_at = fields.Datetime(readonly=True, copy=False)

    # The pull's state (engine/importer.py, SPEC E3): the delta cursor and its window,
    # the change-notification subscription.
    delta_link = fields.Char(groups=SYSTEM_ONLY, copy=False)
    delta_window_end = fields.Datetime(groups=SYSTEM_ONLY, copy=False)
    subscription_id = fields.Char(groups=SYSTEM_ONLY, copy=False)
    subscription_secret = fields.Char(groups=SYSTEM_ONLY, copy=False)
    subscription_expires_at = fields.Datetime(groups=SYSTEM_ONLY, copy=False)
    # A subscription Stop or Disconnect left for the pull job to remove (S4: they
    # never wait on Graph in the user's request).
    subscription_to_remove = fields.Char(groups=SYSTEM_ONLY, copy=False)
    last_pull_at = fields.Datetime("Last Outlook Pull", readonly=True, copy=False)
    notifications_missed_at = fields.Datetime(
        readonly=True, copy=False, help="A safety-net pull found changes that no change notification announced."
    )

    # The administrators' health view (S7): computed from the push queue, never stored.
    health_state = fields.Selection(
        [
            ("syncing", "Syncing"),
            ("late", "Syncing, Outlook changes late"),
            ("failing", "Syncing, with errors"),
            ("paused", "Paused for everyone"),
            ("stopped", "Stopped"),
            ("reconnect", "Reconnect needed"),
            ("disconnected", "Not connected"),
        ],
        "Health",
        compute="_compute_health",
    )
    waiting_count = fields.Integer("Waiting Changes", compute="_compute_queue_health")
    failed_count = fields.Integer("Failed Changes", compute="_compute_queue_health")
    oldest_waiting_at = fields.Datetime(
        "Oldest Waiting Change",
        compute="_compute_queue_health",
        help="When the oldest change not yet in Outlook was made.",
    )
    last_error_words = fields.Text("Last Error (plain words)", compute="_compute_error_words")
    last_error_detail = fields.Text("Technical Details", compute="_compute_error_words", groups=SYSTEM_ONLY)
    # Issue 23: the health view's reader is the administrator, not the user ("Reconnect: My Profile…").
    # A Char: the list keeps it to one line, the whole of it in the cell's tooltip.
    last_error_admin_words = fields.Char("Last Error for Administrators", compute="_compute_error_words")

    _sql_constraints = [("user_unique", "UNIQUE(user_id)", "A user has one Microsoft 365 sync account.")]

    @api.depends("connection_state", "sync_state", "last_error", "subscription_id", "subscription_expires_at")
    def _compute_health(self):
        paused = self.sync_paused()
        for account in self:
            if account.connection_state != "connected":
                account.health_state = account.connection_state
            elif account.sync_state != "running":
                account.health_state = "stopped"
            elif paused:
                account.health_state = "paused"
            elif account.last_error:
                account.health_state = "failing"
            else:
                account.health_state = "late" if account._o365_deaf() else "syncing"

    def _o365_deaf(self):
        """True when the running sync has had no live change-notification subscription for a while
        (past the first minutes after Start): Outlook changes then arrive only through the pull
        that retries every minute, never as they happen (issue 28)."""
        self.ensure_one()
        account = self.sudo()
        now = fields.Datetime.now()
        if account.subscription_id and account.subscription_expires_at and account.subscription_expires_at > now:
            return False
        return bool(account.sync_started_at) and now - account.sync_started_at > DEAF_AFTER

    def _compute_queue_health(self):
        stats = {}
        if self.ids:
            self.env["o365.push.queue"].flush_model(["account_id", "state"])
            self.env.cr.execute(
                """SELECT account_id, count(*) FILTER (WHERE state = 'pending'),
                          count(*) FILTER (WHERE state = 'failed'),
                          min(create_date) FILTER (WHERE state = 'pending')
                   FROM o365_push_queue WHERE account_id IN %s GROUP BY account_id""",
                [tuple(self.ids)],
            )
            stats = {row[0]: row[1:] for row in self.env.cr.fetchall()}
        for account in self:
            waiting, failed, oldest = stats.get(account.id, (0, 0, False))
            account.waiting_count, account.failed_count, account.oldest_waiting_at = waiting, failed, oldest

    @api.depends("last_error", "connection_state", "connected_by")
    @api.depends_context("lang")
    def _compute_error_words(self):
        for account in self:
            words, detail = plain_words.split(account.last_error, self.env.lang)
            account.last_error_words = words or False
            account.last_error_detail = detail or False
            if words and account.connection_state == "reconnect" and account.connected_by == USER_MODE:
                # Only the user can sign in again; the administrator reads what that means.
                words = self.env._(
                    "Microsoft 365 no longer accepts this user's sign-in: only they can reconnect, from My Profile. "
                    "Their changes wait meanwhile."
                )
            elif words and account.connection_state == "reconnect":
                # The organisation's application lost the mailbox: the user was told to ask an administrator.
                words = self.env._(
                    "The organisation's Microsoft 365 application may not open this mailbox: add it to the "
                    "application's scope (Exchange RBAC for Applications) or grant admin consent again, then "
                    "Restart. Their changes wait meanwhile."
                )
            account.last_error_admin_words = words or False

    @api.model
    def o365_health_list_info(self):
        """What the health list's header needs (static/src/health/health_list.js): whether all
        sync is paused, so that it offers Pause or Resume, not both, and whether the organisation
        connects mailboxes (Start Syncing Users) (issue 23). Nothing secret: every user's
        Calendar tab says both, so the list never fails to open over it."""
        return {"paused": self.sync_paused(), "organization": self.env["o365.config"].azure_app().organization}

    @api.model
    @api.private
    def sync_paused(self):
        """True while an administrator paused all sync (S7), or in a neutralized copy of the
        database (S8): the jobs leave every mailbox alone."""
        params = self.env["ir.config_parameter"].sudo()
        return params.get_param(PAUSE_PARAM) in ("1", "True", "true") or bool(
            self.env["o365.config"]._neutralized_notice()
        )

    @api.constrains("include_categories", "exclude_categories")
    def _check_one_category_list(self):
        for account in self:
            if account.include_categories and account.exclude_categories:
                raise ValidationError(
                    self.env._(
                        "Fill in either 'Include categories' or 'Exclude categories', not both: "
                        "clear one of the two lists."
                    )
                )

    @api.model_create_multi
    def create(self, vals_list):
        return super().create([self._clean_vals(vals) for vals in vals_list])

    def write(self, vals):
        self._check_owner_writes(vals)
        vals = self._clean_vals(vals)
        if vals.get("last_error"):
            vals.setdefault("last_error_at", fields.Datetime.now())
        elif "last_error" in vals:
            vals.setdefault("last_error_at", False)  # recovered: no "Last Error At" of nothing (issue 23)
        newly = self.browse()
        if vals.get("connection_state") == "reconnect" and not self.env.context.get(NO_RECONNECT_NOTICE):
            # One notification per transition (S7): later failures find 'reconnect' already.
            newly = self.filtered(lambda account: account.connection_state != "reconnect")
        result = super().write(vals)
        newly._notify_reconnect_needed()
        return result

    def _notify_reconnect_needed(self):
        """Tell the user once, in their Odoo inbox (or by email, as they chose), that only they can
        bring their sync back (S7). The technical detail goes to the log, not to the message."""
        for account in self.sudo():
            words, detail = plain_words.split(account.last_error)
            _logger.warning("o365: sync account %s needs its user to reconnect: %s", account.id, detail or words)
            partner = account.user_id.partner_id
            if not partner:
                continue
            env = account.owner_env()  # the user's language, also when a cron finds it out
            body = Markup("<p>%s</p><p>%s</p><p><a href='/odoo/microsoft-365-preferences'>%s</a></p>") % (
                words
                or env._(
                    "Microsoft 365 no longer accepts your sign-in (it expired, was revoked, or consent was withdrawn)."
                ),
                env._(
                    "Your Outlook calendar sync waits until you reconnect: open My Profile and press Reconnect on "
                    "the Preferences tab. Nothing is lost; waiting changes go out once you are back."
                ),
                env._("Open My Profile"),
            )
            partner.message_notify(
                partner_ids=partner.ids,
                subject=env._("Microsoft 365: reconnect needed"),
                body=body,
            )

    def _check_owner_writes(self, vals):
        """Users change only their options; the rest belongs to the sync and to administrators (S5)."""
        if self.env.su or self.env.user.has_group(SYSTEM_ONLY):
            return
        protected = sorted(set(vals) - OWNER_OPTION_FIELDS)
        if protected:
            raise AccessError(
                self.env._(
                    "You can change only your sync options here. Connect, Start Syncing and Stop Syncing "
                    "change the rest (not allowed: %(fields)s).",
                    fields=", ".join(protected),
                )
            )

    @api.model
    def _clean_vals(self, vals):
        for key in ("include_categories", "exclude_categories"):
            if key in vals:
                vals[key] = _clean_category_list(vals[key]) or False
        return vals

    @api.model
    def _for_user(self, user):
        """The user's account, created on first use (as superuser: users cannot create rows for others)."""
        account = self.sudo().search([("user_id", "=", user.id)], limit=1)
        return account or self.sudo().create({"user_id": user.id})

    @api.private
    def category_filter(self):
        """(mode, names) for the event filters: mode is 'all', 'include' or 'exclude'."""
        self.ensure_one()
        if self.include_categories:
            return "include", [c.strip() for c in self.include_categories.split(",")]
        if self.exclude_categories:
            return "exclude", [c.strip() for c in self.exclude_categories.split(",")]
        return "all", []

    # -- talking to Graph --------------------------------------------------------------

    def _login(self):
        """An MSAL session over this account's token cache (see _save_login)."""
        self.ensure_one()
        return MicrosoftLogin(self.env["o365.config"].azure_app(), self.sudo().token_cache)

    def _save_login(self, login):
        """Keep what MSAL changed in the cache: a refresh rotates the refresh token."""
        if login.cache_changed:
            self.sudo().token_cache = login.serialized_cache()

    def _graph_mailbox(self):
        """The path of this account's mailbox in Graph: "/me" for the user's own sign-in,
        "/users/{id}" through the organisation's application (O2)."""
        self.ensure_one()
        if self.connected_by == ORGANIZATION_MODE:
            return user_mailbox(self.mailbox_user_id or self.mailbox_address or "")
        return "/me"

    @api.private
    def event_requests(self):
        """Request shapes for this account's events (utils/graph_client.py)."""
        return EventRequests(self._graph_mailbox())

    @api.model
    @api.private
    def organization_graph(self, mailbox="/me", cleanup=False):
        """A Graph client with the organisation's application token (O1, O2).

        Raises AuthError(organization=True) when the application cannot sign in: only an
        administrator can fix that, so no user is asked to reconnect. ``cleanup``: only to
        remove what a mailbox it connected left in Graph (a subscription), also after the
        administrator went back to per-user sign-ins."""
        app = self.env["o365.config"].azure_app()
        neutralized = self.env["o365.config"]._neutralized_notice()
        if neutralized:  # S8: a staging copy never reaches a mailbox, whatever calls
            raise AuthError(neutralized, organization=True)
        if not app.organization and not cleanup:
            raise AuthError(
                "Your organisation no longer connects Microsoft 365 mailboxes for you: connect your own account "
                "in My Profile.",
                reconnect=True,
            )
        login = OrganizationLogin(app)
        login.access_token()  # fail before the caller starts a Graph exchange
        return GraphClient(app.graph_endpoint, login.access_token, verify=app.verify, mailbox=mailbox)

    @api.private
    def graph_client(self):
        """A Graph client acting as this account's mailbox owner.

        Raises AuthError (now, or on a later call that needs a new token); when
        only the user can fix it (revoked or expired sign-in) the account is
        flagged 'reconnect' so the user sees it.
        """
        self.ensure_one()
        if self.connected_by == ORGANIZATION_MODE:
            try:
                return self.organization_graph(self._graph_mailbox())
            except AuthError as exc:
                if exc.reconnect:
                    self.flag_reconnect_needed(exc)
                raise
        neutralized = self.env["o365.config"]._neutralized_notice()
        if neutralized:  # S8: a staging copy never reaches a mailbox, whatever calls
            raise AuthError(neutralized)
        login = self._login()

        def token_provider(force_refresh):
            try:
                return login.access_token(force_refresh)
            except AuthError as exc:
                if exc.reconnect:
                    self.flag_reconnect_needed(exc)
                raise
            finally:
                self._save_login(login)

        token_provider(False)  # fail before the caller starts a Graph exchange
        app = self.env["o365.config"].azure_app()
        return GraphClient(app.graph_endpoint, token_provider, verify=app.verify)

    @api.private
    def cleanup_graph_client(self):
        """The client that removes what this mailbox left in Graph (its old subscription): the
        organisation's application for a mailbox it connected, even once the administrator went
        back to per-user sign-ins (O1); else the user's own sign-in."""
        self.ensure_one()
        if self.connected_by == ORGANIZATION_MODE:
            return self.organization_graph(self._graph_mailbox(), cleanup=True)
        return self.graph_client()

    @api.model
    def _organization_connection_ended(self):
        """O1: the administrator went back to per-user sign-ins. The mailboxes the organisation
        connected stop at once: each user is told once to connect their own account (their tab
        says so), their subscriptions are removed in the background by the pull job (with the
        application's token), and their waiting changes wait for that sign-in (S4)."""
        accounts = self.sudo().search(
            [("connected_by", "=", ORGANIZATION_MODE), ("connection_state", "=", "connected")]
        )
        lock_accounts(self.env.cr, accounts.ids)  # the accounts first, then their rows (utils/locks.py)
        for account in accounts:
            account._forget_subscription()
            account.flag_reconnect_needed(
                AuthError(
                    "Your organisation no longer connects Microsoft 365 mailboxes for you: connect your own "
                    "account in My Profile.",
                    reconnect=True,
                )
            )
        self.env["o365.pull.request"].sudo().search([("account_id", "in", accounts.ids)]).unlink()
        self.env["o365.pull.request"]._wake(accounts.filtered("subscription_to_remove").ids)
        return accounts

    @api.private
    def flag_reconnect_needed(self, exc):
        """Microsoft refused the sign-in for good (``exc``, an AuthError): only the user can bring
        the sync back. 'reconnect' stops every Graph or token request for the mailbox until
        then, and the user is told once (write, S7)."""
        self.sudo().write({"connection_state": "reconnect", "last_error": _reconnect_words(self.owner_env(), exc)})

    @api.private
    def owner_env(self):
        """The environment in the language of the account's user: the words stored for them to read
        later (last errors, notes, notifications), whoever or whatever (a cron) writes them (issue 23)."""
        lang = self[:1].sudo().user_id.lang or "en_US"
        return self.env(context=dict(self.env.context, lang=lang))

    # -- sync lifecycle (SPEC S3, S4) ---------------------------------------------------

    def _start_sync(self):
        """Record the sync start: nothing created before it is synced, either way.

        The transaction's time, the clock create_date uses, so that comparing a
        record's create_date with it is exact. Items linked before a Stop resume:
        the changes they queued meanwhile go out now (S4). Never in a neutralized copy (S8).
        """
        self.env["o365.config"]._check_not_neutralized()
        lock_accounts(self.env.cr, self.ids)  # the account first, then its rows (utils/locks.py)
        for account in self:
            account.sudo().write({"sync_state": "running", "sync_started_at": self.env.cr.now(), "last_error": False})
            # The subscription and the first delta round are the pull job's, after commit:
            # creating a subscription makes Graph call our notification URL back before it
            # answers; done inside the Start Syncing request, that request would wait on
            # Graph, and a notification could arrive before the secret is committed.
            account.sudo().write({"delta_link": False, "delta_window_end": False})
            self.env["o365.pull.request"].sudo().enqueue(account.ids, "recreate")
        self.env["o365.push.queue"]._wake_worker()

    def _stop_sync(self):
        """Stop both directions; delete nothing on either side (S4). No Graph call here:
        the webhook subscription is removed by the pull job, so Stop answers at once.

        Its secret goes now, so a notification it still brings is refused at once and
        queues nothing."""
        lock_accounts(self.env.cr, self.ids)  # the account first, then its rows (utils/locks.py)
        for account in self.sudo():
            account._forget_subscription()
            self.env["o365.pull.request"].sudo().search([("account_id", "=", account.id)]).unlink()
            if account.subscription_to_remove:
                self.env["o365.pull.request"]._wake(account.ids)
            account.write({"sync_state": "stopped"})

    def _forget_subscription(self):
        """Forget the subscription and the delta cursor now (a notification it still brings is
        refused at once); the subscription itself is left for the pull job to delete at Graph."""
        self.ensure_one()
        values = {
            "subscription_id": False,
            "subscription_secret": False,
            "subscription_expires_at": False,
            "delta_link": False,
            "delta_window_end": False,
        }
        if self.subscription_id:
            values["subscription_to_remove"] = self.subscription_id
        self.sudo().write(values)

    def _stop_for_departed_user(self, deleted=False):
        """S9: the user was archived (or is being deleted): their sync stops at once. The
        subscription goes in the background (the pull job, as after Stop); the changes that
        waited for their Outlook are dropped, and the account says so; links stay, and nothing
        is deleted in Outlook. Reactivating the user leaves the sync stopped until they, or an
        administrator, press Start."""
        Queue = self.env["o365.push.queue"].sudo()
        in_use = self.sudo().filtered(lambda a: a.sync_state == "running" or a.connection_state != "disconnected")
        lock_accounts(self.env.cr, in_use.ids)  # the accounts first, then their rows (utils/locks.py)
        if deleted:
            in_use._remove_subscriptions_after_commit()
        for account in in_use:
            waiting = Queue.search([("account_id", "=", account.id)])
            dropped = len(waiting)
            waiting.unlink()
            if account.sync_state == "running":
                account._stop_sync()
            what = (
                self.env._("Sync stopped: %(user)s was deleted in Odoo.", user=account.user_id.name)
                if deleted
                else self.env._("Sync stopped: %(user)s was archived in Odoo.", user=account.user_id.name)
            )
            account.write(
                {
                    "last_error": self.env._(
                        "%(what)s %(count)s change(s) waiting for Outlook were dropped; nothing was deleted in "
                        "Outlook. If they come back, press Start Syncing again.",
                        what=what,
                        count=dropped,
                    )
                }
            )
            _logger.info("o365: sync account %s stopped, its user left (%s changes dropped)", account.id, dropped)

    def _remove_subscriptions_after_commit(self):
        """S9: a deleted user's account goes with them, and with it the sign-in the pull job would
        remove their subscription with. So a token is taken now (no Graph request in the
        transaction, E1) and the subscription is deleted right after the deletion commits: best
        effort, 5 s per request; one left unanswered can no longer notify (its secret is gone)
        and expires within three days. The organisation's mailboxes need none of this: its sweep
        removes subscriptions no account knows (O2)."""
        app = self.env["o365.config"].azure_app()
        for account in self.sudo().filtered(lambda a: a.connected_by == USER_MODE):
            subscription_ids = [s for s in (account.subscription_id, account.subscription_to_remove) if s]
            if not subscription_ids:
                continue
            try:
                token = account._login().access_token(False)
            except AuthError as exc:
                _logger.info("o365: a deleted user's subscription is left to expire (no sign-in: %s)", exc)
                continue
            client = GraphClient(app.graph_endpoint, lambda _force, token=token: token, verify=app.verify, timeout=5)
            self.env.cr.postcommit.add(lambda client=client, ids=subscription_ids: _delete_subscriptions(client, ids))

    @api.model
    def _remove_subscriptions_on_uninstall(self, budget=30.0, request_timeout=5.0):
        """The module is being uninstalled: delete its Graph subscriptions, so that Graph stops
        notifying an address that no longer answers. Best effort and bounded: each request waits
        at most ``request_timeout`` seconds, all of them ``budget``; what is left expires by itself
        within three days. Nothing in Outlook is deleted. Returns how many were removed."""
        deadline = time.monotonic() + budget
        removed = 0
        accounts = self.sudo().search(["|", ("subscription_id", "!=", False), ("subscription_to_remove", "!=", False)])
        for account in accounts:
            for subscription_id in {account.subscription_id, account.subscription_to_remove} - {False, None}:
                left = deadline - time.monotonic()
                if left <= 0:
                    _logger.warning("o365: uninstall left subscriptions to expire by themselves (time is up)")
                    return removed
                try:
                    client = account.cleanup_graph_client()
                    client.timeout = min(request_timeout, left)
                    client.delete_subscription(subscription_id)
                    removed += 1
                except GraphError as exc:
                    removed += exc.status == 404
                    _logger.info("o365: subscription of account %s left to expire (%s)", account.id, exc)
                except AuthError as exc:
                    _logger.info("o365: subscription of account %s left to expire (%s)", account.id, exc)
        return removed

    @api.private
    def is_syncing(self):
        """True while this mailbox is connected and its sync runs: the jobs may work on it."""
        self.ensure_one()
        return self.connection_state == "connected" and self.sync_state == "running"

    # -- connecting (SPEC S2) ------------------------------------------------------------

    def _connect(self, login):
        """Keep a finished sign-in, then learn which mailbox it opens (/me, /me/mailboxSettings).

        Raises UserError in plain words when the mailbox cannot be read or is
        already connected to another Odoo user; the account is then left as it was.
        """
        self.ensure_one()
        self.env["o365.config"]._check_not_neutralized()  # S8
        previous = {
            "token_cache": self.sudo().token_cache,
            "connection_state": self.connection_state,
            "connected_by": self.connected_by,
        }
        quiet = self.sudo().with_context(**{NO_RECONNECT_NOTICE: True})  # the user is right here
        # The user's own sign-in from now on, also for a mailbox the organisation connected before (O1).
        quiet.write(
            {"token_cache": login.serialized_cache(), "connection_state": "connected", "connected_by": USER_MODE}
        )
        try:
            graph = quiet.graph_client()
            me = graph.me()
            settings = graph.mailbox_settings()
        except (AuthError, GraphError) as exc:
            quiet.write(previous)
            _logger.warning("o365: sync account %s could not read its mailbox after sign-in: %s", self.id, exc)
            raise UserError(
                self.env._(
                    "Signed in, but Microsoft 365 did not let Odoo read your mailbox: %(error)s",
                    error=plain_words.explain_exception(exc).sentence(self.env.lang),
                )
            ) from None
        address = (me.get("mail") or me.get("userPrincipalName") or "").lower()
        taken = self._other_account_on(address)
        if taken:
            quiet.write(previous)
            raise UserError(
                self.env._(
                    "The mailbox %(address)s is already connected to %(user)s in Odoo: sign in with your own account.",
                    address=address,
                    user=taken.user_id.name,
                )
            )
        self._leave_previous_mailbox(address)
        self.sudo().write(
            {
                "mailbox_address": address,
                "previous_mailbox_address": False,
                "mailbox_timezone": settings.get("timeZone") or False,
                "last_error": False,
            }
        )
        # Changes saved while the sign-in was lost waited, with no retry scheduled: they go now.
        self.env["o365.push.queue"]._wake_worker(self)

    # -- the organisation's connection (SPEC O1) ---------------------------------------------

    def _organization_address(self):
        """The mailbox the organisation connects for this user: the address an administrator set
        on the user (Microsoft 365 Mailbox), else the user's email."""
        self.ensure_one()
        user = self.user_id.sudo()
        return (user.o365_mailbox or user.email or "").strip().lower()

    def _check_own_mailbox_address(self):
        """A user starting their own sync in organisation mode (O1) may open only a mailbox no user can
        redirect: the one an administrator set, their login's, or the one connected before. Users can
        edit their own email in Odoo; an email that is none of those needs an administrator."""
        self.ensure_one()
        user = self.user_id.sudo()
        address = self._organization_address()
        if user.o365_mailbox or address in (
            (user.login or "").strip().lower(),
            self.mailbox_address,
            self.previous_mailbox_address,
        ):
            return
        raise UserError(
            self.env._(
                "Your email (%(address)s) is not your login, so Odoo cannot be sure it is your mailbox: ask your "
                "administrator to start your Microsoft 365 sync, or to set your Microsoft 365 mailbox on your user.",
                address=address,
            )
        )

    def _connect_through_organization(self, for_administrator=False):
        """Connect these users' mailboxes through the organisation's application, without any
        sign-in (O1). Checks each mailbox with Graph (a few users per $batch) first.

        Returns {account: None when connected, else what is wrong in plain words}; a failed
        account is left as it was, with the words as its last error. Raises UserError when the
        organisation's connection itself does not work (nobody can be connected).
        ``for_administrator``: an administrator started these users, and reads the returned words
        (what they can do); each user's last error keeps the words for the user (issue 23)."""
        outcome, for_admin = {}, {}
        self.env["o365.config"]._check_not_neutralized()  # S8
        try:
            graph = self.organization_graph()
        except AuthError as exc:
            raise UserError(plain_words.explain_exception(exc).sentence(self.env.lang)) from None
        per_batch = BATCH_LIMIT // len(mailbox_probe(""))
        for start in range(0, len(self), per_batch):
            chunk = self[start : start + per_batch]
            items = []
            for account in chunk:
                address = account._organization_address()
                if not address:
                    outcome[account] = self.env._(
                        "Odoo knows no email address of yours: ask your administrator to set your Microsoft 365 "
                        "mailbox on your user."
                    )
                    for_admin[account] = self.env._(
                        "%(user)s has no email address: set it, or their Microsoft 365 mailbox, on the user.",
                        user=account.user_id.name,
                    )
                    continue
                for item in mailbox_probe(user_mailbox(address)):
                    items.append({**item, "id": f"{account.id}-{item['id']}"})
            try:
                answers = graph.batch(items) if items else {}
            except (AuthError, GraphError) as exc:
                raise UserError(
                    self.env._(
                        "Microsoft 365 could not be asked about these mailboxes: %(error)s",
                        error=plain_words.explain_exception(exc).sentence(self.env.lang),
                    )
                ) from None
            for account in chunk.filtered(lambda a: a not in outcome):
                probe = {
                    key: answers.get(f"{account.id}-{key}") or {"status": 0} for key in ("user", "settings", "events")
                }
                outcome[account] = account._apply_mailbox_probe(probe)
                if outcome[account] and for_administrator:
                    for_admin[account] = account._mailbox_probe_problem(probe, for_administrator=True)
        for account, error in outcome.items():
            if error:
                account.sudo().with_context(**{NO_RECONNECT_NOTICE: True}).write({"last_error": error})
        if for_administrator:
            return {account: error and (for_admin.get(account) or error) for account, error in outcome.items()}
        return outcome

    def _mailbox_probe_problem(self, answers, for_administrator=False):
        """What keeps the probed mailbox from being connected, in plain words for the user or,
        ``for_administrator``, for the administrator who started them; None when nothing does."""
        self.ensure_one()
        address = self._organization_address()
        user, settings, events = answers["user"], answers["settings"], answers["events"]
        if user["status"] == 404 or settings["status"] == 404:
            if for_administrator:
                return self.env._(
                    "Microsoft 365 has no mailbox %(address)s: set the user's Microsoft 365 mailbox (Settings > "
                    "Users > the user > Calendar tab).",
                    address=address,
                )
            return self.env._(
                "Microsoft 365 has no mailbox %(address)s: ask your administrator to set your Microsoft 365 mailbox "
                "on your user.",
                address=address,
            )
        failed = next((a for a in (user, settings, events) if not 200 <= a["status"] < 300), None)
        if failed is not None:
            reader_env = self.env if for_administrator else self.owner_env()
            return _mailbox_refusal_words(reader_env, address, failed, for_administrator=for_administrator)
        owner = user.get("body") or {}
        found = (owner.get("mail") or owner.get("userPrincipalName") or address).lower()
        taken = self._other_account_on(found, owner.get("id"))
        if taken:
            return self.env._(
                "The mailbox %(address)s is already connected to %(user)s in Odoo.",
                address=found,
                user=taken.user_id.name,
            )
        return None

    def _apply_mailbox_probe(self, answers):
        """Connect this account to the mailbox the probe found, or say why not (O1)."""
        self.ensure_one()
        problem = self._mailbox_probe_problem(answers)
        if problem:
            return problem
        address = self._organization_address()
        user, settings = answers["user"], answers["settings"]
        owner = user.get("body") or {}
        found = (owner.get("mail") or owner.get("userPrincipalName") or address).lower()
        self._leave_previous_mailbox(found)
        self.sudo().with_context(**{NO_RECONNECT_NOTICE: True}).write(
            {
                "connected_by": ORGANIZATION_MODE,
                "connection_state": "connected",
                "mailbox_address": found,
                "organization_lookup_address": address,
                "mailbox_user_id": owner.get("id") or False,
                "previous_mailbox_address": False,
                "mailbox_timezone": (settings.get("body") or {}).get("timeZone") or False,
                "token_cache": False,
                "last_error": False,
            }
        )
        self.env["o365.push.queue"]._wake_worker(self)
        return None

    def _organization_start(self):
        """Start Syncing in organisation mode (O1): connect first when needed, then start.
        Raises UserError with what is wrong when this one account cannot be connected."""
        self.ensure_one()
        if self.connection_state != "connected" or self._organization_mailbox_changed():
            error = self._connect_through_organization()[self]
            if error:
                raise UserError(error)
        if self.sync_state != "running":
            self._start_sync()

    def _organization_mailbox_changed(self):
        """A mailbox the organisation connected that is no longer the one the rules of O1 give
        this user (their email, or the Microsoft 365 mailbox an administrator set, changed since): checked at every
        Start, so that only the user's own mailbox is ever opened. No Graph call when it holds."""
        self.ensure_one()
        if self.connected_by != ORGANIZATION_MODE:
            return False  # the user's own sign-in proved the mailbox is theirs
        looked_up = self.organization_lookup_address or self.mailbox_address
        return looked_up != self._organization_address()

    @api.private
    def mailbox_out_of_reach(self, answer):
        """Graph refused the organisation's application this mailbox (403: outside its RBAC for
        Applications scope, or a permission withdrawn). Only an administrator can fix it: the
        mailbox stops until then, the user is told once (S7), and other mailboxes go on (O1)."""
        self.ensure_one()
        words = _mailbox_refusal_words(self.owner_env(), self.mailbox_address, answer)
        self.sudo().write({"connection_state": "reconnect", "last_error": words})

    def _other_account_on(self, address, owner_id=None):
        """Another user's account connected to this mailbox (by address, or by its owner's
        Microsoft 365 id), or an empty recordset: one mailbox belongs to one Odoo user."""
        same_mailbox = [("mailbox_address", "=", address)]
        if owner_id:
            same_mailbox = ["|", *same_mailbox, ("mailbox_user_id", "=", owner_id)]
        return self.sudo().search(
            [*same_mailbox, ("id", "!=", self.id), ("connection_state", "!=", "disconnected")], limit=1
        )

    def _leave_previous_mailbox(self, address):
        """Connecting ``address`` after another mailbox: forget the other one's links (S4)."""
        before = self.mailbox_address or self.previous_mailbox_address
        if before and before != address:
            self._forget_mailbox()

    def _forget_mailbox(self):
        """Another mailbox replaces the previous one: its links and waiting changes mean
        nothing there. Nothing is deleted in either calendar."""
        self.ensure_one()
        for model in ("o365.event.link", "o365.push.queue", "o365.event.exclusion"):
            self.env[model].sudo().search([("account_id", "=", self.id)]).unlink()
        # The old mailbox's subscription cannot be removed with the new sign-in.
        self.sudo().write({"subscription_to_remove": False, "delta_link": False, "delta_window_end": False})

    def _disconnect(self):
        """Stop syncing and forget the sign-in (S2); nothing is deleted on either side.

        No Graph call here, so Disconnect answers at once even when Graph does not
        (S4). The links stay: connecting the same mailbox again resumes them. The
        pull job removes the webhook subscription right after, with the tokens it
        still needs for that, then forgets them (engine/importer.py); without one
        to remove, the tokens go now.
        """
        for account in self:
            if account.sync_state == "running":
                account._stop_sync()
            account.sudo().write(
                {
                    "connection_state": "disconnected",
                    "previous_mailbox_address": account.mailbox_address or account.previous_mailbox_address,
                    "mailbox_address": False,
                    "mailbox_timezone": False,
                    "delta_link": False,
                    "last_error": False,
                }
            )
            if not account.sudo().subscription_to_remove:
                account.sudo().write({"token_cache": False})

    # -- administrators' health view (S7) -------------------------------------------------

    def _check_administrator(self):
        if not (self.env.su or self.env.user.has_group("base.group_system")):
            raise UserError(self.env._("Only administrators can control other users' sync."))

    def action_admin_stop_sync(self):
        """Stop the selected users' sync (both directions; nothing is deleted, S4)."""
        self._check_administrator()
        self.filtered(lambda account: account.sync_state == "running")._stop_sync()
        return True

    def action_admin_restart_sync(self):
        """Start the selected users' sync again; those who must reconnect first are left as they are.
        With the organisation's connection (O1) nobody needs to reconnect: their mailboxes are
        checked and connected again."""
        self._check_administrator()
        if self.env["o365.config"].azure_app().organization:
            return self._organization_start_users(self.user_id)
        ready = self.filtered(
            lambda account: account.connection_state == "connected" and account.sync_state != "running"
        )
        if not ready and self.filtered(lambda account: account.connection_state != "connected"):
            raise UserError(
                self.env._(
                    "Sync can only start for connected users: these users must connect (or reconnect) Microsoft 365 "
                    "themselves first, in My Profile."
                )
            )
        ready._start_sync()
        return True

    def action_admin_disconnect(self):
        """Disconnect the selected users: sync stops and Odoo forgets their sign-in (S2)."""
        self._check_administrator()
        self.filtered(lambda account: account.connection_state != "disconnected")._disconnect()
        return True

    @api.model
    def _organization_start_users(self, users):
        """Administrators start sync for many users at once (O1): each user's mailbox is checked
        and connected through the organisation's application, then syncs. Returns a notification
        saying how many started and, in plain words, why the others did not."""
        self._check_administrator()
        if not self.env["o365.config"].azure_app().organization:
            raise UserError(
                self.env._(
                    "Starting sync for other users needs the organisation-wide connection (Settings > Microsoft 365 "
                    "Sync > Connection). With per-user connections, each user connects from My Profile."
                )
            )
        accounts = self.browse([self._for_user(user).id for user in users if user._is_internal()])
        refused = {
            account: error
            for account, error in accounts.filtered(lambda account: account.connection_state != "connected")
            ._connect_through_organization(for_administrator=True)
            .items()
            if error
        }
        ready = accounts.filtered(lambda a: a.connection_state == "connected" and a.sync_state != "running")
        ready._start_sync()
        running = accounts.filtered(lambda a: a.sync_state == "running" and a.connection_state == "connected")
        lines = [self.env._("%(count)s of %(total)s users sync.", count=len(running), total=len(accounts))]
        lines += [f"{account.user_id.name}: {plain_words.words_of(error)}" for account, error in refused.items()]
        # The title says what happened (issue 23): not "started" when nobody did.
        if not running:
            title = self.env._("Microsoft 365 sync did not start")
        elif refused:
            title = self.env._("Microsoft 365 sync started for some users")
        else:
            title = self.env._("Microsoft 365 sync started")
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title,
                "message": "\n".join(lines),
                "type": "warning" if refused else "success",
                "sticky": bool(refused),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    # Not @api.model: the health list's header button sends the selected rows (or none), and
    # a model method would refuse that argument (issue 23). The rows play no part: the pause is
    # for everyone.
    def action_pause_all_sync(self):
        """Company-wide pause (S7): nothing goes to or comes from Outlook until Resume; changes wait."""
        self._check_administrator()
        self.env["ir.config_parameter"].sudo().set_param(PAUSE_PARAM, "1")
        _logger.warning("o365: all sync paused by %s", self.env.user.login)
        return {"type": "ir.actions.client", "tag": "soft_reload"}

    def action_resume_all_sync(self):
        """End the company-wide pause (S7); what waited goes out now. Like Pause, a button of the
        health list's header: the selected rows play no part."""
        self._check_administrator()
        self.env["ir.config_parameter"].sudo().set_param(PAUSE_PARAM, False)
        _logger.warning("o365: all sync resumed by %s", self.env.user.login)
        self.env["o365.push.queue"]._wake_worker()
        pulls = (
            self.env["ir.model.data"]
            .sudo()
            .search(
                [
                    ("module", "=", "o365_calendar_sync"),
                    ("model", "=", "ir.cron"),
                    ("name", "=like", "ir_cron_o365_pull%"),
                ]
            )
        )
        for cron in self.env["ir.cron"].sudo().browse(pulls.mapped("res_id")).exists():
            cron._trigger()
        return {"type": "ir.actions.client", "tag": "soft_reload"}


def _delete_subscriptions(client, subscription_ids):
    """After commit (no cursor): delete these Graph subscriptions, best effort (S9)."""
    for subscription_id in subscription_ids:
        try:
            client.delete_subscription(subscription_id)
        except (AuthError, GraphError, OSError) as exc:
            _logger.info("o365: a deleted user's subscription is left to expire (%s)", exc)


def _mailbox_refusal_words(env, address, answer, for_administrator=False):
    """Plain words for Graph refusing the organisation's application a mailbox (O1), for the
    user or, ``for_administrator``, for the administrator who can fix it (issue 23)."""
    body = answer.get("body") if isinstance(answer.get("body"), dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    detail = f"HTTP {answer.get('status')} {error.get('code', '')}: {error.get('message', '')}".strip()
    if answer.get("status") == 403 and for_administrator:
        words = env._(
            "The organisation's Microsoft 365 application may not open the mailbox %(address)s: add it to the "
            "mailboxes the application may reach (Exchange RBAC for Applications), or grant admin consent again "
            "in Settings > Microsoft 365 Sync.",
            address=address,
        )
    elif answer.get("status") == 403:
        words = env._(
            "The organisation's Microsoft 365 application may not open the mailbox %(address)s: it is outside the "
            "mailboxes the application may reach (Exchange RBAC for Applications), or a permission was not granted. "
            "Ask your administrator to add it to the application's scope and to grant admin consent.",
            address=address,
        )
    else:
        words = env._(
            "Microsoft 365 did not answer about the mailbox %(address)s: %(what)s",
            address=address,
            what=plain_words.explain_answer(answer)[0].what.in_lang(env.lang),
        )
    return plain_words.compose(words, detail)


def _reconnect_words(env, exc):
    """What the user reads when only they can bring their sync back (S7), in the language of
    ``env``; the detail stays for the log."""
    words = plain_words.explain_sign_in(str(exc), reconnect=True)
    return plain_words.compose(env._("Reconnect needed. %(words)s", words=words.sentence(env.lang)), str(exc))
