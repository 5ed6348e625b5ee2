"""Probing users' mailboxes for the organisation's application (SPEC O1): plain Python over $batch.

Before the organisation connects a user's mailbox, three requests (``mailbox_probe`` in
``graph_client.py``) tell who owns it, its time zone, and whether the application may read
its calendar (the read Exchange's RBAC for Applications scope answers 403 to). Many
mailboxes are probed a few per $batch, each mailbox's requests told apart by a key; the
answers are read back here. The words for the user or the administrator, and the account
records, are the model's (models/o365_sync_account_organization.py).
"""

from .graph_client import BATCH_LIMIT, mailbox_probe, user_mailbox

PROBE_KEYS = ("user", "settings", "events")
# How many mailboxes one $batch request probes.
PER_BATCH = BATCH_LIMIT // len(mailbox_probe(""))


def probe_requests(key, address):
    """The $batch items that probe the mailbox of ``address``, their ids prefixed with ``key``."""
    return [{**item, "id": f"{key}-{item['id']}"} for item in mailbox_probe(user_mailbox(address))]


def probe_answers(answers, key):
    """The probe of ``key``'s mailbox in a $batch's answers: {"user", "settings", "events": answer};
    an answer missing from the batch reads as status 0."""
    return {name: answers.get(f"{key}-{name}") or {"status": 0} for name in PROBE_KEYS}


def no_such_mailbox(probe):
    """Microsoft 365 has no user, or no mailbox, at the probed address."""
    return probe["user"]["status"] == 404 or probe["settings"]["status"] == 404


def first_refusal(probe):
    """The first of the probe's answers that is not a success, or None."""
    return next((a for a in (probe["user"], probe["settings"], probe["events"]) if not 200 <= a["status"] < 300), None)


def mailbox_owner(probe, address):
    """(the mailbox's address as Microsoft 365 names it, in lower case; its owner's Microsoft 365 id or None)."""
    owner = probe["user"].get("body") or {}
    return (owner.get("mail") or owner.get("userPrincipalName") or address).lower(), owner.get("id")


def mailbox_timezone(probe):
    """The mailbox's time zone, or False."""
    return (probe["settings"].get("body") or {}).get("timeZone") or False


def refusal_detail(answer):
    """The technical detail of an answer refusing a mailbox: "HTTP 403 code: message"."""
    body = answer.get("body") if isinstance(answer.get("body"), dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    return f"HTTP {answer.get('status')} {error.get('code', '')}: {error.get('message', '')}".strip()
