"""Read-only HTML view of every mailbox's calendar, for people trying the demo.

``/_emulator/ui`` lists each mailbox's events (yesterday and the coming days) with
everything Outlook would show: subject, times with their zone, attendees and their
answers, categories, show-as, the online-meeting link and the start of the body.
``/_emulator/ui/event?id=…`` (an event's ``webLink``) shows one event in full, its
body rendered as Outlook would, after sanitising: no scripts, styles, frames,
forms or event handlers; links kept only for http(s) and mailto, opening in a new
tab. Pages are also sent with a Content-Security-Policy that runs no script.
"""

import html
import re
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import quote

from . import events as E
from . import timezones
from .httpio import Response

_CSS = """body{font-family:Segoe UI,Arial,sans-serif;margin:24px;color:#222;max-width:1400px}
table{border-collapse:collapse;width:100%}th{background:#f3f3f3}section{margin-bottom:32px}
td,th{border-bottom:1px solid #ddd;padding:6px 8px;text-align:left;vertical-align:top}
a{color:#0f6cbd}small,.muted{color:#666}.subject{font-weight:600}
.pill{display:inline-block;border-radius:10px;padding:0 8px;margin:1px 2px 1px 0;font-size:12px;background:#eee}
.accepted{background:#dff6dd}.declined{background:#fde7e9}.tentativelyAccepted{background:#fff4ce}
.organizer{background:#e0ecf9}.oof{background:#f3e6ff}.busy{background:#e0ecf9}.free{background:#eee}
.cancelled{text-decoration:line-through}.body{border:1px solid #ddd;border-radius:6px;padding:12px 16px;
background:#fff;overflow-wrap:anywhere}.join{font-weight:600}
dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px}dt{color:#555}dd{margin:0;overflow-wrap:anywhere}"""

# The page never runs a script; a body that slipped something past the sanitiser
# still could not load or run anything.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

_RESPONSES = {
    "accepted": "Accepted",
    "declined": "Declined",
    "tentativelyAccepted": "Tentative",
    "notResponded": "No answer yet",
    "none": "No answer yet",
    "organizer": "Organizer",
}
_SHOW_AS = {
    "free": "Free",
    "tentative": "Tentative",
    "busy": "Busy",
    "oof": "Out of office",
    "workingElsewhere": "Working elsewhere",
    "unknown": "Unknown",
}


# --------------------------------------------------------------- sanitising

_ALLOWED_TAGS = {
    "a", "b", "strong", "i", "em", "u", "s", "p", "br", "div", "span", "ul", "ol", "li", "table", "thead",
    "tbody", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code", "hr", "small",
    "sub", "sup", "font", "center",
}  # fmt: skip
_VOID_TAGS = {"br", "hr"}
# Dropped with everything inside them.
_DROPPED_WITH_CONTENT = {
    "script", "style", "head", "title", "iframe", "object", "noscript", "template", "svg", "math",
    "form", "textarea", "select", "button", "frameset", "applet",
}  # fmt: skip
_DROPPED_VOID = {"embed", "frame", "img", "input", "link", "meta", "base", "param", "source", "track"}
_SAFE_URL = re.compile(r"^(https?:|mailto:)", re.I)


