"""Odoo -> Outlook, step 5 of a push round (engine/pusher.py): apply Graph's answers.

Links made, updated or removed; rows done, retried with backoff for up to 24 hours
(``Retry-After`` a minimum), or failed with plain words on the record and the user's
sync status (E2, S7); a mailbox that answers nothing backs off as a whole, and one that
answers again resumes what waited (E2, E7).

A mixin of ``PushRound``: it uses the round's ``env``, ``cr``, ``queue``, ``now`` and
``stats``.
"""

import logging
import random
from datetime import UTC, datetime, timedelta

from ..utils import plain_words
from ..utils.graph_client import DUPLICATE_TRANSACTION, MALFORMED_ID, is_transient, parse_retry_after
from ..utils.settings import read_int
from .push_requests import _occurrence_key

_logger = logging.getLogger(__name__)

THROTTLED = 429
HEALTH_RESOLUTION = timedelta(seconds=60)  # "last successful exchange" is shown to the minute


class PushAnswers:
    """What Graph's answers do, in a push round (``PushRound`` in engine/pusher.py)."""

    def apply_answer(self, account, row, request, answer):
        """Apply Graph's answer to this row's request: "done", "again" (a next step is due now),
        or "failed" (the caller records the failure)."""
        status, body = answer["status"], answer.get("body") or {}
        code = _error_code(answer)
        kind = request["kind"]
        if kind == "answer_lookup":
            if not 200 <= status < 300:
                return "failed"
            copy = next((e for e in body.get("value") or [] if e.get("id") and not e.get("isOrganizer")), None)
            if not copy:
                return "done"  # no invitation in this mailbox (declined and gone): nothing to answer
            row.write({"graph_event_id": copy["id"]})
            return "again"
        if kind == "answer":
            # 404: the copy went meanwhile (declined in Outlook): nothing to answer. Never a link (A17).
            return "done" if 200 <= status < 300 or status in (404, 410) else "failed"
        if kind == "occurrence":
            if not 200 <= status < 300:
                return "failed"
            return self.apply_occurrence(account, row, body.get("value") or [], answer)
        if kind == "lookup":
            if not 200 <= status < 300:
                return "failed"
            return self.apply_lookup(account, row, body.get("value") or [])
        if kind == "create" and code == DUPLICATE_TRANSACTION:  # some tenants answer 409, most 400
            if row.create_state == "absent":
                # Created once, looked for since and not found: the user deleted it in Outlook (A6).
                self.apply_outlook_gone(account, row)
                return "done"
            row.write({"create_state": "sent"})
            return "again"
        if code == MALFORMED_ID and kind in ("update", "delete"):
            # A stored id Graph cannot read is a bad link, not a deletion in Outlook: forget
            # it and find the record's event by its stamp.
            _logger.warning("o365: unreadable Outlook event id for %s,%s; looking it up", row.res_model, row.res_id)
            self.queue.find_link(account, row.res_model, row.res_id).unlink()
            row.write({"graph_event_id": False, "create_state": "sent"})
            return "again"
        if 200 <= status < 300 or (kind == "delete" and status in (404, 410)):
            self.apply_success(account, row, request, body)
            return "done"
        if kind == "update" and status == 404:
            # Deleted in Outlook before we heard of it: treat it as the user's removal (A6).
            self.apply_outlook_gone(account, row)
            return "done"
        if kind == "create" and row.create_state == "absent" and (status == 0 or status >= 500):
            row.write({"create_state": "sent"})  # it may have been made: look again before the next create
        return "failed"

    def apply_lookup(self, account, row, found):
        """Link the event a lost create made, or note that there is none."""
        link = self.queue.find_link(account, row.res_model, row.res_id)
        taken = set(
            self.env["o365.event.link"]
            .sudo()
            .search([("account_id", "=", account.id), ("graph_event_id", "in", [e.get("id") for e in found])])
            .filtered(lambda lk: lk != link)
            .mapped("graph_event_id")
        )
        event = next((e for e in found if e.get("id") and e["id"] not in taken), None) or (found[0] if found else None)
        if row.operation == "delete":
            if not event:
                return "done"  # the create never reached Outlook: nothing to remove
            row.write({"graph_event_id": event["id"], "create_state": "unsent"})
            return "again"
        if not event:
            row.write({"create_state": "absent"})
            return "again"
        self.apply_success(account, row, {"kind": "create"}, event)
        row.write({"create_state": "unsent"})
        # The event holds the version that create carried; a newer one is pushed next.
        self.cr.execute("SELECT seq FROM o365_push_queue WHERE id = %s", [row.id])
        return "done" if self.cr.fetchone()[0] == row.create_seq else "again"

    def apply_occurrence(self, account, row, instances, answer):
        """Link the Outlook occurrence of this row's date, or say it is gone."""
        _recurrence_id, original = _occurrence_key(row.occurrence_of)
        found = next((e for e in instances if _graph_instant(e.get("originalStart")) == original), None)
        if row.operation == "delete":
            if not found:
                return "done"  # that date is not in the series (any more): nothing to cancel
            row.write({"graph_event_id": found["id"]})
            return "again"
        if not found:
            answer.update(
                _error_answer(404, "ErrorItemNotFound", "This date is no longer part of the series in Outlook.")
            )
            return "failed"
        Link = self.env["o365.event.link"].sudo()
        link = self.queue.find_link(account, row.res_model, row.res_id)
        values = {"graph_event_id": found["id"], "change_key": found.get("changeKey"), "ical_uid": found.get("iCalUId")}
        if link:
            link.write(values)
        else:
            Link.create({**values, "account_id": account.id, "res_model": row.res_model, "res_id": row.res_id})
        return "again"

    def apply_success(self, account, row, request, body):
        """Graph made, changed or removed the event: the record's link follows."""
        Link = self.env["o365.event.link"].sudo()
        link = self.queue.find_link(account, row.res_model, row.res_id)
        if request["kind"] == "delete":
            event_id = row.graph_event_id or link.graph_event_id
            Link.search([("account_id", "=", account.id), ("graph_event_id", "=", event_id)]).unlink()
            return
        values = {
            "graph_event_id": body.get("id"),
            "change_key": body.get("changeKey"),
            "ical_uid": body.get("iCalUId"),
        }
        record = self.env[row.res_model].browse(row.res_id)  # an o365.calendar.sync record
        if request["kind"] == "create" and values["ical_uid"]:
            record._o365_absorb_logged_copies(values["ical_uid"])
        if record.exists():
            record._o365_pushed(account, body)  # e.g. the Teams join link Graph made (A14)
        if link:
            link.write({k: v for k, v in values.items() if v})
            return
        taken = Link.search([("account_id", "=", account.id), ("graph_event_id", "=", values["graph_event_id"])])
        if taken:
            # Linked to something else meanwhile: Outlook's event is this record's (it carries its stamp).
            _logger.warning(
                "o365: Outlook event of %s,%s was linked to %s,%s; relinked",
                row.res_model,
                row.res_id,
                taken.res_model,
                taken.res_id,
            )
            taken.write({**values, "res_model": row.res_model, "res_id": row.res_id, "origin": "odoo"})
        else:
            Link.create({**values, "account_id": account.id, "res_model": row.res_model, "res_id": row.res_id})

    def apply_outlook_gone(self, account, row):
        """The event is gone from Outlook: the user removed it there (A6)."""
        link = self.queue.find_link(account, row.res_model, row.res_id)
        record = self.env[row.res_model].browse(row.res_id).exists()
        if record:
            record._o365_apply_outlook_removal(link)
        link.unlink()

    def apply_failure(self, account, row, answer, transient):
        """Wait and try again while the failure may pass (for up to 24 hours), else stop with
        the reason on the record, the queue and the user's sync status (SPEC E2). Returns the
        words for the user's sync status."""
        self.cr.execute("SELECT attempts, failing_since FROM o365_push_queue WHERE id = %s FOR UPDATE", [row.id])
        current = self.cr.fetchone()
        if not current:
            return None  # the record was unlinked from Outlook meanwhile
        attempts, failing_since = current[0] + 1, current[1] or self.now
        status, message = answer["status"], _answer_message(answer)
        env = account.owner_env()  # the user's sync status, in their language (issue 23)
        what = plain_words.reword(message, env.lang)
        values = {"attempts": attempts, "failing_since": failing_since, "last_status": status, "last_error": message}
        retry_hours = read_int(self.env, "push_retry_hours")
        if transient and self.now - failing_since < timedelta(hours=retry_hours):
            retry_after = answer.get("retry_after")
            if retry_after is None:
                retry_after = parse_retry_after(answer.get("headers"))
            wait = self.retry_delay(attempts, retry_after)
            row.write({**values, "next_attempt_at": self.now + timedelta(seconds=wait)})
            self.stats["retried"] += 1
            return plain_words.compose(
                env._(
                    "A calendar change is waiting for Outlook: %(what)s Odoo tries again by itself; nothing is lost.",
                    what=what,
                ),
                plain_words.detail_of(message),
            )
        if transient:
            words = env._(
                "An Outlook calendar update could not be delivered for %(hours)s hours: %(what)s "
                "It goes out by itself once Outlook answers again, or use Retry.",
                hours=retry_hours,
                what=what,
            )
        else:
            words = env._(
                "Outlook refused a calendar update: %(what)s %(todo)s",
                what=what,
                todo=plain_words.explain_answer(answer)[0].todo.in_lang(env.lang),
            )
        words = plain_words.compose(words, plain_words.detail_of(message))
        row.write({**values, "state": "failed", "resume_on_recovery": transient})
        record = self.env[row.res_model].browse(row.res_id).exists()
        if record:
            record._o365_push_failed(account, words)
        self.stats["failed"] += 1
        return words

    def retry_delay(self, attempts, retry_after):
        """Seconds before the next try: capped exponential backoff, never sooner than Graph's
        Retry-After (a minimum, not a promise: SPEC E2)."""
        base = read_int(self.env, "push_backoff_base")
        cap = read_int(self.env, "push_backoff_cap")
        backoff = min(cap, base * 2 ** (attempts - 1)) * random.uniform(0.8, 1.0)  # spread workers apart
        return max(backoff, float(retry_after or 0.0))

    def back_off_mailbox(self, account, until):
        """Nothing got through: every waiting change of the mailbox waits until ``until``."""
        self.cr.execute(
            """UPDATE o365_push_queue SET next_attempt_at = GREATEST(next_attempt_at, %s)
               WHERE account_id = %s AND state = 'pending'""",
            [until, account.id],
        )
        self.queue.invalidate_model(["next_attempt_at"])

    def resume_after_recovery(self, account):
        """The mailbox answers again: changes that waited out a passing failure go now (SPEC E2).
        A Retry-After stays honoured: throttled rows keep their wait."""
        self.cr.execute(
            """UPDATE o365_push_queue
               SET state = 'pending', next_attempt_at = %(now)s, attempts = 0, failing_since = NULL,
                   resume_on_recovery = false
               WHERE account_id = %(account)s AND COALESCE(last_status, 0) != %(throttled)s
                 AND ((state = 'pending' AND attempts > 0 AND next_attempt_at > %(now)s)
                      OR (state = 'failed' AND resume_on_recovery))""",
            {"now": self.now, "account": account.id, "throttled": THROTTLED},
        )
        self.queue.invalidate_model()

    def note_health(self, account, success_at, error):
        """Record a push outcome on the user's sync status, writing the account row only when
        what it shows changes (push and pull both write it: fewer writes, fewer conflicts), and
        logging one line per change of state rather than one per try (SPEC E7)."""
        account = account.sudo()
        values = {}
        if success_at and (not account.last_success_at or success_at - account.last_success_at > HEALTH_RESOLUTION):
            values["last_success_at"] = success_at
        if (error or False) != (account.last_error or False):
            values["last_error"] = error or False
            if error and not account.last_error:
                _logger.warning("o365: Outlook push for sync account %s is failing: %s", account.id, error)
            elif not error:
                _logger.info("o365: Outlook push for sync account %s works again", account.id)
        if values:
            account.write(values)


def _graph_instant(value):
    """Graph's originalStart ("2031-11-04T09:00:00Z", DateTimeOffset) as naive UTC, or None."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def transient_answer(answer):
    """Whether a failed answer may pass by itself: the Graph layer's one definition (issue 24)."""
    return is_transient(answer.get("status"), _error_code(answer))


def _error_answer(status, code, message, retry_after=None):
    return {"status": status, "body": {"error": {"code": code, "message": message}}, "retry_after": retry_after}


def _error_code(answer):
    body = answer.get("body")
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def _answer_message(answer):
    """What happened, in plain words, then the technical detail (utils/plain_words.py)."""
    words, detail = plain_words.explain_answer(answer)
    return plain_words.compose(words.what, detail)
