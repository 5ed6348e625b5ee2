"""o365.sync.account: the administrators' health view (SPEC S7).

Each account's health, its waiting and failed changes and its last error in plain words
(computed, never stored); the list's actions: stop, restart or disconnect the selected
users, and the company-wide pause (whose setting o365.config reads, models/o365_config.py).
"""

import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..utils import plain_words
from ..utils.settings import USER_MODE
from .o365_config import PAUSE_PARAM

_logger = logging.getLogger(__name__)

# A running sync without a live subscription this long after Start is shown as late (issue 28).
DEAF_AFTER = timedelta(minutes=2)


class O365SyncAccountHealth(models.Model):
    _inherit = "o365.sync.account"

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
        """True while all sync is paused (S7) or off in a neutralized copy (S8): the setting's
        reader is o365.config's; the jobs and the queues ask the account."""
        return self.env["o365.config"].sync_paused()

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
            return self.env["o365.sync.start.users"]._start_users(self.user_id)
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
