from datetime import timedelta

from odoo import fields, models
from odoo.exceptions import UserError
from odoo.tools import email_normalize

from ..utils import plain_words
from ..utils.event_payloads import (
    Attendee,
    MeetingData,
    attendee_answers,
    event_attendee_emails,
    event_location,
    meeting_attendees_change,
    meeting_event,
    meeting_subject,
    online_meeting_url,
    outlook_meeting_changes,
    parse_graph_day,
    parse_graph_time,
)
from .mail_activity import FROM_OUTLOOK, SYNC_STATUSES, o365_sync_badges

# Fields whose ERP change updates a pushed meeting (SPEC A11, B10).
PUSHED_FIELDS = {
    "name",
    "start",
    "stop",
    "allday",
    "location",
    "description",
    "partner_ids",
    "user_id",
    "o365_teams_meeting",
}
# What Odoo may change on a meeting logged from Outlook (B10 within A10): never its
# time, time zone, attendees or body, which would re-send it to the customer.
OUTLOOK_OWNED_FIELDS = {"name", "location"}
# Fields of a write that change only who attends (Odoo writes attendee_ids along).
ATTENDEE_FIELDS = {"partner_ids", "attendee_ids"}
# Graph's answers of attendees, as Odoo's attendee states (A15).
ATTENDEE_STATES = {"accepted": "accepted", "tentativelyAccepted": "tentative", "declined": "declined"}


