"""Graph change notifications (SPEC E3, facts §3).

Answers the validation handshake, checks each notification's clientState against
its subscription's secret in constant time, and only queues a pull for the user:
no Graph call inside the request, so Graph gets its 202 well under 3 seconds.
"""

import hmac
import json
import logging

from werkzeug.exceptions import RequestEntityTooLarge

from odoo import http
from odoo.http import request

_logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # Graph batches are far smaller; anything bigger is not Graph
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
            # Echo the URL-decoded token as plain text (facts §3.2).
            return _text(token, 200)
        if request.httprequest.method != "POST":
            return _text("POST Graph change notifications here.", 405)
        items, error = self._o365_read_items()
        if error:
            return _text(*error)
        accounts = self._o365_verified_accounts(items)
        if not accounts:
            return _text("No notification matched a known subscription with its clientState.", 403)
        Requests = request.env["o365.pull.request"].sudo()
        for account_id, item in accounts:
            kind = LIFECYCLE_KINDS.get(item.get("lifecycleEvent"), "pull") if lifecycle else "pull"
            Requests._queue([account_id], kind)
            if kind != "pull":
                # Renewing/recreating also catches up with a delta round afterwards.
                Requests._queue([account_id], "pull")
        return _text("", 202)

    def _o365_read_items(self):
        """The notifications of the body, or (message, status) saying what is wrong with it."""
        httprequest = request.httprequest
        length = httprequest.content_length
        if length is not None and length > MAX_BODY_BYTES:
            return None, (f"Body too large: at most {MAX_BODY_BYTES} bytes.", 413)
        # Also bounds a body sent without Content-Length (chunked): werkzeug stops reading.
        httprequest.max_content_length = MAX_BODY_BYTES
        try:
            raw = httprequest.get_data(cache=False)
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

    def _o365_verified_accounts(self, items):
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
        verified, seen = [], set()
        for item in items:
            account = by_sub.get(item.get("subscriptionId"))
            state = item.get("clientState")
            if not account or not account.subscription_secret or not isinstance(state, str):
                _logger.info("o365: ignored a notification for an unknown subscription")
                continue
            if not hmac.compare_digest(state.encode(), account.subscription_secret.encode()):
                _logger.warning("o365: ignored a notification with a wrong clientState")
                continue
            key = (account.id, item.get("lifecycleEvent"))
            if key not in seen:
                seen.add(key)
                verified.append((account.id, item))
        return verified
