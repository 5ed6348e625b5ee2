"""Meetings made in Odoo going to Outlook (SPEC A10, A11, A13, A14, A17, B10, E1, E2, S6).

One of the four files of ``calendar.event`` (see models/calendar_event.py): everything the
push needs from a meeting, apart from what the pull needs (models/calendar_event_outlook.py).
Queueing on save (the mixin's contract, E1: which mailbox, which fields waited for Outlook),
the one rule of whether a meeting goes through Outlook, which also keeps Odoo's own
invitation mails away (A14), the Graph payload (an ERP meeting whole; a meeting logged from
Outlook, only what Odoo may change on it: B10), what the push does with Graph's answers, and
the answer an attendee gives in Odoo (A17).
"""

import json
import logging

from odoo import fields, models

from ..utils import plain_words
from ..utils.graph_client import ANSWER_ACTIONS
from ..utils.graph_event import normalize
from ..utils.mappers.meeting import (
    Attendee,
    MeetingData,
    logged_meeting_changes,
    meeting_attendees_change,
    meeting_event,
    meeting_subject,
    online_meeting_url,
    outlook_meeting_changes,
)
from .calendar_event import QUIET
from .o365_calendar_sync import SYNC_CONTEXT

_logger = logging.getLogger(__name__)

# What Odoo may change on a meeting logged from Outlook and organised by someone else (a
# customer's invitation, B10 within A10): only the copy's name and location. Its time,
# attendees and description are the organiser's: read-only in Odoo (LOCKED_FIELDS, models/calendar_event.py).
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
# Fields of a write that change only who attends (Odoo writes attendee_ids along).
ATTENDEE_FIELDS = {"partner_ids", "attendee_ids"}


class CalendarEvent(models.Model):
    """ERP meetings in the organiser's Outlook calendar: queueing, invitations, the payload, answers."""

    _inherit = "calendar.event"

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

    # -- answering an invitation from Odoo (A17) -------------------------------------------------

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
