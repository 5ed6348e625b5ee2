"""What the administrators' controls and the user's notices need from the jobs (S7, issue 15).

Loaded after the push queue and the inbound side, so these overrides wrap theirs:
- the company-wide pause (``PAUSE_PARAM``): the push, pull and subscription-renewal
  jobs do nothing while it is set; changes wait in the queue and go out on Resume;
- a pull or subscription renewal whose sign-in Microsoft refused sets the account to
  'reconnect' for good (the pull runs in a savepoint that a failed sign-in rolls back,
  state included), so no Graph or token request is tried again for that mailbox until
  the user reconnects, and the user is notified once (o365.sync.account.write);
- the errors the pull records are stored in plain words, the technical detail after.
"""

import logging

from odoo import api, fields, models

from ..utils import plain_words
from ..utils.auth import AuthError
from .o365_sync_account import _reconnect_words

_logger = logging.getLogger(__name__)


class O365SyncAccountHealth(models.Model):
    _inherit = "o365.sync.account"

    @api.model
    def _cron_pull(self, *args, **kwargs):
        if self._sync_paused():
            _logger.info("o365: pull skipped, all sync is paused")
            return None
        return super()._cron_pull(*args, **kwargs)

    @api.model
    def _cron_renew_subscriptions(self, *args, **kwargs):
        if self._sync_paused():
            return None
        return super()._cron_renew_subscriptions(*args, **kwargs)

    def _o365_run_requests(self, *args, **kwargs):
        if self._sync_paused():
            return False  # the queued requests stay for Resume
        return super()._o365_run_requests(*args, **kwargs)

    def _o365_report_error(self, what, exc):
        if isinstance(exc, AuthError) and exc.reconnect:
            _logger.warning("o365 account %s: %s: %s", self.id, what, exc)
            if self.sudo().connection_state == "connected":
                self.sudo().write({"connection_state": "reconnect", "last_error": _reconnect_words(exc)})
            return
        words = plain_words.explain_exception(exc)
        _logger.warning("o365 account %s: %s: %s", self.id, what, exc)
        self.sudo().write({"last_error": plain_words.compose(f"{what}. {words.sentence()}", str(exc))})


class O365PushQueueHealth(models.Model):
    _inherit = "o365.push.queue"

    @api.model
    def _cron_push(self, *args, **kwargs):
        if self.env["o365.sync.account"]._sync_paused():
            _logger.info("o365: push skipped, all sync is paused")
            return {}
        return super()._cron_push(*args, **kwargs)

    last_error_words = fields.Text("Error", compute="_compute_o365_words")
    last_error_detail = fields.Text("Technical Details", compute="_compute_o365_words")
    record_name = fields.Char("Record", compute="_compute_o365_words")

    @api.depends("last_error", "res_model", "res_id")
    def _compute_o365_words(self):
        for row in self:
            words, detail = plain_words.split(row.last_error)
            row.last_error_words = words or False
            row.last_error_detail = detail or False
            record = self.env[row.res_model].browse(row.res_id).exists() if row.res_model in self.env else None
            row.record_name = record.sudo().display_name if record else f"{row.res_model},{row.res_id}"