class _Sanitiser(HTMLParser):
    """Keeps a small set of formatting tags, safe links and the text; escapes everything else."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out = []
        self.open = []
        self.dropping = 0

    def handle_starttag(self, tag, attrs):
        if tag in _DROPPED_VOID:
            return
        if tag in _DROPPED_WITH_CONTENT:
            self.dropping += 1
            return
        if self.dropping or tag not in _ALLOWED_TAGS:
            return
        if tag == "a":
            href = dict(attrs).get("href") or ""
            # Browsers ignore control characters and spaces in a scheme ("java\tscript:").
            cleaned = re.sub(r"[\x00-\x20]", "", html.unescape(href))
            if _SAFE_URL.match(cleaned):
                self.out.append(f'<a href="{html.escape(cleaned)}" target="_blank" rel="noopener noreferrer">')
            else:
                self.out.append("<a>")
        else:
            self.out.append(f"<{tag}>")
        if tag not in _VOID_TAGS:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        if tag in _VOID_TAGS and not self.dropping:
            self.out.append(f"<{tag}>")

    def handle_endtag(self, tag):
        if tag in _DROPPED_WITH_CONTENT:
            self.dropping = max(0, self.dropping - 1)
            return
        if self.dropping or tag not in self.open:
            return
        while self.open:
            last = self.open.pop()
            self.out.append(f"</{last}>")
            if last == tag:
                break

    def handle_data(self, data):
        if not self.dropping:
            self.out.append(html.escape(data))

    def result(self):
        self.close()
        return "".join(self.out) + "".join(f"</{tag}>" for tag in reversed(self.open))


def sanitize_html(content):
    """Outlook-style HTML body made safe to show: formatting and http(s)/mailto links only."""
    parser = _Sanitiser()
    parser.feed(content or "")
    return parser.result()


def render_body(body):
    """The event's body as safe HTML, whatever its content type."""
    body = body or {}
    content = body.get("content") or ""
    if body.get("contentType") == "text":
        return _linkify(html.escape(content)).replace("\n", "<br>")
    return sanitize_html(content)


def _linkify(escaped_text):
    return re.sub(
        r"(https?://[^\s<>&\"']+)",
        r'<a href="\1" target="_blank" rel="noopener noreferrer">\1</a>',
        escaped_text,
    )


# --------------------------------------------------------------- formatting

_e = html.escape


def _when(ev, zone_name):
    """Start and end in the mailbox's time zone, with the zone named."""
    if ev.get("_all_day_dates"):
        s, e = ev["_all_day_dates"]
        if (e - s).days <= 1:
            return f"{s:%a %d %b %Y} (all day)"
        return f"{s:%a %d %b} - {e - timedelta(days=1):%a %d %b %Y} (all day)"
    zone = timezones.resolve(zone_name)
    s, e = ev["_start"].astimezone(zone), ev["_end"].astimezone(zone)
    end = f"{e:%H:%M}" if s.date() == e.date() else f"{e:%a %d %b %H:%M}"
    return f"{s:%a %d %b %Y %H:%M} - {end} ({zone_name}, UTC{s:%z})"


def _join_url(ev):
    meeting = ev.get("onlineMeeting") or {}
    return meeting.get("joinUrl") or ev.get("onlineMeetingUrl") or ""


def _link(url, text):
    if not _SAFE_URL.match(url or ""):
        return _e(text)
    return f'<a href="{_e(url)}" target="_blank" rel="noopener noreferrer">{_e(text)}</a>'


def _person(email_address):
    email_address = email_address or {}
    address, name = email_address.get("address") or "", email_address.get("name") or ""
    if name and name.lower() != address.lower():
        return f"{_e(name)} <small>&lt;{_e(address)}&gt;</small>"
    return _e(address)


def _response_pill(response):
    return f'<span class="pill {_e(response)}">{_e(_RESPONSES.get(response, response))}</span>'


def _attendees_short(ev):
    return "<br>".join(
        f"{_person(a.get('emailAddress'))} {_response_pill((a.get('status') or {}).get('response', 'none'))}"
        for a in ev.get("attendees") or []
    )


def _flags(ev):
    return [
        text
        for text, on in (
            ("private", ev.get("sensitivity") in ("private", "personal", "confidential")),
            ("cancelled", ev.get("isCancelled")),
            (ev.get("type", ""), ev.get("type") not in (None, "singleInstance")),
            ("organizer", ev.get("isOrganizer")),
        )
        if on
    ]


def _detail_href(mailbox, ev):
    return f"/_emulator/ui/event?id={quote(ev['id'], safe='')}&mailbox={quote(mailbox.upn, safe='')}"


def _page(title, content, refresh=False):
    head = '<meta http-equiv="refresh" content="15">' if refresh else ""
    body = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{_e(title)}</title>{head}