class CalendarEvent(models.Model):
    """ERP meetings in the organiser's Outlook calendar, with invitations (SPEC A10-A13, B10)."""

    _inherit = "calendar.event"

    o365_confirmed = fields.Boolean(
        "Confirmed for Outlook", copy=False, readonly=True, help="Confirmed meetings are sent to Outlook."
    )
    o365_sync_error = fields.Text("Outlook Sync Error", compute="_compute_o365_sync_error")
    # The badge (issue 15): on Outlook / waiting / failed, in plain words; the detail for administrators.
    o365_sync_status = fields.Selection(SYNC_STATUSES, "Outlook", compute="_compute_o365_sync_error")
    o365_sync_message = fields.Char("Outlook Sync", compute="_compute_o365_sync_error")
    o365_sync_detail = fields.Text("Outlook Sync Details", compute="_compute_o365_sync_error")
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
    # that Outlook mails only the attendees who changed (A14, facts 1.4).
    o365_pending_changes = fields.Char(copy=False, groups="base.group_system")
    o365_pending_base = fields.Char(copy=False, groups="base.group_system")

    def _compute_o365_sync_error(self):
        failed = (
            self.env["o365.push.queue"]
            .sudo()
            .search([("res_model", "=", self._name), ("res_id", "in", self.ids), ("state", "=", "failed")])
        )
        badges = o365_sync_badges(self.filtered("id"))
        for event in self:
            event.o365_sync_error = "\n".join(failed.filtered(lambda r, e=event: r.res_id == e.id).mapped("last_error"))
            status, message, detail = badges.get(event.id, ("none", "", ""))
            event.o365_sync_status = status
            event.o365_sync_message = message or False
            event.o365_sync_detail = detail or False

    def _compute_o365_outlook_owned(self):
        linked = set(
            self.env["o365.event.link"]
            .sudo()
            .search([("res_model", "=", self._name), ("res_id", "in", self.ids), ("origin", "=", "outlook")])
            .mapped("res_id")
        )
        for event in self:
            event.o365_outlook_owned = bool(event.o365_logged or event.id in linked)

    # -- Confirm (A10, A13) ----------------------------------------------------------------

    def action_o365_confirm(self):
        """Send the meeting to the organiser's Outlook, which invites every attendee.

        Only meetings made in Odoo: a meeting logged from Outlook already went out
        from there, and confirming it would re-send it to the customer (A10).
        """
        if any(event.o365_outlook_owned for event in self):
            raise UserError(
                self.env._("This meeting comes from Outlook: its invitations were sent from there already.")
            )
        # Confirming again (a mass confirm that includes confirmed meetings) sends nothing twice.
        new = self.filtered(lambda event: not event.o365_confirmed)
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
        for event in self.sudo():
            have = event.activity_ids.user_id
            model, res_id = (
                (event.res_model, event.res_id) if event.res_model and event.res_id else (event._name, event.id)
            )
            values = [
                {
                    "res_model_id": self.env["ir.model"]._get_id(model),
                    "res_id": res_id,
                    "activity_type_id": meeting_type.id,
                    "summary": event.name,
                    "user_id": user.id,
                    "date_deadline": fields.Date.to_date(event.start_date if event.allday else event.start),
                    "calendar_event_id": event.id,
                }
                for user in event._o365_internal_users() - have
            ]
            if values:
                Activity.with_context(mail_activity_quick_update=True).create(values)

    # -- ORM: queue, never call Graph (E1) -------------------------------------------------

    def write(self, vals):
        previous = {event.id: event.user_id for event in self} if "user_id" in vals else {}
        result = super().write(vals)
        # no_mail_to_attendees: a write that replays a remote calendar's change (the
        # inbound pull, like Odoo's own calendar syncs) is not pushed back (E4).
        from_outside = self.env.context.get(FROM_OUTLOOK) or self.env.context.get("no_mail_to_attendees")
        if PUSHED_FIELDS & set(vals) and not from_outside:
            if "partner_ids" in vals:
                self.filtered("o365_confirmed")._o365_ensure_attendee_activities()
            self._o365_queue_changes(previous, changed=set(vals))
        return result

    def unlink(self):
        Queue = self.env["o365.push.queue"].sudo()
        Link = self.env["o365.event.link"].sudo()
        for event in self:
            for account in Queue._accounts_holding(event):
                link = Link.search(
                    [("account_id", "=", account.id), ("res_model", "=", event._name), ("res_id", "=", event.id)],
                    limit=1,
                )
                if link.origin != "outlook":  # deleting a logged Outlook meeting in Odoo cancels nothing
                    Queue._enqueue(account, event, "delete")
        return super().unlink()

    def _o365_organiser_account(self):
        """The organiser's account, syncing or not (a stopped account keeps its links, S4)."""
        self.ensure_one()
        account = self.env["o365.sync.account"].sudo().search([("user_id", "=", self.user_id.id)], limit=1)
        return account or None

    def _o365_goes_through_outlook(self):
        """True when the organiser's Outlook sends this meeting's invitations, not Odoo (A14).

        A meeting logged from Outlook or already in Outlook, or one whose organiser
        syncs meetings now (Confirm sends it from their mailbox).
        """
        self.ensure_one()
        event = self.sudo()
        if event.o365_logged or event._o365_synced_elsewhere():
            return bool(event.o365_logged)
        account = event._o365_organiser_account()
        if not account:
            return False
        if account in self.env["o365.push.queue"].sudo()._accounts_holding(event):
            return True
        return account._is_syncing() and account.sync_meetings

    def _skip_send_mail_status_update(self):
        """No invitation, update or cancellation mail from Odoo when Outlook sends them (A14)."""
        if self.id and self._o365_goes_through_outlook():
            return True
        return super()._skip_send_mail_status_update()

    def _o365_queue_changes(self, previous_organisers=None, changed=None):
        """Queue the meeting's push; ``changed``: the fields an ERP write changed (None: all)."""
        Queue = self.env["o365.push.queue"].sudo()
        Link = self.env["o365.event.link"].sudo()
        for event in self.sudo():
            account = event._o365_organiser_account()
            target = None
            link = Link
            if account:
                link = Link.search(
                    [("account_id", "=", account.id), ("res_model", "=", event._name), ("res_id", "=", event.id)],
                    limit=1,
                )
                if link.origin == "outlook":
                    # B10 within A10: only what Odoo may change on Outlook's meeting.
                    if changed is None or OUTLOOK_OWNED_FIELDS & changed:
                        target = account
                elif event.o365_confirmed and account in Queue._accounts_holding(event):
                    target = account  # already in Outlook: it follows, across Stop/Start too (S4)
                elif (
                    event.o365_confirmed
                    and account._is_syncing()
                    and account.sync_meetings
                    and not (account.sync_started_at and event.create_date < account.sync_started_at)
                ):
                    target = account
            old_organiser = (previous_organisers or {}).get(event.id)
            if old_organiser and old_organiser != event.user_id:
                for holder in Queue._accounts_holding(event):
                    if holder.user_id == old_organiser and holder != target:
                        Queue._enqueue(holder, event, "delete")
            if target:
                if link.origin != "outlook":
                    event._o365_note_pending_changes(link, changed)
                Queue._enqueue(target, event, "upsert")

    def _o365_note_pending_changes(self, link, changed):
        """Remember which fields wait for Outlook since its version ``link.change_key``."""
        self.ensure_one()
        groups = {"attendees" if name in ATTENDEE_FIELDS else "event" for name in (changed or {"all"})}
        base = link.change_key or False
        if self.o365_pending_base == base and self.o365_pending_changes:
            groups |= set(self.o365_pending_changes.split(","))
        self.with_context(**{FROM_OUTLOOK: True}).write(
            {"o365_pending_changes": ",".join(sorted(groups)), "o365_pending_base": base}
        )

    # -- the event (A10, A11) --------------------------------------------------------------

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
        link = (
            self.env["o365.event.link"]
            .sudo()
            .search(
                [("account_id", "=", account.id), ("res_model", "=", self._name), ("res_id", "=", self.id)], limit=1
            )
        )
        if link.origin == "outlook":
            # Outlook's meeting: its time, zone, attendees and body stay as Outlook has them (A10).
            return outlook_meeting_changes(self.name or "", self.location or "")
        mailbox = (account.mailbox_address or "").lower()
        attendees = [
            Attendee(name=p.name or "", email=p.email_normalized or p.email)
            for p in self.partner_ids
            if (p.email_normalized or p.email) and (p.email_normalized or "").lower() != mailbox
        ]
        base = self.env["o365.config"]._public_base_url()
        data = MeetingData(
            subject=meeting_subject(self.name or "", self._o365_company_name()),
            start=fields.Datetime.to_datetime(self.start_date) if self.allday else self.start,
            end=fields.Datetime.to_datetime(self.stop_date) if self.allday else self.stop,
            all_day=self.allday,
            location=self.location or "",
            description_html=self.description or "",
            attendees=attendees,
            open_url=f"{base}/odoo/calendar.event/{self.id}",
            online=self.o365_teams_meeting,
        )
        event = self.sudo()
        if (
            link.graph_event_id
            and event.o365_pending_changes == "attendees"
            and event.o365_pending_base == (link.change_key or False)
        ):
            # Only attendees changed since Outlook's version: the others get no mail (A14).
            return meeting_attendees_change(data)
        return meeting_event(data)

    def _o365_pushed(self, account, body):
        """Outlook took the push (called with Graph's answer): keep a Teams join link (A14)."""
        self.ensure_one()
        url = online_meeting_url(body or {})
        if url and url != self.videocall_location:
            self.sudo().with_context(**{FROM_OUTLOOK: True}).write({"videocall_location": url})

    def _o365_apply_attendee_answers(self, event, account):
        """Answers given in Outlook show on the attendees (A15); nothing is pushed back (E4)."""
        self.ensure_one()
        answers = attendee_answers(event)
        own = (event.get("responseStatus") or {}).get("response")
        if own and not event.get("isOrganizer") and account.mailbox_address:
            answers[account.mailbox_address.lower()] = own
        for attendee in self.sudo().attendee_ids:
            email = (attendee.partner_id.email_normalized or "").lower()
            state = ATTENDEE_STATES.get(answers.get(email))
            if state and attendee.state != state:
                attendee.write({"state": state})

    # -- Outlook's side (A12) ---------------------------------------------------------------

    def _o365_apply_outlook_change(self, link, event):
        """Start, end, location and added attendees flow back; subject and notes do not (A12).

        Meetings logged from Outlook (origin 'outlook') belong to the inbound side (B10).
        """
        if link.origin != "odoo":
            parent = getattr(super(), "_o365_apply_outlook_change", None)
            return parent(link, event) if parent else None
        meeting = self.exists()
        if not meeting:
            return None
        values = {}
        if event.get("isAllDay"):
            start, last = parse_graph_day(event["start"]), parse_graph_day(event["end"])
            last = max(start, last - timedelta(days=1))  # Graph's all-day end is exclusive
            if not meeting.allday or meeting.start_date != start or meeting.stop_date != last:
                values.update({"allday": True, "start_date": start, "stop_date": last})
        else:
            start, stop = parse_graph_time(event.get("start")), parse_graph_time(event.get("end"))
            if start and stop and (meeting.allday or start != meeting.start or stop != meeting.stop):
                values.update({"allday": False, "start": start, "stop": stop})
        if "location" in event and event_location(event) != (meeting.location or ""):
            values["location"] = event_location(event)
        known = {email_normalize(p.email or "") for p in meeting.partner_ids}
        added = event_attendee_emails(event) - known - {False, ""}
        if added:
            partners = self.env["res.partner"].sudo().search([("email_normalized", "in", list(added))])
            # One contact per address, never a new contact (as in B2).
            chosen = {p.email_normalized: p for p in partners.sorted("id", reverse=True)}
            if chosen:
                values["partner_ids"] = [(4, p.id) for p in chosen.values()]
        url = online_meeting_url(event)
        if url and url != meeting.videocall_location:
            values["videocall_location"] = url
        if values:
            meeting.sudo().with_context(**{FROM_OUTLOOK: True}).write(values)
            if "partner_ids" in values:
                meeting._o365_ensure_attendee_activities()
        meeting._o365_apply_attendee_answers(event, link.account_id)
        if event.get("changeKey"):
            link.sudo().change_key = event["changeKey"]
        return None

    def _o365_apply_outlook_removal(self, link):
        if link.origin != "odoo":
            parent = getattr(super(), "_o365_apply_outlook_removal", None)
            return parent(link) if parent else None
        meeting = self.exists()
        if meeting:
            meeting.sudo().with_context(**{FROM_OUTLOOK: True}).write({"o365_confirmed": False})
            meeting.message_post(
                body=self.env._("The meeting was deleted in Outlook; it is no longer sent there."),
                subtype_xmlid="mail.mt_note",
            )
            self.env["o365.push.queue"]._forget(link.account_id, meeting)
        link.sudo().unlink()
        return None

    def _o365_push_failed(self, account, message):
        self.ensure_one()
        self.sudo().message_post(body=plain_words.words_of(message), subtype_xmlid="mail.mt_note")

    def action_o365_retry_now(self):
        """Retry what failed, or what waits after an error, now (issue 15)."""
        self.env["o365.push.queue"].sudo().search(
            [
                ("res_model", "=", self._name),
                ("res_id", "in", self.ids),
                "|",
                ("state", "=", "failed"),
                ("last_error", "!=", False),
            ]
        ).action_retry_now()
        return True
