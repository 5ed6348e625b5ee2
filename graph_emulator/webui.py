"""Read-only HTML view of every mailbox's calendar, for people trying the demo."""

import html
from datetime import timedelta

from . import events as E
from . import timezones
from .httpio import html_response

_CSS = """body{font-family:Segoe UI,Arial,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;width:100%}th{background:#f3f3f3}section{margin-bottom:32px}
td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}"""


def _fmt(ev, zone_name):
    if ev.get("_all_day_dates"):
        s, e = ev["_all_day_dates"]
        return (
            f"{s:%a %d %b} (all day)"
            if (e - s).days == 1
            else f"{s:%a %d %b} - {e - timedelta(days=1):%a %d %b} (all day)"
        )
    zone = timezones.resolve(zone_name)
    s, e = ev["_start"].astimezone(zone), ev["_end"].astimezone(zone)
    return f"{s:%a %d %b %H:%M}-{e:%H:%M}"


def page(emu, req):
    state = emu.state
    now = timezones.now_utc()
    days = int(req.query.get("days", "14")) if req.query.get("days", "14").isdigit() else 14
    start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    sections = []
    with state.lock:
        for mb in sorted(state.mailboxes.values(), key=lambda m: m.upn):
            rows = []
            for ev in E.calendar_view(mb.events, start, now + timedelta(days=days)):
                atts = ", ".join(
                    html.escape(a["emailAddress"]["address"]) + f" <small>({a['status']['response']})</small>"
                    for a in ev["attendees"]
                )
                flags = [
                    t
                    for t, on in (
                        ("private", ev["sensitivity"] == "private"),
                        ("cancelled", ev["isCancelled"]),
                        (ev["type"], ev["type"] != "singleInstance"),
                        ("organizer", ev["isOrganizer"]),
                    )
                    if on
                ]
                rows.append(
                    f"<tr><td>{html.escape(_fmt(ev, mb.time_zone))}</td><td><b>{html.escape(ev['subject'])}</b>"
                    f"<br><small>{html.escape(ev['location'].get('displayName', ''))}</small></td>"
                    f"<td>{html.escape(ev['organizer']['emailAddress']['address'])}</td><td>{atts}</td>"
                    f"<td>{html.escape(', '.join(ev['categories']))}</td><td>{html.escape(', '.join(flags))}</td></tr>"
                )
            table = (
                (
                    "<table><tr><th>When</th><th>Subject</th><th>Organizer</th><th>Attendees</th><th>Categories</th><th>Flags</th></tr>"
                    + "".join(rows)
                    + "</table>"
                )
                if rows
                else "<p><i>No upcoming events.</i></p>"
            )
            sections.append(
                f"<section><h2>{html.escape(mb.display_name)} &lt;{html.escape(mb.upn)}&gt;</h2>"
                f"<p>Time zone: {html.escape(mb.time_zone)} · {len(mb.events)} stored items</p>{table}</section>"
            )
        stats = (
            f"{len(state.requests)} Graph requests logged · {len(state.invitations)} invitations sent · "
            f"{len(state.subscriptions)} subscriptions"
        )
    body = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Graph emulator</title>
<meta http-equiv="refresh" content="15">
<style>{_CSS}</style>
</head><body><h1>Microsoft Graph emulator — tenant {html.escape(state.domain)}</h1>
<p>Tenant id {html.escape(state.tenant_id)} · {stats} · read-only view, refreshes every 15 s ·
times in each mailbox's time zone · window: yesterday + {days} days.</p>{"".join(sections)}</body></html>"""
    return html_response(body)
