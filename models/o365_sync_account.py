"""o365.sync.account: one user's link to a Microsoft 365 mailbox, its fields and the options
the user sets (SPEC S2, S5, B7), and what guards them (the owner's writes, the 'reconnect'
notice).

The model's other jobs are files of one ``_inherit`` each:
``o365_sync_account_graph.py`` (the Graph client: the user's sign-in or the organisation's
application), ``o365_sync_account_connection.py`` (Connect with a sign-in, Disconnect),
``o365_sync_account_organization.py`` (connecting mailboxes through the organisation's
application, O1), ``o365_sync_account_sync.py`` (Start and Stop, departures, the pull job's
entry points) and ``o365_sync_account_health.py`` (the administrators' health view, S7).
"""

import logging

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, ValidationError

from ..utils import plain_words
from ..utils.settings import ORGANIZATION_MODE, USER_MODE

_logger = logging.getLogger(__name__)

# Fields that hold secrets or sync cursors: readable by administrators only, and
# never placed in a view (SPEC S5).
SYSTEM_ONLY = "base.group_system"
# Context key: a write that must not notify the user of a 'reconnect' (e.g. _connect
# putting back the state it found).
NO_RECONNECT_NOTICE = "o365_no_reconnect_notice"
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
    and the sync jobs call, over the files this module's docstring lists. The pull job's
    queue and wake-up are o365.pull.request's (models/o365_pull_request.py), as the push
    job's are o365.push.queue's; the jobs' crons are engine/cron.py, the pull itself
    engine/importer.py (its subscriptions engine/subscriptions.py, its page ingestion
    engine/pull_pages.py), the push engine/pusher.py.
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

    @api.private
    def owner_env(self):
        """The environment in the language of the account's user: the words stored for them to read
        later (last errors, notes, notifications), whoever or whatever (a cron) writes them (issue 23)."""
        lang = self[:1].sudo().user_id.lang or "en_US"
        return self.env(context=dict(self.env.context, lang=lang))

    @api.private
    def is_syncing(self):
        """True while this mailbox is connected and its sync runs: the jobs may work on it."""
        self.ensure_one()
        return self.connection_state == "connected" and self.sync_state == "running"
