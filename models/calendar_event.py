"""Meetings and Outlook (SPEC A10-A15, B1, B8-B14, S6): the fields, the ORM guards, Confirm.

Two kinds of meeting have an Outlook event:

- ERP meetings, made in Odoo: Confirm sends them to the organiser's Outlook, which
  invites the attendees (A10-A15); their link's origin is "odoo";
- meetings logged from Outlook by the pull, against the contacts they are with (B1,
  B8-B14); their links' origin is "outlook": Outlook owns them, Odoo may change only
  their name and location (B10 within A10).

``calendar.event`` is one model in four files, as Odoo splits a big model (issue 24): this
one, the base (the fields both kinds share, their computes, create and write, Confirm);
models/calendar_event_push.py (meetings made in Odoo going to Outlook: queueing, the target
mailbox, invitations, the Graph payload, the push's answers); models/calendar_event_outlook.py
(meetings logged from Outlook: the pull's contract, logging, to-dos, auto-close); and
models/calendar_event_recurrence.py (the occurrences of a series). QUIET, which both
sides write with, is defined here.

Odoo's own microsoft_calendar may be installed too (S6). It is not a dependency, so
nothing here imports it: its marker field ``need_sync_m`` is looked up in ``_fields``.
microsoft_calendar pushes a calendar.event when ``need_sync_m`` is set (right after
create, after a write of a synced field, and in its periodic sync whose domain requires
``need_sync_m = True``). For the events this module owns the marker is kept False,
whichever of the two modules' overrides runs first:

- meetings linked to Outlook by this module (an ``o365.event.link``, see
  models/o365_event_link.py): events logged from Outlook and ERP meetings pushed on
  confirmation;
- events created under the sync's context key (SYNC_CONTEXT);
- the meeting hr_holidays creates for a validated leave, for a user connected here with
  option C on: this module pushes the leave itself.

The other way round, ``_o365_synced_elsewhere()`` keeps this module's meeting push away
from what microsoft_calendar already owns (``microsoft_id``) and from leave meetings.
"""

from odoo import api, fields, models
from odoo.exceptions import UserError

from .mail_activity import MARKED_DONE_CONTEXT
from .o365_calendar_sync import SYNC_CONTEXT

# Fields whose ERP change updates a pushed meeting (SPEC A11, B10).
PUSHED_FIELDS = frozenset(
    {"name", "start", "stop", "allday", "location", "description", "partner_ids", "user_id", "o365_teams_meeting"}
)
# A meeting logged from Outlook and organised by someone else (a customer's invitation, B10
# within A10): its time, attendees and description are the organiser's, read-only in Odoo.
LOCKED_FIELDS = frozenset(
    {"start", "stop", "start_date", "stop_date", "allday", "duration", "partner_ids", "attendee_ids", "description"}
)
# Odoo must not email the customer about a logged meeting: Outlook already sent the
# invitation. no_mail_to_attendees also marks the write as a replay of a remote calendar
# (as Odoo's own calendar syncs use it): it is not pushed back (E4).
QUIET = {
    "no_mail_to_attendees": True,
    "dont_notify": True,
    "mail_create_nosubscribe": True,
    "mail_activity_quick_update": True,
    "mail_auto_subscribe_no_notify": True,
}


