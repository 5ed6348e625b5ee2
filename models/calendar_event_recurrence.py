"""Occurrences of a recurring meeting made in Odoo: they go to Outlook as ONE series (SPEC A16).

Kept apart from models/calendar_event.py (other work changes that file): this class
only redirects what an occurrence would push on its own to its ``calendar.recurrence``
(models/calendar_recurrence.py), whose push is the series master.

- Confirm of one occurrence (or of several) confirms every occurrence of its series and
  queues the series once; a rule Outlook cannot hold is refused first, in plain words.
- An ERP change of an occurrence ("all events": Odoo writes every occurrence) queues the
  series: the master changes, the attendees get one update.
- Odoo's "all events" change of the time or the rule deletes the recurrence and makes a
  new one from the first occurrence (``_rewrite_recurrence``): the Outlook series moves
  to the new recurrence and is updated, never deleted and re-sent.
- "This and following events" (``_update_future_events``): the old recurrence ends the
  day before (its master's range), the new recurrence is a new series.
- The occurrences' badge is their series'.
"""

from collections import defaultdict

from odoo import fields, models

from ..utils.mappers.recurrence import local_time
from .calendar_recurrence import SERIES_MOVING, SERIES_SCOPE


class CalendarEventRecurrence(models.Model):
    _inherit = "calendar.event"

    o365_occurrence_start = fields.Datetime(
        "Start in the Outlook Series",
        copy=False,
        readonly=True,
        help="Where this occurrence is in its Outlook series (its original start there).",
    )

    def _o365_in_series(self):
        """The occurrences of self that belong to a recurrence: Outlook holds them through their series."""
        return self.filtered("recurrence_id")

    def action_o365_confirm(self):
        """A16: confirming an occurrence confirms its whole series, once, if Outlook can hold its rule."""
        series = self._o365_in_series().recurrence_id
        series._o365_check_expressible()
        return super(CalendarEventRecurrence, self | series.calendar_event_ids).action_o365_confirm()

    def _o365_queue_changes(self, asked=False, previous_organisers=None, changed=None):
        """An occurrence's change goes to its series: the whole series when every occurrence
        changed ("all events", Confirm), that occurrence alone otherwise ("this event": an
        exception in Outlook, only its attendees' copies of that date are updated)."""
        if self.env.context.get(SERIES_MOVING):
            return None  # Odoo rebuilds a recurrence: its series is queued once that is done
        in_series = self._o365_in_series()
        rest = self - in_series
        if rest:
            super(CalendarEventRecurrence, rest)._o365_queue_changes(
                asked=asked, previous_organisers=previous_organisers, changed=changed
            )
        by_series = defaultdict(lambda: self.browse())
        for meeting in in_series:
            by_series[meeting.recurrence_id] |= meeting
        for recurrence, meetings in by_series.items():
            whole = changed is None or self.env.context.get(SERIES_SCOPE)
            if whole or not recurrence._o365_accounts_holding():
                recurrence._o365_queue_changes(asked=asked)
                if changed is not None:
                    # Outlook keeps an exception's own values when its master changes: the occurrences
                    # changed on their own before get Odoo's values too, so Outlook stays Odoo's one for one.
                    occurrences = recurrence.calendar_event_ids
                    own = set(occurrences._o365_links().mapped("res_id"))
                    occurrences.filtered(lambda m, own=own: m.id in own)._o365_queue_occurrences("upsert")
            else:
                meetings._o365_queue_occurrences("upsert")
        return None

    def _o365_meeting_mailbox(self):
        """An occurrence goes through Outlook with its series, by the series' rule (A16, A14)."""
        self.ensure_one()
        if self.recurrence_id:
            return self.recurrence_id._o365_series_mailbox()
        return super()._o365_meeting_mailbox()

    def _o365_queue_occurrences(self, operation):
        """Queue a change ("upsert": an exception) or the removal ("delete": that date is
        cancelled) of these occurrences alone, in the mailboxes holding their series."""
        Queue = self.env["o365.push.queue"].sudo()
        for meeting in self.sudo():
            recurrence, original = meeting.recurrence_id, meeting.o365_occurrence_start
            if not recurrence or not original:
                continue
            for account in recurrence._o365_accounts_holding():
                Queue._enqueue(account, meeting, operation)
                Queue.search(
                    [("account_id", "=", account.id), ("res_model", "=", meeting._name), ("res_id", "=", meeting.id)]
                ).write({"occurrence_of": f"{recurrence.id}|{original.isoformat()}"})

    def _o365_queue_removal(self):
        """Deleting one occurrence cancels that date in Outlook (A16); the series stays."""
        alone = self.filtered(
            lambda m: m.recurrence_id and m.o365_occurrence_start and m.recurrence_id._o365_accounts_holding()
        )
        result = super(CalendarEventRecurrence, self - alone)._o365_queue_removal()
        for recurrence in alone.recurrence_id:
            mine = alone.filtered(lambda m, r=recurrence: m.recurrence_id == r)
            if recurrence.calendar_event_ids.filtered("active") - mine:
                mine._o365_queue_occurrences("delete")
            else:
                recurrence._o365_queue_removal()  # its last occurrences go: the series goes
        return result

    def write(self, vals):
        """Archiving occurrences cancels their dates; archiving them all removes the series (A16).
        A write for "all events" or "this and following" changes the series, never one occurrence."""
        scope = vals.get("recurrence_update") in ("all_events", "future_events")
        if scope and not self.env.context.get(SERIES_SCOPE) and self.filtered("recurrence_id"):
            return self.with_context(**{SERIES_SCOPE: True}).write(vals)
        archived = self.browse()
        if vals.get("active") is False and not self.env.context.get(SERIES_MOVING) and not self._o365_from_sync():
            archived = self.filtered(lambda m: m.active and m.recurrence_id)
        series = archived.recurrence_id
        result = super().write(vals)
        for recurrence in series:
            if recurrence.calendar_event_ids.filtered("active"):
                archived.filtered(lambda m, r=recurrence: m.recurrence_id == r)._o365_queue_occurrences("delete")
            else:
                recurrence._o365_queue_removal()
        return result

    def _rewrite_recurrence(self, values, time_values, recurrence_values):
        """ "All events" with a new time or rule: Odoo replaces the recurrence; the series follows it."""
        old = self.recurrence_id
        links = old._o365_links() if old else self.env["o365.event.link"]
        if not links:
            return super()._rewrite_recurrence(values, time_values, recurrence_values)
        base_event = old.base_event_id or old._get_first_event(include_outliers=False)
        result = super(CalendarEventRecurrence, self.with_context(**{SERIES_MOVING: old.id}))._rewrite_recurrence(
            values, time_values, recurrence_values
        )
        self._o365_series_moved(old, base_event.recurrence_id, links)
        return result

    def _update_future_events(self, values, time_values, recurrence_values):
        """ "This and following events": the old series ends the day before (its recurrence's end
        date), a new series starts here (a new recurrence, queued when Odoo creates it)."""
        old = self.recurrence_id
        if not old or not old._o365_links():
            return super()._update_future_events(values, time_values, recurrence_values)
        result = super(CalendarEventRecurrence, self.with_context(**{SERIES_MOVING: old.id}))._update_future_events(
            values, time_values, recurrence_values
        )
        if old.exists():
            old._o365_queue_changes()
        if self.recurrence_id:
            self.recurrence_id._o365_restart_occurrences()
            self.recurrence_id._o365_queue_changes()
        return result

    def _o365_series_moved(self, old, new, links):
        """Odoo replaced recurrence ``old`` by ``new``: its Outlook series (``links``) is now
        ``new``'s and gets ``new``'s rule and times; without ``new`` it is deleted."""
        Queue = self.env["o365.push.queue"].sudo()
        waiting = Queue.search([("res_model", "=", old._name), ("res_id", "=", old.id)])
        if new and new != old:
            waiting.unlink()
            links.sudo().write({"res_id": new.id})
            # Odoo made its occurrences anew; Outlook regenerates them when the master's start or
            # pattern changes (GRAPH_FACTS §11): each takes its place in the series again.
            new._o365_restart_occurrences()
            new._o365_queue_changes()
            return
        if old.exists() and new == old:
            old._o365_queue_changes()  # Odoo wrote every occurrence: the master changes
            return
        for link in links:
            Queue._enqueue(link.account_id, old, "delete")

    def _o365_graph_payload(self, account):
        """A meeting made in Odoo is created in its organiser's zone, not UTC (A16 item 6, E5): Outlook
        shows its local time and a series keeps it across daylight-saving changes."""
        payload = super()._o365_graph_payload(account)
        if not payload or self.allday or "start" not in payload or "end" not in payload:
            return payload
        if self._o365_links(account)[:1].origin == "outlook":
            return payload  # Outlook's meeting is never re-zoned (A10)
        zone = self.user_id.tz or (account.mailbox_timezone if "/" in (account.mailbox_timezone or "") else None)
        if zone:
            payload["start"] = local_time(self.start, zone)
            payload["end"] = local_time(self.stop, zone)
        return payload

    def _o365_sync_badges(self):
        """An occurrence held through its series shows its series' status."""
        badges = super()._o365_sync_badges()
        in_series = self._o365_in_series()
        if in_series:
            series = in_series.recurrence_id._o365_sync_badges()
            for meeting in in_series:
                own = badges.get(meeting.id)
                if (not own or own[0] == "none") and meeting.recurrence_id.id in series:
                    badges[meeting.id] = series[meeting.recurrence_id.id]
        return badges
