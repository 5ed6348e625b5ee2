"""Graph change notifications (SPEC E3, GRAPH_FACTS §3).

Answers the validation handshake, checks each notification's clientState against
its subscription's secret in constant time, and only queues a pull for the user:
no Graph call inside the request, so Graph gets its 202 well under 3 seconds.

A notification about the very version of an event that Odoo itself wrote (its
``@odata.etag`` carries the changeKey the event's link already holds, SPEC E4) queues
nothing: every event the push creates or updates comes back as such an echo, and
reading it back cost a delta read per pushed mailbox, in the same cron workers as
the push (bench/engine_notes.md). Any change made in Outlook gets a new changeKey,
so it is never taken for an echo. Graph's notification often arrives before the push
has committed that changeKey: the pull is then queued with the notified (event id,
changeKey) pairs, and the pull job drops it without reading Graph once they all turn
out to be Odoo's own writes (``o365.pull.request.settle_echoes``).

Odoo replays a whole request that met a serialization failure. This one cannot meet
any (issue 28): its own transaction only reads, and the pulls it asks for are queued in
a short transaction of their own in READ COMMITTED (utils/locks.py), where a
concurrent notification or pull on the same row never makes it fail. Its body is kept
(``get_data(cache=True)``), so even a replay would read the same notifications: a valid
notification is never answered 4xx.
"""

import hmac
import json
import logging
import threading
import time

from werkzeug.exceptions import RequestEntityTooLarge

from odoo import http
from odoo.http import request
from odoo.tools import SQL

from ..utils.locks import short_transaction

_logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # Graph batches are far smaller; anything bigger is not Graph
# An anonymous client that keeps sending what is refused (forged, unknown or malformed
# notifications) is answered 429 without its body being read or the database asked,
# once it has had REFUSED_PER_WINDOW refusals in REFUSAL_WINDOW seconds (per worker
# process, per client address: behind a reverse proxy, run Odoo with --proxy-mode so
# that the address is the client's). Graph's own deliveries are never refused while
# their subscription is live, so they never count.
REFUSED_PER_WINDOW = 120
REFUSAL_WINDOW = 60.0


class RefusalLimiter:
    """Counts refused requests per client address in fixed windows (issue 27)."""

    MAX_ADDRESSES = 10_000  # the table is emptied of old windows before it grows past this

    def __init__(self, limit=REFUSED_PER_WINDOW, window=REFUSAL_WINDOW):
        self.limit, self.window = limit, window
        self._windows = {}  # address -> [window start, refusals]
        self._lock = threading.Lock()

    def blocked(self, address):
        """True while this address has used up its refusals for the current window."""
        with self._lock:
            entry = self._windows.get(address)
            return bool(entry) and time.monotonic() - entry[0] < self.window and entry[1] >= self.limit

    def refused(self, address):
        """Count one refusal; True when it is the one that uses up the window (log it once)."""
        now = time.monotonic()
        with self._lock:
            if len(self._windows) >= self.MAX_ADDRESSES:
                self._windows = {a: e for a, e in self._windows.items() if now - e[0] < self.window}
            entry = self._windows.get(address)
            if not entry or now - entry[0] >= self.window:
                entry = self._windows[address] = [now, 0]
            entry[1] += 1
            return entry[1] == self.limit

    def clear(self):
        with self._lock:
            self._windows.clear()


refusals = RefusalLimiter()

LIFECYCLE_KINDS = {
    "reauthorizationRequired": "renew",
    "subscriptionRemoved": "recreate",
    "missed": "resync",
}


def _text(body, status):
    return request.make_response(body, status=status, headers=[("Content-Type", "text/plain; charset=utf-8")])


