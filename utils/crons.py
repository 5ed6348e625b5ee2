"""The sync's crons as both layers name them: the shards of the push and pull jobs, and how a
cron is woken.

A lower layer: the records wake the crons when they queue work (models/o365_push_queue.py,
models/o365_pull_request.py) and the jobs wake them for what they left (engine/); the
crons' code itself is engine/cron.py.
"""

from datetime import timedelta

from odoo import fields

SHARDS = 4  # the crons of data/push_cron_data.xml and data/pull_cron_data.xml
PUSH_CRON_XMLIDS = (
    "o365_calendar_sync.ir_cron_o365_push",
    *(f"o365_calendar_sync.ir_cron_o365_push_shard_{k}" for k in range(1, SHARDS)),
)
PULL_CRON_XMLIDS = (
    "o365_calendar_sync.ir_cron_o365_pull",
    *(f"o365_calendar_sync.ir_cron_o365_pull_shard_{k}" for k in range(1, SHARDS)),
)


def wake_cron(env, cron_xmlid, at=None):
    """Wake this cron at ``at`` (a naive UTC datetime; now without it): an ir.cron.trigger row,
    committed with the caller's transaction; cron workers are told by a post-commit hook.

    A trigger, not ``ir.cron._notify_progress``: Odoo re-runs a job that reports remaining
    work up to ten times within the same cron-worker pass, and the cron time limit covers
    that whole pass, so those re-runs would add up past it. A trigger is taken at the next
    pass, by this worker or another one."""
    cron = env.ref(cron_xmlid, raise_if_not_found=False)
    if cron:
        cron.sudo()._trigger(at)  # pylint: disable=protected-access


def wake_cron_in(env, cron_xmlid, seconds):
    """Wake this cron in ``seconds``."""
    wake_cron(env, cron_xmlid, fields.Datetime.now() + timedelta(seconds=seconds))
