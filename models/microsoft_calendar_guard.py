"""SPEC S6: live next to Odoo's own microsoft_calendar without syncing a record twice.

microsoft_calendar is not a dependency, so nothing here imports it: its marker
field ``need_sync_m`` is looked up in ``_fields``. microsoft_calendar pushes a
calendar.event when ``need_sync_m`` is set (right after create, after a write of
a synced field, and in its periodic sync whose domain requires
``need_sync_m = True``). For the events this module owns the marker is kept
False, whichever of the two modules' overrides runs first:

- meetings linked to Outlook by this module (an ``o365.event.link``): events
  logged from Outlook (option B) and ERP meetings pushed on confirmation (A10);
- events created with the context key ``o365_no_microsoft_sync`` (the inbound
  pipeline creates its meetings so, before any link exists);
- the meeting hr_holidays creates for a validated leave, for a user connected
  here with option C on: this module pushes the leave itself.

The other way round, ``_o365_synced_elsewhere()`` tells this module's meeting
push to leave alone what microsoft_calendar already owns (``microsoft_id``) and
leave meetings. models/__init__.py imports this file after calendar_event.py so that
its ``_o365_queue_changes`` filter wraps the meeting push.
"""

from odoo import api, fields, models

NO_MICROSOFT_SYNC = "o365_no_microsoft_sync"


class CalendarEvent(models.Model):
    _inherit = "calendar.event"

    o365_owned = fields.Boolean(
        "Synced by Microsoft 365 Calendar Sync",
        copy=False,
        readonly=True,
        help="This module keeps the Outlook side of this meeting; Odoo's own Outlook sync leaves it alone.",
    )

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
        linked = set(
            self.env["o365.event.link"]
            .sudo()
            .search([("res_model", "=", self._name), ("res_id", "in", self.ids)])
            .mapped("res_id")
        )
        holiday_users = self._o365_holiday_users()
        return self.filtered(
            lambda event: (
                event.o365_owned
                or event.id in linked
                or (event.res_model == "hr.leave" and event.user_id in holiday_users)
            )
        )

    def _o365_queue_changes(self, previous_organisers=None, changed=None):
        """The meeting push (A10) skips leave meetings and microsoft_calendar's events."""
        mine = self.filtered(lambda event: not event._o365_synced_elsewhere())
        return super(CalendarEvent, mine)._o365_queue_changes(previous_organisers, changed=changed)

    @api.model_create_multi
    def create(self, vals_list):
        if self.env.context.get(NO_MICROSOFT_SYNC):
            for vals in vals_list:
                vals["o365_owned"] = True
        if self._o365_microsoft_calendar_installed():
            marked = self.env.context.get(NO_MICROSOFT_SYNC)
            leave = self.env.context.get("active_model") == "hr.leave"
            holiday_users = self._o365_holiday_users() if leave or not marked else self.env["res.users"]
            for vals in vals_list:
                is_leave = leave or vals.get("res_model") == "hr.leave"
                if marked or (is_leave and vals.get("user_id", self.env.uid) in holiday_users.ids):
                    vals["need_sync_m"] = False
        return super().create(vals_list)

    def write(self, vals):
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


class O365EventLink(models.Model):
    _inherit = "o365.event.link"

    @api.model_create_multi
    def create(self, vals_list):
        links = super().create(vals_list)
        Event = self.env["calendar.event"]
        events = Event.sudo().browse(links.filtered(lambda link: link.res_model == Event._name).mapped("res_id"))
        events = events.exists().filtered(lambda event: not event.o365_owned)
        if events:
            values = {"o365_owned": True}
            if Event._o365_microsoft_calendar_installed():
                values["need_sync_m"] = False
            events.write(values)
        return links
