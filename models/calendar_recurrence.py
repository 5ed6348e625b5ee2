"""Recurring meetings made in Odoo: one Outlook series per ``calendar.recurrence`` (SPEC A16).

Odoo keeps a recurring meeting as one ``calendar.recurrence`` and one ``calendar.event``
per occurrence; Outlook as one series master carrying a ``patternedRecurrence`` (GRAPH_FACTS
§11). The recurrence is the synced record: its link is the series master in the
organiser's mailbox, its push is the master (the first occurrence's meeting, in the
series' time zone, with the rule mapped by utils/mappers/recurrence.py). Its occurrences
queue their recurrence instead of themselves (models/calendar_event_recurrence.py), so
attendees get one invitation for the series, and one update per change of the series,
never one per date.

What follows from Odoo's own recurrence code:

- Confirm of any occurrence confirms them all and queues the series (A16);
- a change of the rule (count, end date, days, ...) writes the recurrence: the master's
  range and pattern follow;
- "this and following events" ends the old recurrence the day before (``_stop_at``
  writes its end date: the old master's range follows) and creates a new recurrence
  (queued on create: a new series from that date);
- deleting the series (``action_mass_deletion('all_events')``) unlinks the recurrence:
  the series is deleted in Outlook.
"""

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..utils.graph_event import GraphEvent, parse_stamp
from ..utils.mappers import recurrence as rec_mapper
from .o365_calendar_sync import SYNC_CONTEXT

# The rule's fields: a change of one changes the Outlook series (its pattern or range).
RULE_FIELDS = frozenset(
    {
        "rrule_type",
        "interval",
        "end_type",
        "count",
        "until",
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
        "month_by",
        "day",
        "weekday",
        "byday",
        "event_tz",
    }
)
# Context key: Odoo is rebuilding this recurrence's events (a rewrite or a split); its
# events queue nothing on their own meanwhile, and the series keeps its link.
SERIES_MOVING = "o365_series_moving"
# Context key: the write is Odoo's "all events" or "this and following events" choice.
SERIES_SCOPE = "o365_series_scope"


