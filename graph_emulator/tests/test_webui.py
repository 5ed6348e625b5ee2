"""The emulator's web page: what reached "Outlook", in full, shown safely."""

import re
from datetime import datetime, timedelta

import requests

from graph_emulator.testing import att, event_payload
from graph_emulator.webui import sanitize_html

HOSTILE_BODY = (
    "<html><head><style>body{display:none}</style><script>alert('head')</script></head><body>"
    '<p>Agenda: <b>pricing</b>. <a href="https://odoo.example/odoo/action-1?id=7&amp;x=1">Open activity</a></p>'
    "<script>alert('xss')</script><img src=x onerror=alert(1)>"
    '<a href="javascript:alert(2)">click me</a><a href="java&#x09;script:alert(3)">tab</a>'
    '<p onclick="alert(4)" style="color:red">styled</p><iframe src="https://evil.example"></iframe>'
    "</body></html>"
)


def _tomorrow():
    return (datetime.utcnow() + timedelta(days=1)).strftime("%Y-%m-%d")


def _create(outlook, upn, **extra):
    day = _tomorrow()
    created = outlook(upn).post(
        "/me/events",
        json=event_payload(
            extra.pop("subject", "Quote review"), f"{day}T10:00:00", f"{day}T11:00:00", tz="Europe/London", **extra
        ),
    )
    assert created.status_code == 201, created.text
    return created.json()


def test_calendar_page_shows_event_in_full(emu, tenant, outlook):
    event = _create(
        outlook,
        "alex@contoso.example",
        body={"contentType": "html", "content": "<p>Discuss the quote for Customer Ltd.</p>"},
        attendees=[att("jane.doe@customer.example", "Jane Doe"), att("bob@acme.example", "Bob Stone", "optional")],
        categories=["Blue category"],
        showAs="tentative",
        location={"displayName": "Room 4"},
        isOnlineMeeting=True,
    )
    join_url = event["onlineMeeting"]["joinUrl"]
    page = requests.get(emu.http_base_url + "/_emulator/ui")
    assert page.status_code == 200
    text = page.text
    assert "Quote review" in text and "Room 4" in text
    assert "10:00 - 11:00 (Europe/London, UTC+0" in text, "times carry the mailbox's zone"
    assert "Jane Doe" in text and "jane.doe@customer.example" in text and "bob@acme.example" in text
    assert "No answer yet" in text, "each attendee's response is shown"
    assert "Blue category" in text and "Tentative" in text
    assert "Discuss the quote for Customer Ltd." in text, "the body's start is shown"
    assert f'href="{join_url}"' in text and "Join online meeting" in text
    # The subject links to the event's own page, which is the event's webLink.
    links = re.findall(r'<a class="subject" href="([^"]+)"', text)
    assert len(links) == 1 and links[0].startswith("/_emulator/ui/event?id=")
    assert event["webLink"].endswith("/_emulator/ui/event?id=" + event["id"])


def test_event_page_shows_body_attendees_responses_and_join_link(emu, tenant, outlook):
    event = _create(
        outlook,
        "alex@contoso.example",
        body={"contentType": "html", "content": HOSTILE_BODY},
        attendees=[att("sam@contoso.example", "Sam Taylor"), att("jane.doe@customer.example", "Jane Doe")],
        categories=["Green category"],
        isOnlineMeeting=True,
    )
    join_url = event["onlineMeeting"]["joinUrl"]
    # Sam accepts in his copy: the organiser's copy shows his answer.
    sam = outlook("sam@contoso.example")
    copies = sam.get("/me/events").json()["value"]
    copy = next(c for c in copies if c["iCalUId"] == event["iCalUId"])
    assert sam.post(f"/me/events/{copy['id']}/accept", json={"sendResponse": True}).status_code == 202

    page = requests.get(event["webLink"].replace(emu.base_url, emu.http_base_url))
    assert page.status_code == 200
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    text = page.text
    assert "<h1 class=''>Quote review</h1>" in text
    assert "Accepted" in text and "Sam Taylor" in text and "Jane Doe" in text
    assert "Green category" in text and "Busy" in text
    assert join_url.startswith("https://") and f'href="{join_url}"' in text
    # The body is rendered, with its link working (new tab) and its markup sanitised.
    assert "Agenda: <b>pricing</b>." in text
    assert (
        '<a href="https://odoo.example/odoo/action-1?id=7&amp;x=1" target="_blank" rel="noopener noreferrer">'
        "Open activity</a>"
    ) in text
    body = text.split("<div class='body'>", 1)[1]
    for forbidden in ("<script", "alert(", "onerror", "onclick", "javascript:", "<iframe", "<img", "style=", "<style"):
        assert forbidden not in body, forbidden
    assert "<a>click me</a>" in body and "<p>styled</p>" in body


def test_event_page_unknown_id_is_404(emu, tenant):
    page = requests.get(emu.http_base_url + "/_emulator/ui/event?id=%3Cscript%3E")
    assert page.status_code == 404
    assert "&lt;script&gt;" in page.text and "<script>" not in page.text


def test_subject_and_attendee_names_are_escaped(emu, tenant, outlook):
    _create(
        outlook,
        "kim@contoso.example",
        subject="<img src=x onerror=alert(1)>",
        attendees=[att("jane.doe@customer.example", "<b>Jane</b>")],
    )
    text = requests.get(emu.http_base_url + "/_emulator/ui").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "<img" not in text
    assert "&lt;b&gt;Jane&lt;/b&gt;" in text


def test_sanitiser_keeps_formatting_and_safe_links_only():
    assert sanitize_html('<p>Hi <a href="mailto:a@b.example">mail</a></p>') == (
        '<p>Hi <a href="mailto:a@b.example" target="_blank" rel="noopener noreferrer">mail</a></p>'
    )
    assert sanitize_html("<div><b>bold<i>both</div>after") == "<div><b>bold<i>both</i></b></div>after"
    assert sanitize_html("a<embed src=x>b<br/>c</p>") == "ab<br>c"
    assert sanitize_html("<style>p{}</style><p>kept</p>") == "<p>kept</p>"
    assert sanitize_html("1 &lt; 2 &amp; <unknown>x</unknown>") == "1 &lt; 2 &amp; x"
