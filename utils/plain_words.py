"""Plain words for every sync error a user can see (issue 15, SPEC S3, S7).

One place maps what Graph or the Microsoft login answered -- (status, code,
message) -- to what happened and what to do, in words a user understands. The
technical detail is kept after a marker line, for the log and for the
administrators' "details" toggle: ``compose()`` joins both, ``split()`` takes
them apart again, so one stored text serves both readers.

Plain Python, no database: tested by tests/test_plain_words.py. Every sentence is a
``_lt`` term (utils/translation.py): a str in English, that ``Words.in_lang(lang)`` or
``translation.in_lang(term, lang)`` puts in the reader's language.
"""

from typing import NamedTuple

from .graph_client import is_transient
from .translation import _lt, in_lang

DETAILS_MARKER = "\n\nDetails: "

RETRYING = _lt("Odoo tries again by itself; nothing is lost.")
RETRY_OR_TELL = _lt("Use Retry; tell your administrator if it fails again.")
TELL_ADMIN = _lt("Tell your administrator; the details below say why.")
RECONNECT = _lt(
    "Reconnect: My Profile > Preferences > Reconnect. Nothing is synced until then; "
    "nothing is lost, waiting changes go out once you are back."
)


# utils/auth.py starts every failure of the organisation's application with this.
ORGANIZATION_FAILURE = "The organisation's Microsoft 365"
# models/o365_sync_account.py says this when the organisation's connection was turned off.
ORGANIZATION_STOPPED = "no longer connects Microsoft 365 mailboxes"


class Words(NamedTuple):
    what: str  # what happened
    todo: str  # what to do, and when it fixes itself
    transient: bool  # True when it passes by itself

    def sentence(self, lang=None):
        """What happened and what to do, in language ``lang`` (English when None)."""
        return f"{in_lang(self.what, lang)} {in_lang(self.todo, lang)}".strip()

    def in_lang(self, lang):
        """The same words in language ``lang``."""
        return Words(in_lang(self.what, lang), in_lang(self.todo, lang), self.transient)


def _network_reason(message):
    text = (message or "").lower()
    if "timeout" in text or "timed out" in text:
        return _lt("timed out")
    if "ssl" in text or "certificate" in text:
        return _lt("the secure connection failed")
    if "name or service" in text or "nodename" in text or "resolve" in text:
        return _lt("the address was not found")
    return _lt("no connection")


def explain(status, code=None, message=None):
    """Words for one Graph answer (status 0: no answer at all). Whether it passes by itself
    is the Graph layer's one definition (``graph_client.is_transient``), which the push and
    the pull follow too; the words only say it (issue 24)."""
    status = int(status or 0)
    code = code or ""
    if status == 0 and code == "AuthError":
        return explain_sign_in(message)
    transient = is_transient(status, code)
    what, todo = _what_and_todo(status, code, message)
    return Words(what, todo or (RETRYING if transient else RETRY_OR_TELL), transient)


def _what_and_todo(status, code, message):
    """What a Graph answer means, and what to do when that is more than "wait" or "use Retry"."""
    lowered = code.lower()
    if status == 0:
        if code == "NoAnswer":
            return _lt("Outlook gave no answer for this change."), None
        return _lt("Outlook could not be reached (%(reason)s).", reason=_network_reason(message)), None
    if code == "InvalidRecord":
        return (
            _lt("Odoo could not turn this record into an Outlook event."),
            _lt("Check its dates and text, then use Retry; tell your administrator if it fails again."),
        )
    if status == 429:
        return _lt("Outlook asked Odoo to slow down (too many changes at once)."), None
    if status == 412:
        return _lt("The Outlook event was changed at the same moment."), None
    if status == 424:
        return _lt("Outlook held this change back because another one failed."), None
    if status in (500, 502, 503, 504):
        return _lt("Outlook had a temporary problem."), None
    if status == 401:
        return _lt("Microsoft 365 did not accept Odoo's sign-in for this mailbox."), RECONNECT
    if status == 403 or "accessdenied" in lowered:
        return (
            _lt("Microsoft 365 does not let Odoo write to this calendar."),
            _lt("Ask your administrator to check the app's calendar permissions in Azure, then use Retry."),
        )
    if "quota" in lowered or status == 507:
        return _lt("The Outlook mailbox is full."), _lt("Free some space in the mailbox (or ask IT), then use Retry.")
    if status == 404 or "notfound" in lowered:
        return _lt("The Outlook calendar or event was not found."), None
    if status == 413:
        return _lt("The event is too large for Outlook."), _lt("Shorten the notes or description, then use Retry.")
    if status == 400:
        return (
            _lt("Outlook refused the event's content."),
            _lt("Check the record's dates and text, then use Retry; tell your administrator if it fails again."),
        )
    return _lt("Outlook refused the change (error %(status)s).", status=status), None