class CalendarRecurrence(models.Model):
    """A recurring Odoo meeting as one Outlook series (A16)."""

    _name = "calendar.recurrence"
    _inherit = ["o365.calendar.sync", "calendar.recurrence"]
    _o365_pushed_fields = RULE_FIELDS

    o365_series_start = fields.Datetime(
        "Start of the Outlook Series",
        copy=False,
        readonly=True,
        help="The first occurrence's start the Outlook series was made with (its master keeps it even when that "
        "occurrence is deleted in Odoo).",
    )

    # -- the series' first occurrence, zone and rule ---------------------------------------------

    def _o365_first_event(self):
        """The occurrence that carries the series' times, attendees and text (its master)."""
        self.ensure_one()
        events = self.calendar_event_ids.filtered("active").sorted("start")
        return events[:1]

    def _o365_zone(self):
        """The series' time zone: Odoo computes the occurrences in ``event_tz`` (or the
        organiser's zone); Outlook must use the same one so both keep the local time across
        daylight-saving changes (A16 item 6, E5)."""
        self.ensure_one()
        first = self._o365_first_event()
        return self.event_tz or (first.user_id.tz if first else False) or self.env.user.tz or "UTC"

    def _o365_rule(self):
        """Odoo's rule as plain data for the mapper."""
        self.ensure_one()
        first = self._o365_first_event()
        zone = self._o365_zone()
        start = self.o365_series_start or first.start
        first_date = first.start_date if first.allday else rec_mapper.local_date(start, zone)
        lang = self.env["res.lang"]._get_data(code=first.user_id.lang or self.env.user.lang or "en_US")
        week_start = int(lang.week_start or 1) - 1 if lang else 0
        return rec_mapper.RuleData(
            rrule_type=self.rrule_type,
            first_date=first_date,
            interval=self.interval,
            end_type=self.end_type,
            count=self.count,
            until=self.until,
            weekdays=[day for day in rec_mapper.ODOO_DAYS if self[day]],
            month_by=self.month_by,
            day=self.day,
            byday=self.byday or "",
            weekday=self.weekday or "",
            week_start=week_start,
            zone=zone,
        )

    def _o365_check_expressible(self):
        """Refuse, in plain words, a rule Outlook cannot hold as Odoo does (A16 item 5)."""
        words = {
            rec_mapper.DAY_OF_MONTH_TOO_LATE: self.env._(
                "Outlook cannot repeat a meeting monthly on the 29th, 30th or 31st as Odoo does: Odoo skips "
                "the months without that day, Outlook moves it to the month's last day. Choose a day up to the "
                "28th, or a weekday of the month (for example the last Friday)."
            ),
            rec_mapper.LEAP_DAY_YEARLY: self.env._(
                "Outlook cannot repeat a meeting every year on 29 February as Odoo does (Odoo skips the years "
                "without that day). Choose another date."
            ),
            rec_mapper.NO_WEEKDAY: self.env._("The repetition needs a day of the week."),
            rec_mapper.BAD_INDEX: self.env._(
                "Outlook repeats a weekday of the month only as the first, second, third, fourth or last."
            ),
            rec_mapper.UNKNOWN_PATTERN: self.env._("Outlook cannot hold this kind of repetition."),
            rec_mapper.UNKNOWN_END: self.env._("Outlook cannot hold this end of the repetition."),
        }
        for recurrence in self:
            if not recurrence._o365_first_event():
                continue
            reasons = rec_mapper.inexpressible(recurrence._o365_rule())
            if reasons:
                raise UserError(
                    self.env._(
                        "This recurring meeting cannot be sent to Outlook as it repeats in Odoo (%(rule)s): %(why)s",
                        rule=recurrence.name or "",
                        why=" ".join(words[reason] for reason in reasons),
                    )
                )

    # -- the sync contract (models/o365_calendar_sync.py) ----------------------------------------

    def _o365_owner_account(self):
        """The organiser's account (of the first occurrence), syncing or not (S4)."""
        self.ensure_one()
        first = self._o365_first_event()
        return first._o365_owner_account() if first else None

    def _o365_queue_changes(self, asked=False):
        """The series goes to the organiser's mailbox once its meeting is confirmed (A10, A16)."""
        Queue = self.env["o365.push.queue"].sudo()
        for recurrence in self.sudo():
            first = recurrence._o365_first_event()
            holding = recurrence._o365_accounts_holding()
            target = None
            if recurrence.calendar_event_ids.filtered("o365_confirmed"):
                target = recurrence._o365_series_mailbox(asked)
            for holder in holding:
                if holder != target:
                    Queue._enqueue(holder, recurrence, "delete")
            if target:
                Queue._enqueue(target, recurrence, "upsert")
                recurrence._o365_stamp_occurrences()
                if not recurrence.o365_series_start:
                    recurrence.with_context(**{SYNC_CONTEXT: True}).write({"o365_series_start": first.start})
                if "need_sync_m" in recurrence._fields and recurrence.need_sync_m:
                    # S6: Odoo's own microsoft_calendar leaves the series this module keeps.
                    recurrence.with_context(**{SYNC_CONTEXT: True}).write({"need_sync_m": False})

    def _o365_series_mailbox(self, asked=False):
        """The organiser's mailbox the series goes through, or None: the meetings' one rule
        (calendar.event ``_o365_meeting_mailbox``, issue 24) applied to the series. Its push
        and its occurrences' mail (A14) both follow it."""
        self.ensure_one()
        first = self._o365_first_event()
        if not first or first._o365_synced_elsewhere() or self._o365_synced_by_microsoft_calendar():
            return None
        return self._o365_target_account(asked)

    def _o365_synced_by_microsoft_calendar(self):
        """S6: a series Odoo's own microsoft_calendar already put in Outlook is left to it."""
        self.ensure_one()
        return bool("microsoft_id" in self._fields and self.microsoft_id)

    def _o365_restart_occurrences(self):
        """A new series (a split) or a regenerated one (a rewrite): its occurrences have no
        place in it yet, and no exception of their own."""
        self.with_context(**{SYNC_CONTEXT: True}).write({"o365_series_start": False})
        meetings = self.calendar_event_ids
        meetings._o365_links().unlink()
        meetings.filtered("o365_occurrence_start").with_context(**{SYNC_CONTEXT: True}).write(
            {"o365_occurrence_start": False}
        )

    def _o365_stamp_occurrences(self):
        """Each occurrence remembers the start it has in the Outlook series (its originalStart
        there): a later change or removal of that occurrence alone finds it by that (A16)."""
        meetings = self.calendar_event_ids.filtered(lambda m: not m.o365_occurrence_start)
        if meetings:
            # One statement for the whole series (up to 720 occurrences), no ORM write side effects.
            meetings.flush_recordset(["start", "o365_occurrence_start"])
            self.env.cr.execute(
                """UPDATE calendar_event SET o365_occurrence_start = start
                   WHERE id IN %s AND o365_occurrence_start IS NULL""",
                [tuple(meetings.ids)],
            )
            meetings.invalidate_recordset(["o365_occurrence_start"])

    def _o365_queue_removal(self):
        if self.env.context.get(SERIES_MOVING) in self.ids:
            # Odoo rewrites this recurrence as a new one: the series moves to it, it is not deleted.
            return
        return super()._o365_queue_removal()

    def _o365_may_enter(self, account, asked=False):
        # Only for an organiser who syncs meetings (A10), as a single meeting.
        if not account.sync_meetings:
            return False
        # The series is as new as its meeting (S3): Odoo makes a new recurrence on every split.
        first = self._o365_first_event()
        if first and account.is_syncing() and not asked and account.sync_started_at and first.create_date:
            return first.create_date >= account.sync_started_at
        return super()._o365_may_enter(account, asked)

    def _o365_graph_payload(self, account):
        """The series master: the first occurrence's meeting in the series' zone, with the rule."""
        self.ensure_one()
        first = self._o365_first_event()
        if not first:
            return None
        zone = self._o365_zone()
        recurrence = rec_mapper.series_recurrence(self._o365_rule())
        event = first._o365_graph_payload(account)
        if first.allday:
            event["start"] = dict(event["start"], timeZone=zone)
            event["end"] = dict(event["end"], timeZone=zone)
        else:
            # The series keeps the start it was made with: deleting its first occurrence in Odoo cancels
            # that date in Outlook, it does not move the series (whose count starts there).
            start = self.o365_series_start or first.start
            event["start"] = rec_mapper.local_time(start, zone)
            event["end"] = rec_mapper.local_time(start + (first.stop - first.start), zone)
        event["recurrence"] = recurrence
        return event

    def _o365_pushed(self, account, body):
        first = self._o365_first_event()
        if first:
            first._o365_pushed(account, body)

    def _o365_push_failed(self, account, message):
        first = self._o365_first_event()
        if first:
            first._o365_push_failed(account, message)

    def _o365_apply_outlook_change(self, link, event, directory=None):
        """Outlook changed the series' time (A12 for a series): every future occurrence moves to the
        new local time on its own date. Subject and notes stay Odoo's (A12); a new pattern made in
        Outlook (other days) is not read back."""
        recurrence = self.exists()
        if not recurrence:
            return None
        outlook = GraphEvent(event)
        first = recurrence._o365_first_event()
        if first and not first.allday and outlook.start and outlook.end:
            zone = recurrence._o365_zone()
            [(start, stop)] = rec_mapper.moved_series_times([first.start], outlook.start, outlook.end, zone)
            if (start, stop) != (first.start, first.stop):
                # Outlook regenerated the occurrences (GRAPH_FACTS §11: a new start drops the exceptions):
                # every future occurrence takes the new time on its own date, and has no exception.
                now = fields.Datetime.now()
                meetings = recurrence.calendar_event_ids.filtered(lambda m: m.start >= now)
                meetings._o365_links().unlink()
                originals = [m.o365_occurrence_start or m.start for m in meetings]
                times = rec_mapper.moved_series_times(originals, outlook.start, outlook.end, zone)
                for meeting, (start, stop) in zip(meetings, times, strict=True):
                    meeting.sudo().with_context(**{SYNC_CONTEXT: True}).write(
                        {"start": start, "stop": stop, "o365_occurrence_start": start}
                    )
        # A15: answers given to the whole series show on every occurrence that has no exception of its own
        # (an exception carries its own answers, read with it).
        own = set(recurrence.calendar_event_ids._o365_links().mapped("res_id"))
        for meeting in recurrence.calendar_event_ids.filtered(lambda m: m.id not in own):
            meeting._o365_apply_attendee_answers(event, link.account_id)
        if event.get("changeKey"):
            link.sudo().change_key = event["changeKey"]
        return None

    def _o365_link_occurrence(self, account, event):
        """An occurrence of this series changed in Outlook (an exception, read by the pull): the
        link to its Odoo occurrence (found by its original start), made if needed; or None."""
        self.ensure_one()
        original = parse_stamp(event.get("originalStart"))
        if not original:
            return None
        meeting = self.calendar_event_ids.filtered(lambda m: m.o365_occurrence_start == original)[:1]
        if not meeting:
            return None
        Link = self.env["o365.event.link"].sudo()
        link = meeting._o365_links(account)[:1]
        if not link:
            link = Link.create(
                {
                    "account_id": account.id,
                    "res_model": meeting._name,
                    "res_id": meeting.id,
                    "graph_event_id": event["id"],
                    "origin": "odoo",
                }
            )
        return link

    def _o365_apply_outlook_removal(self, link, cancelled=False):
        """The series was deleted in Outlook: the Odoo meetings stay, no longer sent there (as A6
        and a single meeting deleted in Outlook); Confirm sends them again."""
        recurrence = self.exists()
        if recurrence:
            meetings = recurrence.calendar_event_ids
            meetings._o365_links().unlink()
            meetings.sudo().with_context(**{SYNC_CONTEXT: True}).write(
                {"o365_confirmed": False, "o365_occurrence_start": False}
            )
            first = recurrence._o365_first_event()
            if first:
                first.message_post(
                    body=self.env._("The recurring meeting was deleted in Outlook; it is no longer sent there."),
                    subtype_xmlid="mail.mt_note",
                )
            self.env["o365.push.queue"]._forget(link.account_id, recurrence)
        link.sudo().unlink()

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        # A split ("this and following events") makes a new recurrence of confirmed meetings:
        # a new series from that date (GRAPH_FACTS §11). A brand-new recurrence has no confirmed
        # meeting yet and queues nothing.
        records.filtered(lambda r: r.calendar_event_ids.filtered("o365_confirmed"))._o365_queue_changes()
        return records


class O365PushQueue(models.Model):
    """A change of one occurrence of a series waits with the occurrence's place in it (A16)."""

    _inherit = "o365.push.queue"

    occurrence_of = fields.Char(
        readonly=True,
        help="For one occurrence of a recurring meeting: its series (calendar.recurrence id) and its original "
        "start in that series (UTC); the push finds the Outlook occurrence by these.",
    )
