"""Activities (phone calls, tasks) <-> Outlook events (SPEC A1-A6).

Push: ``activity_event`` builds the event. Pull: ``activity_changes`` says what a move
or resize in Outlook changes on the activity (A5); subject and body stay Odoo's.
"""

from dataclasses import dataclass
from html import escape

from ..graph_event import GraphEvent
from ..translation import _lt, in_lang
from .common import clean_html, graph_time

# Subject prefixes of activity events (SPEC A2): the kind, not the type's own name,
# so "To-Do" or a custom type still reads as a task in the calendar. They are put in the
# assignee's language (i18n/*.po: "Appel", "Anruf", as Odoo names its Call type).
KIND_LABELS = {"phonecall": _lt("Phone Call"), "task": _lt("Task")}


@dataclass
class Contact:
    """What the body shows about the activity's contact (SPEC A3)."""

    name: str = ""
    company: str = ""
    phone: str = ""
    email: str = ""


# -- to Graph --------------------------------------------------------------------------------


def activity_subject(kind, summary, lang=None):
    """`Task: Create a quote`, `Phone Call: Follow up on offer` (SPEC A2), in language ``lang``
    (French: `Appel : Relancer l'offre`)."""
    return in_lang(_lt("%(kind)s: %(summary)s", kind=KIND_LABELS[kind], summary=summary), lang).strip()


def activity_body(open_url, contact, notes_html, lang=None):
    """The event body (SPEC A3): link back, contact details, sanitised notes."""
    label = escape(in_lang(_lt("Open activity"), lang), quote=False)
    lines = [f'<p><a href="{escape(open_url, quote=True)}">{label}</a></p>']
    rows = [
        (_lt("Contact"), contact.name),
        (_lt("Company"), contact.company),
        (_lt("Phone"), contact.phone),
        (_lt("Email"), contact.email),
    ]
    details = "".join(
        in_lang(_lt("%(kind)s: %(summary)s", kind=label, summary=escape(value)), lang) + "<br/>"
        for label, value in rows
        if value
    )
    if details:
        lines.append(f"<p>{details}</p>")
    notes = clean_html(notes_html)
    if notes:
        lines.append(f"<div>{notes}</div>")
    return "".join(lines)


def activity_event(kind, summary, start, end, open_url, contact, notes_html, lang=None):
    """Graph JSON for a phone call or task activity (SPEC A1-A3), in the assignee's language ``lang``."""
    return {
        "subject": activity_subject(kind, summary, lang),
        "body": {"contentType": "html", "content": activity_body(open_url, contact, notes_html, lang)},
        "start": graph_time(start),
        "end": graph_time(end),
        "isAllDay": False,
        "showAs": "busy",
    }


# -- from Graph ------------------------------------------------------------------------------


def activity_changes(event, start, end):
    """{"o365_start", "o365_end"}: the bounds a move or resize in Outlook changed (A5).

    ``start``/``end`` are the activity's current naive-UTC bounds. ValueError when the
    event's times cannot be read (see ``graph_event.to_utc``).
    """
    outlook = GraphEvent(event)
    new_start, new_end = outlook.start, outlook.end
    values = {}
    if new_start and new_start != start:
        values["o365_start"] = new_start
    if new_end and new_end != end:
        values["o365_end"] = new_end
    return values