def explain_sign_in(message, reconnect=False):
    """Words for a failed sign-in or token refresh (utils/auth.py AuthError)."""
    text = message or ""
    if ORGANIZATION_FAILURE in text:
        # The organisation's application (SPEC O1): no user can fix it, an administrator can.
        return Words(
            _lt("The organisation's Microsoft 365 connection does not work."),
            _lt(
                "Your administrator must fix it in Settings > Microsoft 365 (Test connection says what is wrong). "
                "Nothing is lost: changes wait and go out by themselves once it works."
            ),
            True,
        )
    if ORGANIZATION_STOPPED in text:
        # The administrator went back to per-user sign-ins (SPEC O1, S2).
        return Words(_lt("Your organisation no longer connects your Microsoft 365 mailbox."), RECONNECT, False)
    if "invalid_client" in text:
        return Words(
            _lt("Microsoft 365 refused Odoo's app credentials (the client secret is wrong or expired)."),
            _lt("Your administrator must correct Settings > Microsoft 365; then reconnect from My Profile."),
            False,
        )
    if reconnect or "invalid_grant" in text or "interaction_required" in text or "connect again" in text:
        return Words(
            _lt("Microsoft 365 no longer accepts your sign-in (it expired, was revoked, or consent was withdrawn)."),
            RECONNECT,
            False,
        )
    if "Cannot reach the login endpoint" in text:
        return Words(_lt("The Microsoft sign-in service could not be reached."), RETRYING, True)
    return Words(_lt("Microsoft refused the sign-in."), TELL_ADMIN, False)


def explain_exception(exc):
    """Words for an exception of the Graph client or the login (duck-typed: no import needed)."""
    if hasattr(exc, "reconnect"):
        return explain_sign_in(str(exc), reconnect=exc.reconnect)
    if hasattr(exc, "status"):
        return explain(exc.status, getattr(exc, "code", None), getattr(exc, "message", None))
    return Words(_lt("Something unexpected went wrong."), TELL_ADMIN, False)


def technical(status, code=None, message=None):
    """The one-line technical form kept for the log and the details toggle."""
    return f"{status} {code or ''}: {message or ''}".strip()


def compose(words, detail=None):
    """Plain words, then the technical detail after the marker (when there is one)."""
    words = (words or "").strip()
    detail = (detail or "").strip()
    if not detail or detail == words:
        return words
    return f"{words}{DETAILS_MARKER}{detail}"


def split(text, lang=None):
    """(words, detail) of a stored text; an older raw text is all detail, with generic words.
    With ``lang``, the words are said in that language where they can be (``reword``)."""
    if lang:
        return reword(text, lang), split(text)[1]
    text = text or ""
    if DETAILS_MARKER in text:
        words, _, detail = text.partition(DETAILS_MARKER)
        return words.strip(), detail.strip()
    return text.strip(), ""


def words_of(text):
    return split(text)[0]


def detail_of(text):
    return split(text)[1]


def reword(text, lang=None):
    """The plain words of a stored text, in language ``lang`` when they can be said again from
    its technical detail (the words of a push's answer, stored in English on the queue), else
    as stored (texts stored for one reader are written in that reader's language)."""
    words, detail = split(text)
    if detail:
        again = explain_detail(detail)
        if again.what and words == again.what:
            return in_lang(again.what, lang)
        if again.what and words == again.sentence():
            return again.sentence(lang)
    return words


def explain_answer(answer):
    """(Words, technical line) for one answer of the push's $batch: {"status", "body": {"error": ...}}."""
    status = answer.get("status") or 0
    body = answer.get("body")
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
    else:
        code, message = None, str(body or "")[:200]
    return explain(status, code, message), technical(status, code, message)


def explain_detail(detail):
    """Words again from a stored technical line ("503 code: message"), e.g. for the advice of a badge."""
    head, _, message = (detail or "").partition(":")
    status, _, code = head.strip().partition(" ")
    try:
        return explain(int(status), code.strip() or None, message.strip())
    except ValueError:
        return Words("", "", False)