class CalendarEvent(models.Model):
    """ERP meetings in the organiser's Outlook calendar, and Outlook meetings logged against contacts."""

    _name = "calendar.event"
    # The sync mixin first: its write wraps calendar's whole write (see models/o365_calendar_sync.py).
    _inherit = ["o365.calendar.sync", "calendar.event"]
    _o365_pushed_fields = PUSHED_FIELDS
    _o365_queued_on_create = False  # an ERP meeting goes to Outlook on Confirm (A10)

    o365_confirmed = fields.Boolean(
        "Confirmed for Outlook", copy=False, readonly=True, help="Confirmed meetings are sent to Outlook."
    )
    o365_outlook_owned = fields.Boolean(
        "Owned by Outlook",
        compute="_compute_o365_outlook_owned",
        help="Logged from an Outlook meeting: Outlook sends its invitations and keeps its time (A10).",
    )
    o365_teams_meeting = fields.Boolean(
        "Teams Meeting",
        copy=False,
        help="Outlook makes the meeting a Microsoft Teams meeting; its join link is stored on the meeting.",
    )
    # What changed since the last version Outlook has (the link's changeKey when the
    # first of these changes was made): a change of attendees alone is sent alone, so
    # that Outlook mails only the attendees who changed (A14, GRAPH_FACTS §1.4).
    o365_pending_changes = fields.Char(copy=False, groups="base.group_system")
    o365_pending_base = fields.Char(copy=False, groups="base.group_system")
    o365_logged = fields.Boolean(
        "Logged from Outlook", readonly=True, copy=False, help="Created by the Outlook sync from a calendar event."
    )
    o365_company_id = fields.Many2one(
        "res.partner",
        "Customer Company",
        readonly=True,
        copy=False,
        help="Set when every external attendee belongs to this company.",
    )
    o365_organizer_email = fields.Char(
        "Outlook Organiser", readonly=True, copy=False, help="Who organises the Outlook meeting this was logged from."
    )
    o365_outlook_attendees = fields.Text(copy=False, groups="base.group_system")  # as Outlook last listed them
    o365_outlook_readonly = fields.Boolean(
        compute="_compute_o365_outlook_note",
        help="Logged from a meeting someone else organises in Outlook: its time, attendees and description are "
        "changed there.",
    )
    o365_outlook_note = fields.Char("Who Organises It", compute="_compute_o365_outlook_note")
    o365_owned = fields.Boolean(
        "Synced by Microsoft 365 Calendar Sync",
        copy=False,
        readonly=True,
        help="This module keeps the Outlook side of this meeting; Odoo's own Outlook sync leaves it alone.",
    )

    def _compute_o365_outlook_note(self):
        """B10: the one line a logged meeting shows about who organises it and where it changes."""
        for meeting in self:
            meeting.o365_outlook_readonly = False
            meeting.o365_outlook_note = False
            if not meeting.id or not meeting.o365_outlook_owned:
                continue
            organiser = meeting.sudo()._o365_organiser_link()
            if organiser:
                meeting.o365_outlook_note = self.env._(
                    "Booked in Outlook by %(user)s, who organises it: changes saved here update the Outlook "
                    "meeting, and Outlook tells the attendees.",
                    user=organiser.account_id.user_id.name,
                )
                continue
            meeting.o365_outlook_readonly = True
            meeting.o365_outlook_note = self.env._(
                "Booked in Outlook by %(organiser)s, who organises it: its time, attendees and description can "
                "only be changed in their Outlook, and Odoo follows.",
                organiser=meeting.o365_organizer_email or self.env._("someone else"),
            )

    def _o365_organiser_link(self):
        """The link of this logged meeting to its organiser's own mailbox, when that mailbox syncs here."""
        self.ensure_one()
        organiser = (self.o365_organizer_email or "").lower()
        if not organiser:
            return self.env["o365.event.link"]
        return self._o365_links().filtered(
            lambda link: link.origin == "outlook" and (link.account_id.mailbox_address or "") == organiser
        )[:1]

    def _compute_o365_outlook_owned(self):
        linked = set(self._o365_links().filtered(lambda link: link.origin == "outlook").mapped("res_id"))
        for meeting in self:
            meeting.o365_outlook_owned = bool(meeting.o365_logged or meeting.id in linked)

    # -- ORM: keep microsoft_calendar off what this module owns (S6) ---------------------------

    @api.model_create_multi
    def create(self, vals_list):
        from_sync = self.env.context.get(SYNC_CONTEXT)
        if from_sync:
            for vals in vals_list:
                vals["o365_owned"] = True
        if self._o365_microsoft_calendar_installed():
            leave = self.env.context.get("active_model") == "hr.leave"
            holiday_users = self._o365_holiday_users() if leave or not from_sync else self.env["res.users"]
            for vals in vals_list:
                is_leave = leave or vals.get("res_model") == "hr.leave"
                if from_sync or (is_leave and vals.get("user_id", self.env.uid) in holiday_users.ids):
                    vals["need_sync_m"] = False
        return super().create(vals_list)

    def write(self, vals):
        if self.env.context.get(MARKED_DONE_CONTEXT) and set(vals) == {"description"}:
            # Odoo's calendar appends the feedback of a done to-do to its meeting's description. A
            # meeting logged from Outlook keeps its organiser's body (B10): the feedback stays in the
            # done message on the timeline, and no customer gets an Outlook update for it.
            logged = self.filtered("o365_logged")
            if logged:
                return (self - logged).write(vals) if self - logged else True
        if LOCKED_FIELDS.intersection(vals) and not self._o365_from_sync():
            locked = self.filtered(lambda meeting: meeting.o365_logged and meeting.o365_outlook_readonly)
            if locked:
                raise UserError(locked[0].o365_outlook_note)  # B10: the organiser changes it in Outlook
        if not self._o365_microsoft_calendar_installed() or vals.get("need_sync_m") is False:
            return super().write(vals)
        owned = self._o365_owned()
        if not owned:
            return super().write(vals)
        result = super(CalendarEvent, owned).write(dict(vals, need_sync_m=False))
        rest = self - owned
        if rest:
            super(CalendarEvent, rest).write(vals)
        return result

    @api.model
    def _o365_microsoft_calendar_installed(self):
        return "need_sync_m" in self._fields

    def _o365_synced_elsewhere(self):
        """True when this module must not push the event as a meeting (S6)."""
        self.ensure_one()
        if self.res_model == "hr.leave":
            return True  # option C pushes the leave, not its meeting
        return bool("microsoft_id" in self._fields and self.microsoft_id)

    @api.model
    def _o365_holiday_users(self):
        """Users whose leaves this module pushes (connected, option C on)."""
        accounts = (
            self.env["o365.sync.account"]
            .sudo()
            .search([("connection_state", "!=", "disconnected"), ("sync_holidays", "=", True)])
        )
        return accounts.user_id

    def _o365_owned(self):
        """The events of self whose Outlook side belongs to this module."""
        if not self.ids:
            return self.browse()
        linked = set(self._o365_links().mapped("res_id"))
        holiday_users = self._o365_holiday_users()
        return self.filtered(
            lambda meeting: (
                meeting.o365_owned
                or meeting.id in linked
                or (meeting.res_model == "hr.leave" and meeting.user_id in holiday_users)
            )
        )

    # -- Confirm (A10, A13) --------------------------------------------------------------------

    def action_o365_confirm(self):
        """Send the meeting to the organiser's Outlook, which invites every attendee.

        Only meetings made in Odoo: a meeting logged from Outlook already went out
        from there, and confirming it would re-send it to the customer (A10).
        """
        if any(meeting.o365_outlook_owned for meeting in self):
            raise UserError(
                self.env._("This meeting comes from Outlook: its invitations were sent from there already.")
            )
        # Confirming again (a mass confirm that includes confirmed meetings) sends nothing twice.
        new = self.filtered(lambda meeting: not meeting.o365_confirmed)
        new.write({"o365_confirmed": True})
        new._o365_ensure_attendee_activities()
        new._o365_queue_changes()
        return True

    def _o365_internal_users(self):
        self.ensure_one()
        return self.partner_ids.user_ids.filtered(lambda u: not u.share) | self.user_id

    def _o365_ensure_attendee_activities(self):
        """A to-do for the organiser and every internal attendee (A13)."""
        meeting_type = self.env.ref("mail.mail_activity_data_meeting", raise_if_not_found=False)
        if not meeting_type:
            return
        Activity = self.env["mail.activity"].sudo()
        for meeting in self.sudo():
            have = meeting.activity_ids.user_id
            model, res_id = (
                (meeting.res_model, meeting.res_id)
                if meeting.res_model and meeting.res_id
                else (meeting._name, meeting.id)
            )
            values = [
                {
                    "res_model_id": self.env["ir.model"]._get_id(model),
                    "res_id": res_id,
                    "activity_type_id": meeting_type.id,
                    "summary": meeting.name,
                    "user_id": user.id,
                    "date_deadline": fields.Date.to_date(meeting.start_date if meeting.allday else meeting.start),
                    "calendar_event_id": meeting.id,
                }
                for user in meeting._o365_internal_users() - have
            ]
            if values:
                Activity.with_context(mail_activity_quick_update=True).create(values)