class O365Notifications(http.Controller):
    @http.route(
        ["/o365_calendar_sync/notifications", "/o365_calendar_sync/notifications/lifecycle"],
        type="http",
        auth="public",
        csrf=False,
        methods=["POST", "GET"],
        save_session=False,
    )
    def o365_notifications(self, **_kwargs):
        """Change notifications, and on /lifecycle Graph's lifecycle notifications (E3)."""
        return self._o365_receive(lifecycle=request.httprequest.path.rstrip("/").endswith("/lifecycle"))

    # -- the work -----------------------------------------------------------------------

    def _o365_receive(self, lifecycle):
        token = request.httprequest.args.get("validationToken")
        if token is not None:
            # Echo the URL-decoded token as plain text (GRAPH_FACTS §3.2).
            return _text(token, 200)
        if request.httprequest.method != "POST":
            return _text("POST Graph change notifications here.", 405)
        address = request.httprequest.remote_addr or "?"
        if refusals.blocked(address):
            return request.make_response(
                "Too many refused notifications from this address: try again later.",
                status=429,
                headers=[("Content-Type", "text/plain; charset=utf-8"), ("Retry-After", str(int(REFUSAL_WINDOW)))],
            )
        items, error = self._o365_read_items()
        if error:
            self._o365_refused(address)
            return _text(*error)
        verified = self._o365_verified_items(items)
        if not verified:
            self._o365_refused(address)
            return _text("No notification matched a known subscription with its clientState.", 403)
        maybe_echoes = {}
        if not lifecycle:
            verified, maybe_echoes = self._o365_without_echoes(verified)
        wanted = {}  # (account id, kind) -> None, in order
        for account_id, item in verified:
            kind = LIFECYCLE_KINDS.get(item.get("lifecycleEvent"), "pull") if lifecycle else "pull"
            wanted[account_id, kind] = None
            if kind != "pull":
                # Renewing/recreating also catches up with a delta round afterwards.
                wanted[account_id, "pull"] = None
        by_kind = {}
        for account_id, kind in wanted:
            by_kind.setdefault(kind, []).append(account_id)
        if maybe_echoes:
            by_kind.setdefault("pull", []).extend(a for a in maybe_echoes if (a, "pull") not in wanted)
        self._o365_queue(by_kind, maybe_echoes)
        return _text("", 202)

    def _o365_queue(self, by_kind, maybe_echoes):
        """Queue the pulls {kind: account ids} in a transaction of their own (see the module
        docstring); ``maybe_echoes`` {account id: [(event id, changeKey), ...]}: accounts whose
        every notification may be about Odoo's own write."""
        with short_transaction(request.env) as env:
            for kind, account_ids in by_kind.items():
                echo_keys = maybe_echoes if kind == "pull" else None
                env["o365.pull.request"].enqueue(account_ids, kind, echo_keys=echo_keys)

    def _o365_refused(self, address):
        if refusals.refused(address):
            _logger.warning(
                "o365: %s sent %s refused notification requests within %s s: answering 429 until the window ends",
                address,
                refusals.limit,
                int(refusals.window),
            )

    def _o365_read_items(self):
        """The notifications of the body, or (message, status) saying what is wrong with it."""
        httprequest = request.httprequest
        length = httprequest.content_length
        if length is not None and length > MAX_BODY_BYTES:
            return None, (f"Body too large: at most {MAX_BODY_BYTES} bytes.", 413)
        # Also bounds a body sent without Content-Length (chunked): werkzeug stops reading.
        httprequest.max_content_length = MAX_BODY_BYTES
        try:
            # Cached: should Odoo replay the request, the replay reads the same body.
            raw = httprequest.get_data(cache=True)
        except RequestEntityTooLarge:
            return None, (f"Body too large: at most {MAX_BODY_BYTES} bytes.", 413)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            # RecursionError: deeply nested arrays, which no Graph notification has.
            return None, ("Body is not JSON: expected a Graph changeNotificationCollection.", 400)
        items = body.get("value") if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return None, ("Expected a JSON object with a 'value' list of notifications.", 400)
        return items, None

    def _o365_verified_items(self, items):
        """(account id, item) for the notifications whose clientState matches their subscription."""
        ids = {i.get("subscriptionId") for i in items if isinstance(i.get("subscriptionId"), str)}
        if not ids:
            return []
        accounts = (
            request.env["o365.sync.account"]
            .sudo()
            .search_fetch([("subscription_id", "in", list(ids))], ["subscription_id", "subscription_secret"])
        )
        by_sub = {a.subscription_id: a for a in accounts}
        verified, unknown, forged = [], 0, 0
        for item in items:
            account = by_sub.get(item.get("subscriptionId"))
            state = item.get("clientState")
            if not account or not account.subscription_secret or not isinstance(state, str):
                unknown += 1
            elif not hmac.compare_digest(state.encode(), account.subscription_secret.encode()):
                forged += 1
            else:
                verified.append((account.id, item))
        # One line per request, whatever its size (a forged 1 MB batch is one line, not 14,000).
        if forged:
            _logger.warning(
                "o365: ignored %s notification(s) with a wrong clientState and %s for an unknown subscription "
                "(from %s)",
                forged,
                unknown,
                request.httprequest.remote_addr,
            )
        elif unknown:
            _logger.info("o365: ignored %s notification(s) for an unknown subscription", unknown)
        return verified

    def _o365_without_echoes(self, verified):
        """Split the notifications (see the module docstring): those about Odoo's own last write
        are dropped; of the accounts whose every other notification is a created/updated item that
        names its event and its etag, the (event id, changeKey) pairs, {account id: [pair, ...]},
        which may still be echoes of a push that has not committed yet. Returns (the notifications
        that call for a plain pull, those pairs)."""
        candidates = {}
        for index, (account_id, item) in enumerate(verified):
            data = item.get("resourceData") if isinstance(item.get("resourceData"), dict) else {}
            etag, event_id = data.get("@odata.etag"), data.get("id")
            if item.get("changeType") in ("created", "updated") and isinstance(etag, str) and isinstance(event_id, str):
                change_key = etag.removeprefix("W/").strip('"')
                if change_key:
                    candidates[index] = (account_id, event_id, change_key)
        if not candidates:
            return verified, {}
        request.env.cr.execute(
            SQL(
                """SELECT account_id, graph_event_id, change_key FROM o365_event_link
                   WHERE (account_id, graph_event_id, change_key) IN (
                       SELECT * FROM unnest(%s::int[], %s::varchar[], %s::varchar[]))""",
                *(list(column) for column in zip(*candidates.values(), strict=True)),
            )
        )
        echoes = set(request.env.cr.fetchall())
        plain, maybe_echoes = [], {}
        for index, (account_id, item) in enumerate(verified):
            key = candidates.get(index)
            if key in echoes:
                continue
            if key:
                maybe_echoes.setdefault(account_id, []).append(key[1:])
            else:
                plain.append((account_id, item))
        plain_accounts = {account_id for account_id, _item in plain}
        return plain, {a: pairs for a, pairs in maybe_echoes.items() if a not in plain_accounts}
