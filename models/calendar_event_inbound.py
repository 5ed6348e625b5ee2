"""Meetings logged from Outlook (SPEC B1, B8-B14): create, update, cancel, auto-close."""

import logging

from markupsafe import Markup, escape

from odoo import Command, api, fields, models

from ..utils.meeting_mapping import meeting_values

_logger = logging.getLogger(__name__)

# Odoo must not email the customer: Outlook already sent the invitation.
QUIET = {
    "no_mail_to_attendees": True,
    "dont_notify": True,
    "mail_create_nosubscribe": True,
    "mail_activity_quick_update": True,
    "mail_auto_subscribe_no_notify": True,
}


class CalendarEvent(models.Model):
    _inherit = "calendar.event"

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

    # -- creating (B1, B8, B11) ---------------------------------------------------------

    def _o365_values(self, account, event, directory, org_domains=None):
        org_domains = org_domains if org_domains is not None else self.env["o365.config"]._org_domains()
        values = meeting_values(
            event,
            mailbox_zone=account.mailbox_timezone,
            owner_user_id=account.user_id.id,
            org_domains=org_domains,
            directory=directory,
        )
        times = values.times
        vals = {
            "name": values.name,
            "allday": times.allday,
            "start": times.start,
            "stop": times.stop,
            "location": values.location or False,
            "description": values.description or False,
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
        meetings = self.sudo().with_context(**QUIET).create([vals for _event, _values, vals in prepared])
        account._o365_links(meetings, [event for event, _values, _vals in prepared])
        for meeting, (_event, values, _vals) in zip(meetings, prepared, strict=True):
            meeting._o365_post_on_contacts(
                Markup("%s <a href='/odoo/calendar.event/%s'>%s</a> (%s)")
                % (self.env._("Meeting logged from Outlook:"), meeting.id, meeting.name, meeting._o365_when()),
                values.contact_ids,
                author_user_id=values.organizer_user_id,
            )
        return meetings

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

    def _o365_deadline(self, times, user_id):
        """The activity's day in its user's time zone (Odoo stores UTC)."""
        if times.allday:
            return times.start_date
        user = self.env["res.users"].sudo().browse(user_id)
        return fields.Datetime.context_timestamp(self.with_context(tz=user.tz or "UTC"), times.start).date()

    def _o365_when(self):
        self.ensure_one()
        if self.allday:
            return str(self.start_date)
        return fields.Datetime.to_string(self.start) + " UTC"

    def _o365_post_on_contacts(self, body, contact_ids, author_user_id=None):
        """A note on each matching contact's timeline (B1, B14)."""
        author = self.env["res.users"].sudo().browse(author_user_id).partner_id if author_user_id else None
        contacts = self.env["res.partner"].sudo().browse(contact_ids).exists()
        if contacts:
            # A logged note notifies nobody (Outlook already invited them), in one batch.
            contacts._message_log_batch(
                bodies=dict.fromkeys(contacts.ids, body), author_id=author.id if author else None
            )

    # -- Outlook edits (B10) and the contract of the inbound pull ---------------------------

    def _o365_apply_outlook_change(self, link, event):
        """Contract with the pull: Outlook changed the event behind ``link``."""
        if link.origin == "outlook":
            return self._o365_apply_outlook_update(link, event, None)
        parent = getattr(super(), "_o365_apply_outlook_change", None)
        return parent(link, event) if parent else None

    def _o365_apply_outlook_removal(self, link):
        """Contract with the pull: the event behind ``link`` was deleted or cancelled in Outlook."""
        if link.origin == "outlook":
            return self._o365_cancel_from_outlook(link)
        parent = getattr(super(), "_o365_apply_outlook_removal", None)
        return parent(link) if parent else None

    def _o365_apply_outlook_update(self, link, event, directory):
        """Time, attendees added, location and body edited in Outlook update the meeting (B10).

        Attendees are only added: someone an Odoo user added to the meeting is kept.
        Privacy and category changes do not unlog it (B4, B7).
        """
        self.ensure_one()
        meeting = self.sudo().with_context(**QUIET)
        account = link.account_id.sudo()
        if directory is None:
            from ..utils.event_filters import page_addresses

            directory = account._o365_directory(page_addresses([event], self.env["o365.config"]._org_domains()))
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

    def _o365_ensure_activities(self, values):
        """B11/B12: every internal participant has the meeting in their to-do list."""
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

    # -- cancellation (B14) -------------------------------------------------------------

    def _o365_cancel_from_outlook(self, link):
        """Cancelled or deleted in Outlook: archive the meeting with a note, never delete it.

        When another mailbox still holds a copy (an attendee declined or removed
        only their own copy), only that mailbox's link and to-do go.
        """
        self.ensure_one()
        meeting = self.sudo().with_context(**QUIET)
        others = (
            self.env["o365.event.link"]
            .sudo()
            .search([("res_model", "=", self._name), ("res_id", "=", self.id), ("id", "!=", link.id)])
            .filtered(lambda lk: lk.account_id._is_syncing())
        )
        user = link.account_id.user_id
        if others and not self.env.context.get("o365_cancelled"):
            meeting.activity_ids.filtered(lambda a: a.user_id == user).unlink()
            link.unlink()
            return True
        if meeting.active:
            contacts = meeting.partner_ids.filtered(lambda p: not p.user_ids)
            note = Markup("%s <b>%s</b> (%s)") % (
                self.env._("Meeting cancelled in Outlook:"),
                escape(meeting.name),
                meeting._o365_when(),
            )
            meeting._o365_post_on_contacts(note, contacts.ids, author_user_id=user.id)
            meeting.message_post(body=note, subtype_xmlid="mail.mt_note")
            meeting.activity_ids.unlink()
            meeting.write({"active": False})
        return True

    # -- auto-close (B13) -------------------------------------------------------------------

    @api.model
    def _cron_close_ended_meetings(self):
        """Mark done the to-dos sync created, once their meeting has ended."""
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
        for activity in activities:
            activity.with_user(activity.user_id).sudo().action_feedback(
                feedback=self.env._("Meeting held (closed automatically by the Outlook sync).")
            )
        return len(activities)
