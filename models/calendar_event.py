"""Meetings and Outlook (SPEC A10-A15, B1, B8-B14, S6), in one class.

Two kinds of meeting have an Outlook event:

- ERP meetings, made in Odoo: Confirm sends them to the organiser's Outlook, which
  invites the attendees (A10-A15); their link's origin is "odoo";
- meetings logged from Outlook by the pull, against the contacts they are with (B1,
  B8-B14); their links' origin is "outlook": Outlook owns them, Odoo may change only
  their name and location (B10 within A10).

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

import json
import logging
from datetime import timedelta

import psycopg2.errors
from markupsafe import Markup, escape

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import email_normalize
from odoo.tools.misc import format_date, format_datetime

from ..utils import plain_words
from ..utils.directory import contact_directory
from ..utils.graph_client import ANSWER_ACTIONS
from ..utils.graph_event import GraphEvent, normalize
from ..utils.mappers.meeting import (
    Attendee,
    MeetingData,
    attendee_responses,
    logged_meeting_changes,
    meeting_attendees_change,
    meeting_event,
    meeting_subject,
    meeting_values,
    online_meeting_url,
    outlook_meeting_changes,
    page_addresses,
    pushed_meeting_changes,
)
from .mail_activity import MARKED_DONE_CONTEXT
from .o365_calendar_sync import SYNC_CONTEXT

_logger = logging.getLogger(__name__)

# Fields whose ERP change updates a pushed meeting (SPEC A11, B10).
PUSHED_FIELDS = frozenset(
    {"name", "start", "stop", "allday", "location", "description", "partner_ids", "user_id", "o365_teams_meeting"}
)
# What Odoo may change on a meeting logged from Outlook and organised by someone else (a
# customer's invitation, B10 within A10): only the copy's name and location. Its time,
# attendees and description are the organiser's: read-only in Odoo (LOCKED_FIELDS).
OUTLOOK_OWNED_FIELDS = {"name", "location"}
# A meeting logged from its organiser's own mailbox: Odoo's edits of these update the Outlook
# event (B10), each field in the group Graph receives alone (see logged_meeting_changes).
ORGANISER_FIELD_GROUPS = {
    "name": "subject",
    "location": "location",
    "description": "body",
    "start": "times",
    "stop": "times",
    "allday": "times",
    "partner_ids": "attendees",
}
LOCKED_FIELDS = frozenset(
    {"start", "stop", "start_date", "stop_date", "allday", "duration", "partner_ids", "attendee_ids", "description"}
)
# Fields of a write that change only who attends (Odoo writes attendee_ids along).
ATTENDEE_FIELDS = {"partner_ids", "attendee_ids"}
# Graph's answers of attendees, as Odoo's attendee states (A15).
ATTENDEE_STATES = {"accepted": "accepted", "tentativelyAccepted": "tentative", "declined": "declined"}
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

    # -- queueing the push (E1): the sync contract ---------------------------------------------

    def _o365_from_sync(self):
        # Also a replay of a remote calendar's change (the pull's QUIET, Odoo's own calendar syncs).
        return super()._o365_from_sync() or bool(self.env.context.get("no_mail_to_attendees"))

    def _o365_state_before_write(self, vals):
        """The organisers before the write, when it changes them: the old one's meeting goes (A11)."""
        return {meeting.id: meeting.user_id for meeting in self} if "user_id" in vals else {}

    def _o365_queue_write(self, vals, state_before):
        if "partner_ids" in vals:
            self.filtered("o365_confirmed")._o365_ensure_attendee_activities()
        self._o365_queue_changes(previous_organisers=state_before, changed=set(vals))

    def _o365_owner_account(self):
        """The organiser's account, syncing or not (a stopped account keeps its links, S4)."""
        self.ensure_one()
        account = self.env["o365.sync.account"].sudo().search([("user_id", "=", self.user_id.id)], limit=1)
        return account or None

    def _o365_may_enter(self, account, asked=False):
        """A meeting made in Odoo enters only the mailbox of an organiser who syncs meetings (A10)."""
        return bool(account.sync_meetings) and super()._o365_may_enter(account, asked)

    def _o365_meeting_mailbox(self):
        """The organiser's mailbox this meeting made in Odoo goes through, or None.

        The one answer to "does this meeting go through Outlook?" (issue 24): the push
        queues a confirmed meeting there (``_o365_queue_changes``), and Odoo sends no
        invitation or update mail of its own for it (``_o365_goes_through_outlook``, A14).
        Confirmed or not: Confirm sends it from there. A meeting already in (or queued for)
        that mailbox stays there (S4); another only while its organiser syncs meetings and
        if it was created after the sync start (S3: a meeting saved before Start Syncing
        never goes to Outlook, so Odoo keeps inviting for it). None for leave meetings and
        microsoft_calendar's events (S6).
        """
        self.ensure_one()
        if self._o365_synced_elsewhere():
            return None
        return self._o365_target_account()

    def _o365_queue_changes(self, asked=False, previous_organisers=None, changed=None):
        """Queue the meeting's push; ``changed``: the fields an ERP write changed (None: all).

        Leave meetings and microsoft_calendar's events are left alone (S6). A confirmed
        meeting goes to the mailbox of ``_o365_meeting_mailbox`` (the rule Odoo's mail
        follows too); one logged from Outlook gets only what Odoo may change on it. A new
        organiser's meeting leaves the old one's mailbox.
        """
        Queue = self.env["o365.push.queue"].sudo()
        for meeting in self.sudo().filtered(lambda meeting: not meeting._o365_synced_elsewhere()):
            account = meeting._o365_owner_account()
            target = None
            link = meeting._o365_links(account)[:1] if account else self.env["o365.event.link"]
            if link.origin == "outlook":
                # B10: the organiser's own meeting follows Odoo's edits; another's, its name and place.
                editable = (
                    set(ORGANISER_FIELD_GROUPS) if link == meeting._o365_organiser_link() else OUTLOOK_OWNED_FIELDS
                )
                if changed is None or editable & changed:
                    target = account
            elif meeting.o365_confirmed:
                target = meeting._o365_meeting_mailbox()
            old_organiser = (previous_organisers or {}).get(meeting.id)
            if old_organiser and old_organiser != meeting.user_id:
                for holder in meeting._o365_accounts_holding():
                    if holder.user_id == old_organiser and holder != target:
                        Queue._enqueue(holder, meeting, "delete")
            if target:
                meeting._o365_note_pending_changes(link, changed)
                Queue._enqueue(target, meeting, "upsert")

    def _o365_note_pending_changes(self, link, changed):
        """Remember which fields wait for Outlook since its version ``link.change_key``."""
        self.ensure_one()
        if link.origin == "outlook":  # B10: the groups of logged_meeting_changes
            groups = {ORGANISER_FIELD_GROUPS[name] for name in (changed or ()) if name in ORGANISER_FIELD_GROUPS}
            groups = groups or {"subject", "location"}
        else:
            groups = {"attendees" if name in ATTENDEE_FIELDS else "event" for name in (changed or {"all"})}
        base = link.change_key or False
        if self.o365_pending_base == base and self.o365_pending_changes:
            groups |= set(self.o365_pending_changes.split(","))
        self.with_context(**{SYNC_CONTEXT: True}).write(
            {"o365_pending_changes": ",".join(sorted(groups)), "o365_pending_base": base}
        )

    # -- invitations: from Outlook or from Odoo (A14) ------------------------------------------

    def _o365_goes_through_outlook(self):
        """True when the organiser's Outlook sends this meeting's invitations, not Odoo (A14).

        A meeting logged from Outlook, or one made in Odoo that has a mailbox by
        ``_o365_meeting_mailbox``: the rule the push follows, so that exactly one side
        invites (issue 24). An unconfirmed one counts too: Confirm sends it from there.
        """
        self.ensure_one()
        meeting = self.sudo()
        return bool(meeting.o365_logged or meeting._o365_meeting_mailbox())

    def _skip_send_mail_status_update(self):
        """No invitation, update or cancellation mail from Odoo when Outlook sends them (A14)."""
        if self.id and self._o365_goes_through_outlook():
            return True
        return super()._skip_send_mail_status_update()

    # -- the event (A10, A11) and the push's answers -------------------------------------------

    def _o365_company_name(self):
        """The customer's company: of the external attendees, else of the record the meeting is about."""
        self.ensure_one()
        internal = self._o365_internal_users().partner_id
        externals = self.partner_ids - internal
        names = {p.commercial_partner_id.name for p in externals if p.commercial_partner_id.is_company}
        if len(names) == 1:
            return names.pop()
        if self.res_model == "res.partner" and self.res_id:
            partner = self.env["res.partner"].browse(self.res_id).exists()
            if partner.commercial_partner_id.is_company:
                return partner.commercial_partner_id.name
        return self.user_id.company_id.name or self.env.company.name

    def _o365_graph_payload(self, account):
        self.ensure_one()
        link = self._o365_links(account)[:1]
        if link.origin == "outlook":
            if link != self._o365_organiser_link():
                # Someone else's meeting: its time, zone, attendees and body stay as Outlook has them (A10).
                return outlook_meeting_changes(self.name or "", self.location or "")
            meeting = self.sudo()
            pending = meeting.o365_pending_changes if meeting.o365_pending_base == (link.change_key or False) else ""
            return logged_meeting_changes(
                set((pending or "subject,location").split(",")),
                subject=self.name or "",
                location=self.location or "",
                description_html=self.description or "",
                start=fields.Datetime.to_datetime(self.start_date) if self.allday else self.start,
                end=fields.Datetime.to_datetime(self.stop_date) if self.allday else self.stop,
                all_day=self.allday,
                time_zone=account.mailbox_timezone,
                attendees=self._o365_logged_attendees(account),
            )
        mailbox = (account.mailbox_address or "").lower()
        attendees = [
            Attendee(name=p.name or "", email=p.email_normalized or p.email)
            for p in self.partner_ids
            if (p.email_normalized or p.email) and (p.email_normalized or "").lower() != mailbox
        ]
        base = self.env["o365.config"].public_base_url()
        data = MeetingData(
            subject=meeting_subject(self.name or "", self._o365_company_name(), account.user_id.lang),
            start=fields.Datetime.to_datetime(self.start_date) if self.allday else self.start,
            end=fields.Datetime.to_datetime(self.stop_date) if self.allday else self.stop,
            all_day=self.allday,
            location=self.location or "",
            description_html=self.description or "",
            attendees=attendees,
            open_url=f"{base}/odoo/calendar.event/{self.id}",
            online=self.o365_teams_meeting,
            lang=account.user_id.lang or "",
        )
        meeting = self.sudo()
        if (
            link.graph_event_id
            and meeting.o365_pending_changes == "attendees"
            and meeting.o365_pending_base == (link.change_key or False)
        ):
            # Only attendees changed since Outlook's version: the others get no mail (A14).
            return meeting_attendees_change(data)
        return meeting_event(data)

    def _o365_logged_attendees(self, account):
        """B10: Outlook's attendees of the organiser's logged meeting, with Odoo's edits: someone removed
        in Odoo leaves, someone added joins, and an Outlook attendee Odoo has no contact for (B2) stays."""
        self.ensure_one()
        listed = json.loads(self.sudo().o365_outlook_attendees or "[]")
        mailbox = (account.mailbox_address or "").lower()
        now = {normalize(p.email): p for p in self.partner_ids if normalize(p.email)}
        now.pop(mailbox, None)

        def address(entry):
            return normalize((entry.get("emailAddress") or {}).get("address"))

        addresses = {address(a) for a in listed}
        Partner = self.env["res.partner"].sudo()
        known = set(Partner.search([("email_normalized", "in", list(addresses))]).mapped("email_normalized"))
        stay = now.keys() | (addresses - known)  # on the meeting in Odoo, or unknown to Odoo
        kept = [a for a in listed if address(a) in stay]
        added = [
            {"emailAddress": {"address": email, "name": partner.name or email}, "type": "required"}
            for email, partner in now.items()
            if email not in addresses
        ]
        return [{"emailAddress": a.get("emailAddress"), "type": a.get("type") or "required"} for a in kept] + added

    def _o365_pushed(self, account, body):
        """Outlook took the push (called with Graph's answer): keep a Teams join link (A14), and
        Outlook's attendee list of a logged meeting (B10)."""
        self.ensure_one()
        if "attendees" in (body or {}) and self._o365_links(account).filtered(lambda link: link.origin == "outlook"):
            self.sudo().with_context(**{SYNC_CONTEXT: True}).write(
                {"o365_outlook_attendees": json.dumps(body["attendees"])}
            )
        url = online_meeting_url(body or {})
        if url and url != self.videocall_location:
            self.sudo().with_context(**{SYNC_CONTEXT: True}).write({"videocall_location": url})

    def _o365_absorb_logged_copies(self, ical_uid):
        """Drop the meeting a pull logged from this ERP meeting's own Outlook event (E2, B12).

        When a create's answer is lost, an attendee's pull can meet the invitation
        before the retry links the organiser's event, and log it as an Outlook
        meeting. Once the retry has the event's iCalUId, that logged copy is known to
        be this meeting: its links and the copy go, quietly, with no Outlook change.
        """
        self.ensure_one()
        Link = self.env["o365.event.link"].sudo()
        copies = Link.search([("ical_uid", "=", ical_uid), ("origin", "=", "outlook"), ("res_model", "=", self._name)])
        if not copies:
            return
        logged = self.sudo().browse(copies.mapped("res_id")).exists().filtered("o365_logged") - self
        _logger.info("o365: %s was logged back from Outlook before its link was known; merged", self)
        copies.unlink()
        logged.with_context(**QUIET).unlink()

    def _o365_push_failed(self, account, message):
        self.ensure_one()
        self.sudo().message_post(body=plain_words.words_of(message), subtype_xmlid="mail.mt_note")

    # -- Outlook's side: the contract with the pull (A12, B10, B14) ----------------------------

    def _o365_apply_outlook_change(self, link, event, directory=None):
        """Outlook changed the event behind ``link``: a logged meeting follows Outlook (B10),
        an ERP meeting takes what may flow back (A12)."""
        if link.origin == "outlook":
            return self._o365_apply_outlook_update(link, event, directory)
        return self._o365_apply_erp_meeting_change(link, event)

    def _o365_apply_outlook_removal(self, link, cancelled=False):
        """The event behind ``link`` was deleted in Outlook, or cancelled by its organiser
        (``cancelled``: the whole meeting goes, whoever's copy told us)."""
        if link.origin == "outlook":
            return self._o365_cancel_from_outlook(link, cancelled)
        meeting = self.exists()
        if meeting:
            # Deleted in Outlook: the ERP meeting stays, no longer sent there.
            meeting.sudo().with_context(**{SYNC_CONTEXT: True}).write({"o365_confirmed": False})
            meeting.message_post(
                body=link.account_id.owner_env()._("The meeting was deleted in Outlook; it is no longer sent there."),
                subtype_xmlid="mail.mt_note",
            )
            self.env["o365.push.queue"]._forget(link.account_id, meeting)
        link.sudo().unlink()
        return None

    def _o365_apply_erp_meeting_change(self, link, event):
        """Start, end, location and added attendees flow back; subject and notes do not (A12)."""
        meeting = self.exists()
        if not meeting:
            return None
        known = {email_normalize(p.email or "") for p in meeting.partner_ids}
        values, added = pushed_meeting_changes(event, meeting, known)
        if added:
            partners = self.env["res.partner"].sudo().search([("email_normalized", "in", list(added))])
            # One contact per address, never a new contact (as in B2).
            chosen = {p.email_normalized: p for p in partners.sorted("id", reverse=True)}
            if chosen:
                values["partner_ids"] = [(4, p.id) for p in chosen.values()]
        if values:
            meeting.sudo().with_context(**{SYNC_CONTEXT: True}).write(values)
            if "partner_ids" in values:
                meeting._o365_ensure_attendee_activities()
        meeting._o365_apply_attendee_answers(event, link.account_id)
        if event.get("changeKey"):
            link.sudo().change_key = event["changeKey"]
        return None

    def _o365_apply_outlook_update(self, link, event, directory):
        """Time, attendees added, location and body edited in Outlook update a logged meeting (B10).

        Attendees are only added: someone an Odoo user added to the meeting is kept.
        Privacy and category changes do not unlog it (B4, B7).
        """
        self.ensure_one()
        meeting = self.sudo().with_context(**QUIET)
        account = link.account_id.sudo()
        if directory is None:
            directory = contact_directory(self.env, page_addresses([event], self.env["o365.config"].org_domains()))
        values, vals = self._o365_values(account, event, directory)
        new_partners = [p for p in values.partner_ids if p not in meeting.partner_ids.ids]
        if new_partners:
            vals["partner_ids"] = [Command.link(p) for p in new_partners]
        if meeting.active:
            changed = {k: v for k, v in vals.items() if k == "partner_ids" or meeting[k] != v}
            if changed:
                meeting.write(changed)
            meeting._o365_ensure_activities(values)
            meeting._o365_apply_attendee_answers(event, account)
        link.write({"change_key": event.get("changeKey"), "ical_uid": event.get("iCalUId") or link.ical_uid})
        return True

    def _o365_answer_target(self, account):
        """A17: what answering this meeting in ``account``'s mailbox takes, or None: (Graph action,
        the id of the owner's copy when Odoo knows it, the meeting's iCalUId to find it by)."""
        self.ensure_one()
        partner = account.user_id.partner_id
        attendee = self.sudo().attendee_ids.filtered(lambda a: a.partner_id == partner)[:1]
        action = ANSWER_ACTIONS.get(attendee.state)
        if not action or self.user_id == account.user_id:
            return None
        own = self._o365_links(account)[:1]  # a meeting logged from Outlook: this mailbox's copy (B12)
        ical_uid = own.ical_uid or self._o365_links().filtered(lambda link: link.origin == "odoo")[:1].ical_uid
        if not own.graph_event_id and not ical_uid:
            return None  # not in Outlook (yet): there is no invitation to answer
        return action, own.graph_event_id or None, ical_uid

    def _o365_apply_attendee_answers(self, event, account):
        """Answers given in Outlook show on the attendees (A15); nothing is pushed back (E4)."""
        self.ensure_one()
        answers = attendee_responses(event, account.mailbox_address)
        for attendee in self.sudo().attendee_ids:
            email = (attendee.partner_id.email_normalized or "").lower()
            state = ATTENDEE_STATES.get(answers.get(email))
            if state and attendee.state != state:
                attendee.write({"state": state})

    def _o365_cancel_from_outlook(self, link, cancelled=False):
        """Cancelled or deleted in Outlook: archive the logged meeting with a note, never delete it (B14).

        When another mailbox still holds a copy (an attendee declined or removed
        only their own copy), only that mailbox's link and to-do go, unless the
        organiser ``cancelled`` the meeting.
        """
        self.ensure_one()
        meeting = self.sudo().with_context(**QUIET)
        others = (
            self._o365_links().filtered(lambda lk: lk.id != link.id).filtered(lambda lk: lk.account_id.is_syncing())
        )
        user = link.account_id.user_id
        if others and not cancelled:
            meeting.activity_ids.filtered(lambda a: a.user_id == user).unlink()
            link.unlink()
            return True
        if meeting.active:
            contacts = meeting.partner_ids.filtered(lambda p: not p.user_ids)
            note = Markup("%s <b>%s</b> (%s)") % (
                link.account_id.owner_env()._("Meeting cancelled in Outlook:"),
                escape(meeting.name),
                meeting._o365_when(user),
            )
            meeting._o365_post_on_contacts(note, contacts.ids, author_user_id=user.id)
            meeting.message_post(body=note, subtype_xmlid="mail.mt_note")
            meeting.activity_ids.unlink()
            meeting.write({"active": False})
        return True

    # -- logging Outlook meetings (B1, B8, B11) -------------------------------------------------

    def _o365_values(self, account, event, directory, org_domains=None):
        org_domains = org_domains if org_domains is not None else self.env["o365.config"].org_domains()
        values = meeting_values(
            event,
            mailbox_zone=account.mailbox_timezone,
            owner_user_id=account.user_id.id,
            org_domains=org_domains,
            directory=directory,
            lang=account.user_id.lang,
        )
        times = values.times
        vals = {
            "name": values.name,
            "allday": times.allday,
            "start": times.start,
            "stop": times.stop,
            "location": values.location or False,
            "description": values.description or False,
            # Issue 23: the Teams join link, so that a colleague opening the meeting in Odoo can join.
            "videocall_location": values.videocall_url or False,
            # B10: who organises it (whose Outlook may change it), and Outlook's attendee list.
            "o365_organizer_email": GraphEvent(event).organizer or False,
            "o365_outlook_attendees": json.dumps(event.get("attendees") or []),
        }
        return values, vals

    @api.model
    def _o365_prepare_log(self, account, event, directory, org_domains):
        """What logging a new Outlook meeting creates (B1, B8, B11): (event, values, create vals)."""
        values, vals = self._o365_values(account, event, directory, org_domains)
        partners = list(values.partner_ids)
        owner_partner = account.user_id.partner_id.id
        if owner_partner not in partners:
            partners.insert(0, owner_partner)
        main_contact = values.contact_ids[0]
        partner_model = self.env["ir.model"]._get_id("res.partner")
        meeting_type = self.env.ref("mail.mail_activity_data_meeting", raise_if_not_found=False) or self.env[
            "mail.activity.type"
        ].search([("category", "=", "meeting")], limit=1)
        users = list(values.user_ids)
        if account.user_id.id not in users:
            users.append(account.user_id.id)
        vals.update(
            {
                "user_id": values.organizer_user_id,
                "partner_ids": [Command.set(partners)],
                "privacy": "public",  # B1: colleagues see it
                "show_as": "busy",
                "o365_logged": True,
                "o365_company_id": values.company_id,
                "res_model_id": partner_model,
                "res_id": main_contact,
                "activity_ids": [
                    Command.create(
                        {
                            "res_model_id": partner_model,
                            "res_id": main_contact,
                            "activity_type_id": meeting_type.id,
                            "user_id": user_id,
                            "summary": values.name,
                            "date_deadline": self._o365_deadline(values.times, user_id),
                        }
                    )
                    for user_id in users
                ],
            }
        )
        return event, values, vals

    @api.model
    def _o365_log_from_outlook(self, account, prepared):
        """Log new Outlook meetings against their contacts (B1) and link them to the mailbox.

        ``prepared``: what ``_o365_prepare_log`` returned for each, created in one batch.
        """
        meetings = self.browse()
        for batch in _batches_without_shared_followers([vals for _event, _values, vals in prepared]):
            meetings |= self.sudo().with_context(**QUIET).create(batch)
        for meeting, (_event, _values, vals) in zip(meetings, prepared, strict=True):
            meeting._o365_restore_activity_users(vals)
        Link = self.env["o365.event.link"]
        Link.link_outlook_events(account, meetings, [event for event, _values, _vals in prepared])
        for meeting, (event, values, _vals) in zip(meetings, prepared, strict=True):
            meeting._o365_apply_attendee_answers(event, account)  # the organiser attends (issue 23)
            meeting._o365_post_on_contacts(
                Markup("%s <a href='/odoo/calendar.event/%s'>%s</a> (%s)")
                % (
                    account.owner_env()._("Meeting logged from Outlook:"),
                    meeting.id,
                    meeting.name,
                    meeting._o365_when(account.user_id),
                ),
                values.contact_ids,
                author_user_id=values.organizer_user_id,
            )
        return meetings

    def _o365_restore_activity_users(self, vals):
        """Give each to-do of a just-logged meeting back to the user it was made for (B11).

        Odoo's calendar.event create hands every activity of the new event to the event's
        user_id (``_sync_activities`` with 'user_id' among the created fields): the
        colleagues' to-dos all went to the organiser."""
        self.ensure_one()
        wanted = [command[2] for command in vals.get("activity_ids") or () if command[0] == Command.CREATE]
        activities = self.activity_ids.sorted("id")
        for activity, values in zip(activities, wanted, strict=False):
            if activity.user_id.id != values["user_id"]:
                activity.with_context(**QUIET).write(
                    {"user_id": values["user_id"], "date_deadline": values["date_deadline"]}
                )

    def _o365_ensure_activities(self, values):
        """B11/B12: every internal participant has the logged meeting in their to-do list."""
        self.ensure_one()
        if not self.res_id or self.res_model != "res.partner":
            return
        have = set(self.activity_ids.mapped("user_id").ids)
        missing = [u for u in values.user_ids if u not in have]
        if not missing or self.stop < fields.Datetime.now():
            return
        meeting_type = self.env.ref("mail.mail_activity_data_meeting", raise_if_not_found=False)
        self.sudo().with_context(**QUIET).write(
            {
                "activity_ids": [
                    Command.create(
                        {
                            "res_model_id": self.res_model_id.id,
                            "res_id": self.res_id,
                            "activity_type_id": meeting_type.id,
                            "user_id": user_id,
                            "summary": self.name,
                            "date_deadline": self._o365_deadline(values.times, user_id),
                        }
                    )
                    for user_id in missing
                ]
            }
        )

    def _o365_deadline(self, times, user_id):
        """The activity's day in its user's time zone (Odoo stores UTC)."""
        if times.allday:
            return times.start_date
        user = self.env["res.users"].sudo().browse(user_id)
        return fields.Datetime.context_timestamp(self.with_context(tz=user.tz or "UTC"), times.start).date()

    def _o365_when(self, user=None):
        """When the meeting is, for a note on a timeline: in Odoo's date format of the language,
        and in the time zone of ``user`` (whose mailbox held it, the note's author) with its
        name, never bare UTC (issue 23). A stored note cannot follow each reader's zone."""
        self.ensure_one()
        if self.allday:
            return format_date(self.env, self.start_date)
        tz = (user and user.tz) or self.env.user.tz or "UTC"
        return f"{format_datetime(self.env, self.start, tz=tz, dt_format=False)} ({tz})"

    def _o365_post_on_contacts(self, body, contact_ids, author_user_id=None):
        """A note on each matching contact's timeline (B1, B14)."""
        author = self.env["res.users"].sudo().browse(author_user_id).partner_id if author_user_id else None
        contacts = self.env["res.partner"].sudo().browse(contact_ids).exists()
        if contacts:
            # A logged note notifies nobody (Outlook already invited them), in one batch.
            contacts._message_log_batch(
                bodies=dict.fromkeys(contacts.ids, body), author_id=author.id if author else None
            )

    # -- auto-close (B13) ------------------------------------------------------------------------

    @api.model
    def _cron_close_ended_meetings(self):
        """Mark done the to-dos sync created, once their logged meeting has ended."""
        activities = (
            self.env["mail.activity"]
            .sudo()
            .search(
                [
                    ("calendar_event_id.o365_logged", "=", True),
                    ("calendar_event_id.active", "=", True),
                    ("calendar_event_id.stop", "<", fields.Datetime.now()),
                ]
            )
        )
        closed, raced = 0, 0
        for activity in activities:
            try:
                with self.env.cr.savepoint():
                    activity.with_user(activity.user_id).sudo().action_feedback(
                        feedback=self.with_context(lang=activity.user_id.lang).env._(
                            "Meeting held (closed automatically by the Outlook sync)."
                        )
                    )
                closed += 1
            except psycopg2.errors.TransactionRollbackError:
                # The pull or the user changed this meeting at the same moment (issue 28): an
                # expected race, one INFO line; the job runs again in a minute for what is left.
                raced += 1
            except UserError as error:
                # One to-do Odoo refuses to close must not keep the others open: say which, go on.
                _logger.warning(
                    "o365: the to-do %s of ended meeting %s was not closed: %s",
                    activity.id,
                    activity.calendar_event_id.id,
                    error,
                )
        if raced:
            _logger.info("o365: %s ended meetings' to-dos changed meanwhile; closed in a minute", raced)
            self.env.ref("o365_calendar_sync.ir_cron_o365_close_ended_meetings")._trigger(
                fields.Datetime.now() + timedelta(minutes=1)
            )
        return closed


def _batches_without_shared_followers(vals_list):
    """Split meetings to create into batches where no two to-dos share a contact and a user, in order.

    Odoo subscribes each to-do's user to its record once per to-do, in one INSERT for the
    batch: two new meetings with the same customer and the same colleague in one create
    insert that follower twice, and the whole batch fails (an ERROR in the log)."""
    batches = []
    for vals in vals_list:
        pairs = {
            (vals.get("res_id"), command[2].get("user_id"))
            for command in vals.get("activity_ids") or ()
            if command[0] == Command.CREATE
        }
        if not batches or batches[-1][1] & pairs:
            batches.append(([], set()))
        batches[-1][0].append(vals)
        batches[-1][1].update(pairs)
    return [batch for batch, _pairs in batches]
