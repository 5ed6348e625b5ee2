"""What the administrators' health view needs from the push queue (S7, issue 15): the
company-wide pause of the push job, and a failed row's error in plain words.

The account's part moved to o365.sync.account (the pause of the pull crons) and
engine/importer.py (errors in plain words, 'reconnect' for a refused sign-in). What is
left belongs to the push queue: it moves to models/o365_push_queue.py, and then this file
goes (issue 14).
"""

import logging

from odoo import api, fields, models

from ..utils import plain_words

_logger = logging.getLogger(__name__)


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
