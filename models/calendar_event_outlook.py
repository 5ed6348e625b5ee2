"""Meetings logged from Outlook (SPEC A12, A15, B1, B8-B14).

One of the four files of ``calendar.event`` (see models/calendar_event.py): what the pull
needs from a meeting, apart from what the push needs (models/calendar_event_push.py). The
pull's contract (an Outlook change or removal: a logged meeting follows Outlook, an ERP
meeting takes what may flow back), the attendees' answers read from Outlook, cancellation,
logging new Outlook meetings against their contacts with the to-dos and the notes on the
contacts' timelines, and the B13 cron that closes the to-dos of ended logged meetings.
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

from ..utils.directory import contact_directory
from ..utils.graph_event import GraphEvent
from ..utils.mappers.meeting import (
    attendee_responses,
    meeting_values,
    page_addresses,
    pushed_meeting_changes,
)
from .calendar_event import QUIET
from .o365_calendar_sync import SYNC_CONTEXT

_logger = logging.getLogger(__name__)

# Graph's answers of attendees, as Odoo's attendee states (A15).
ATTENDEE_STATES = {"accepted": "accepted", "tentativelyAccepted": "tentative", "declined": "declined"}


class CalendarEvent(models.Model):
    """Outlook meetings logged against contacts, and Outlook's changes of meetings made in Odoo."""

    _inherit = "calendar.event"

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
    def _o365_log_from_outlook(self, entries):
        """Log new Outlook meetings against their contacts (B1), each linked to its mailbox; ``entries``:
        (account, what ``_o365_prepare_log`` returned), of one or several mailboxes, made by one ``create``."""
        meetings = self.browse()
        for batch in _batches_without_shared_followers([vals for _account, (_event, _values, vals) in entries]):
            # No "created" note in the new meeting's own chatter, written by the pull's superuser: the
            # logged meeting's story is the note on the contacts' timelines (B1), and that note cost
            # a seventh of the pull's CPU (bench/engine_notes.md).
            meetings |= self.sudo().with_context(**QUIET, mail_create_nolog=True).create(batch)
        for meeting, (_account, (_event, _values, vals)) in zip(meetings, entries, strict=True):
            meeting._o365_restore_activity_users(vals)
        self.env["o365.event.link"].sudo().create(
            [
                {
                    "account_id": account.id,
                    "res_model": meeting._name,
                    "res_id": meeting.id,
                    "graph_event_id": event["id"],
                    "ical_uid": event.get("iCalUId"),
                    "change_key": event.get("changeKey"),
                    "origin": "outlook",
                }
                for meeting, (account, (event, _values, _vals)) in zip(meetings, entries, strict=True)
            ]
        )
        for meeting, (account, (event, values, _vals)) in zip(meetings, entries, strict=True):
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