<meta name="referrer" content="no-referrer"><style>{_CSS}</style></head><body>{content}</body></html>"""
    return Response(
        200,
        body,
        {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
        content_type="text/html; charset=utf-8",
    )


# --------------------------------------------------------------- pages


def page(emu, req):
    if req.path.rstrip("/").endswith("/_emulator/ui/event"):
        return event_page(emu, req)
    return calendar_page(emu, req)


def calendar_page(emu, req):
    state = emu.state
    now = timezones.now_utc()
    days = int(req.query.get("days", "14")) if req.query.get("days", "14").isdigit() else 14
    start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    sections = []
    with state.lock:
        for mb in sorted(state.mailboxes.values(), key=lambda m: m.upn):
            rows = []
            for ev in E.calendar_view(mb.events, start, now + timedelta(days=days)):
                join = _join_url(ev)
                preview = E.preview(ev["body"]) if ev.get("body") else ""
                rows.append(
                    f'<tr class="{"cancelled" if ev.get("isCancelled") else ""}">'
                    f"<td>{_e(_when(ev, mb.time_zone))}</td>"
                    f'<td><a class="subject" href="{_e(_detail_href(mb, ev))}">'
                    f"{_e(ev['subject'] or '(no subject)')}</a>"
                    f"<br><small>{_e((ev.get('location') or {}).get('displayName', ''))}</small>"
                    + (f'<br><small class="muted">{_e(preview[:140])}</small>' if preview else "")
                    + (f"<br>{_link(join, 'Join online meeting')}" if join else "")
                    + f"</td><td>{_person(ev['organizer']['emailAddress'])}</td><td>{_attendees_short(ev)}</td>"
                    f"<td>{_e(', '.join(ev.get('categories') or []))}</td>"
                    f'<td><span class="pill {_e(ev.get("showAs", ""))}">'
                    f"{_e(_SHOW_AS.get(ev.get('showAs'), ev.get('showAs') or ''))}</span></td>"
                    f"<td>{_e(', '.join(_flags(ev)))}</td></tr>"
                )
            table = (
                (
                    "<table><tr><th>When</th><th>Subject</th><th>Organizer</th><th>Attendees</th>"
                    "<th>Categories</th><th>Show as</th><th>Flags</th></tr>" + "".join(rows) + "</table>"
                )
                if rows
                else "<p><i>No upcoming events.</i></p>"
            )
            sections.append(
                f"<section><h2>{_e(mb.display_name)} &lt;{_e(mb.upn)}&gt;</h2>"
                f"<p class='muted'>Time zone: {_e(mb.time_zone)} · {len(mb.events)} stored items</p>{table}</section>"
            )
        stats = (
            f"{len(state.requests)} Graph requests logged · {len(state.invitations)} invitations sent · "
            f"{len(state.subscriptions)} subscriptions"
        )
        content = (
            f"<h1>Microsoft Graph emulator — tenant {_e(state.domain)}</h1>"
            f"<p class='muted'>Tenant id {_e(state.tenant_id)} · {stats} · read-only view, refreshes every 15 s · "
            f"times in each mailbox's time zone · window: yesterday + {days} days · "
            f"click a subject for the whole event.</p>{''.join(sections)}"
        )
    return _page("Graph emulator", content, refresh=True)


def _find(state, event_id, upn):
    mailboxes = list(state.mailboxes.values())
    if upn:
        mailboxes.sort(key=lambda m: m.upn.lower() != upn.lower())
    for mb in mailboxes:
        ev = E.lookup(mb.events, event_id)
        if ev is not None:
            return mb, ev
    return None, None


def event_page(emu, req):
    state = emu.state
    event_id = req.query.get("id", "")
    with state.lock:
        mb, ev = _find(state, event_id, req.query.get("mailbox", ""))
        if ev is None:
            resp = _page(
                "Event not found",
                f"<p><a href='/_emulator/ui'>← All calendars</a></p><h1>Event not found</h1>"
                f"<p>No mailbox holds an event with id <code>{_e(event_id)}</code> (deleted?).</p>",
            )
            resp.status = 404
            return resp
        content = _event_html(mb, ev)
    return _page(f"{ev['subject'] or '(no subject)'} — Graph emulator", content)


def _event_html(mb, ev):
    join = _join_url(ev)
    location = (ev.get("location") or {}).get("displayName", "")
    attendee_rows = "".join(
        f"<tr><td>{_person(a.get('emailAddress'))}</td><td>{_e(a.get('type', ''))}</td>"
        f"<td>{_response_pill((a.get('status') or {}).get('response', 'none'))}</td>"
        f"<td><small>{_e(_answer_time((a.get('status') or {}).get('time')))}</small></td></tr>"
        for a in ev.get("attendees") or []
    )
    attendees = (
        "<table><tr><th>Attendee</th><th>Type</th><th>Response</th><th>Answered</th></tr>" + attendee_rows + "</table>"
        if attendee_rows
        else "<p class='muted'>No attendees.</p>"
    )
    if ev.get("isOnlineMeeting") or join:
        online = (
            f'<span class="join">{_link(join, "Join online meeting")}</span> <small>{_e(join)}</small>'
            if join
            else "Online meeting (no join link yet)"
        )
    else:
        online = "No"
    fields = [
        ("When", _e(_when(ev, mb.time_zone))),
        (
            "Created in zone",
            _e(f"{ev.get('originalStartTimeZone', '')} (start), {ev.get('originalEndTimeZone', '')} (end)"),
        ),
        ("Location", _e(location) or "<span class='muted'>none</span>"),
        ("Organizer", _person(ev["organizer"]["emailAddress"])),
        ("Calendar of", f"{_e(mb.display_name)} &lt;{_e(mb.upn)}&gt;"),
        ("This copy", _response_pill((ev.get("responseStatus") or {}).get("response", "none"))),
        ("Show as", f'<span class="pill {_e(ev.get("showAs", ""))}">{_e(_SHOW_AS.get(ev.get("showAs"), ""))}</span>'),
        ("Categories", _e(", ".join(ev.get("categories") or [])) or "<span class='muted'>none</span>"),
        ("Online meeting", online),
        ("Sensitivity", _e(ev.get("sensitivity", ""))),
        ("Importance", _e(ev.get("importance", ""))),
        ("Type", _e(ev.get("type", "")) + (" · cancelled" if ev.get("isCancelled") else "")),
        (
            "Reminder",
            _e(f"{ev.get('reminderMinutesBeforeStart')} min before") if ev.get("isReminderOn") else "off",
        ),
        ("Created / modified", _e(f"{_stamp(ev.get('createdDateTime'))} / {_stamp(ev.get('lastModifiedDateTime'))}")),
        ("iCalUId", f"<small>{_e(ev.get('iCalUId') or '')}</small>"),
        ("Id", f"<small>{_e(ev['id'])}</small>"),
    ]
    props = ev.get("_singleValueExtendedProperties") or []
    if props:
        fields.append(
            (
                "Extended properties",
                "<br>".join(f"<small>{_e(p.get('id', ''))} = {_e(str(p.get('value', '')))}</small>" for p in props),
            )
        )
    details = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in fields)
    subject_class = "cancelled" if ev.get("isCancelled") else ""
    return (
        f"<p><a href='/_emulator/ui'>← All calendars</a></p>"
        f"<h1 class='{subject_class}'>{_e(ev['subject'] or '(no subject)')}</h1>"
        f"<dl>{details}</dl><h2>Attendees</h2>{attendees}"
        f"<h2>Body</h2><div class='body'>{render_body(ev.get('body')) or '<span class=muted>(empty)</span>'}</div>"
    )


def _stamp(value):
    if value is None:
        return ""
    if hasattr(value, "strftime"):
        return f"{value:%Y-%m-%d %H:%M:%S} UTC"
    return str(value)


def _answer_time(value):
    if not value or str(value).startswith("0001-"):
        return ""
    return _stamp(value)
