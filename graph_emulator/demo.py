"""Demo tenant: an app, three users in contoso.example and a week of meetings."""

from datetime import date, datetime, timedelta

DEMO_TENANT_ID = "8f1c2a6e-0d3b-4c55-9a8e-7b1d2c3e4f50"
DEMO_CLIENT_ID = "demo-client-id"
DEMO_CLIENT_SECRET = "demo-client-secret"
# "Connect the whole organisation": requested, not granted (an administrator grants them at /adminconsent).
DEMO_APPLICATION_PERMISSIONS = ("Calendars.ReadWrite", "User.Read.All", "MailboxSettings.Read")
DEMO_ADMIN = "admin@contoso.example"
USERS = [
    ("alex@contoso.example", "Alex Wilber", "Europe/London"),
    ("sam@contoso.example", "Sam Taylor", "America/New_York"),
    ("kim@contoso.example", "Kim Akers", "Europe/London"),
    # The IT administrator: Odoo's admin in the demo, who grants admin consent.
    ("admin@contoso.example", "IT Administrator", "Europe/London"),
]


def _att(address, name, kind="required"):
    return {"emailAddress": {"address": address, "name": name}, "type": kind}


def _slot(day, hour, minutes=60, minute=0):
    start = datetime.combine(day, datetime.min.time()).replace(hour=hour, minute=minute)
    fmt = "%Y-%m-%dT%H:%M:%S"
    return {
        "start": {"dateTime": start.strftime(fmt), "timeZone": "Europe/London"},
        "end": {"dateTime": (start + timedelta(minutes=minutes)).strftime(fmt), "timeZone": "Europe/London"},
    }


def upgrade(state):
    """A demo tenant restored from a snapshot older than application permissions: request the demo's
    application permissions and make the demo admin an administrator (nothing else changes)."""
    with state.lock:
        app = state.apps.get(DEMO_CLIENT_ID)
        if app is not None and not app.application_permissions:
            app.application_permissions = list(DEMO_APPLICATION_PERMISSIONS)
        if state.find_mailbox(DEMO_ADMIN) is None:
            state.add_user(DEMO_ADMIN, "IT Administrator", "Europe/London", admin=True)
        admin = state.find_mailbox(DEMO_ADMIN)
        if not any(mb.admin for mb in state.mailboxes.values()):
            admin.admin = True


def seed(state, today=None):
    """Populate `state` (assumed empty). Returns a summary dict."""
    today = today or date.today()

    # The week starts today so the demo always shows upcoming meetings, whatever the weekday.
    def day(n):
        return today + timedelta(days=n)

    state.register_app(
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        [],
        allow_any_localhost_redirect=True,
        display_name="Odoo Outlook Calendar Sync (demo)",
        application_permissions=DEMO_APPLICATION_PERMISSIONS,
    )
    for upn, name, tz in USERS:
        if state.find_mailbox(upn) is None:
            state.add_user(upn, name, tz, admin=upn == DEMO_ADMIN)
    alex, sam, kim = (state.act_as(u[0]) for u in USERS[:3])
    jane = _att("jane.doe@customer.example", "Jane Doe")
    bob = _att("bob@acme.example", "Bob Smith")

    def html(text):
        return {"contentType": "html", "content": f"<p>{text}</p>"}

    alex.create_event(
        dict(
            _slot(day(0), 10),
            subject="Quarterly review with Customer Ltd",
            body=html("Agenda: results, next quarter."),
            location={"displayName": "Meeting room 1"},
            attendees=[jane, _att("sam@contoso.example", "Sam Taylor")],
            categories=["Blue category"],
        )
    )
    alex.create_event(
        dict(
            _slot(day(1), 14, 30),
            subject="Call with Acme about renewal",
            body=html("Discuss contract renewal."),
            location={"displayName": "Teams"},
            attendees=[bob],
        )
    )
    alex.create_event(
        dict(
            _slot(day(2), 9, 30),
            subject="Team stand-up planning",
            attendees=[_att("kim@contoso.example", "Kim Akers"), _att("sam@contoso.example", "Sam Taylor")],
        )
    )
    alex.create_event(dict(_slot(day(3), 12), subject="Doctor appointment", sensitivity="private"))
    alex.create_event(
        dict(
            _slot(day(0), 8, 15),
            subject="Daily sync",
            attendees=[_att("kim@contoso.example", "Kim Akers")],
            recurrence={
                "pattern": {
                    "type": "weekly",
                    "interval": 1,
                    "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                },
                "range": {"type": "endDate", "startDate": day(0).isoformat(), "endDate": day(25).isoformat()},
            },
        )
    )
    alex.create_event(
        {
            "subject": "Trade fair Birmingham",
            "isAllDay": True,
            "showAs": "oof",
            "start": {"dateTime": f"{day(4).isoformat()}T00:00:00", "timeZone": "Europe/London"},
            "end": {"dateTime": f"{day(5).isoformat()}T00:00:00", "timeZone": "Europe/London"},
            "attendees": [_att("carol@customer.example", "Carol White", "optional")],
        }
    )
    sam.create_event(
        dict(
            _slot(day(1), 16),
            subject="Demo for Acme",
            body=html("Product demo."),
            attendees=[bob, _att("kim@contoso.example", "Kim Akers")],
            categories=["Green category"],
        )
    )
    sam.create_event(
        dict(
            _slot(day(3), 15),
            subject="Internal budget review",
            attendees=[_att("alex@contoso.example", "Alex Wilber")],
            categories=["Red category"],
        )
    )
    kim.receive_invitation(
        {"address": "jane.doe@customer.example", "name": "Jane Doe"},
        dict(
            _slot(day(2), 11),
            subject="Customer Ltd: onboarding workshop",
            body=html("Invitation from Customer Ltd."),
            location={"displayName": "Customer Ltd HQ"},
            attendees=[_att("kim@contoso.example", "Kim Akers"), jane],
        ),
    )
    state.clear_invitations()
    return {
        "tenant_id": state.tenant_id,
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "users": [u[0] for u in USERS],
        "admin": DEMO_ADMIN,
        "application_permissions": list(DEMO_APPLICATION_PERMISSIONS),
    }
