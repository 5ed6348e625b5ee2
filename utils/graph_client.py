"""A small Microsoft Graph v1.0 client for the calendar endpoints the sync uses.

It knows URLs, headers and error shapes, and nothing of Odoo. It never retries:
the push and pull jobs decide what to do with a transient error (they know the
record, the attempt count and the user's status), using ``GraphError.transient``
and ``GraphError.retry_after``. Tokens are never part of an error or a log line.
"""

import http.cookiejar
import json
import os
import threading
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlencode

import requests
from requests.adapters import HTTPAdapter

DEFAULT_TIMEOUT = 30  # seconds
BATCH_LIMIT = 20  # Graph refuses larger JSON batches (GRAPH_FACTS §4)
# The one definition of a transient answer (issue 24): the push retries it, the pull runs
# again, the user reads "Odoo tries again by itself". By status (GRAPH_FACTS §1.3, §4, §10):
#   0    no answer at all (network down, timeout);
#   412  the event's change key moved under the request, and Graph also gives passing
#        412s without any precondition (§1.3: re-read, merge and retry);
#   424  a $batch item held back because the item it depends on failed (§4);
#   429  throttled: wait Retry-After (§4);
#   500, 502, 503, 504  Graph's passing outages (§4: 503 and 504 may carry Retry-After).
# Everything else is final: the same request gets the same answer (400 content, 401/403
# sign-in and permissions, 404, 409 a conflict such as a duplicate name, 413, 501, 507
# a full mailbox, ...).
TRANSIENT_STATUSES = frozenset({0, 412, 424, 429, 500, 502, 503, 504})
# Ids change when an item moves between folders unless *every* request asks for
# immutable ids; the header applies only to the request carrying it, so each
# $batch item carries it too (GRAPH_FACTS §10, graph/outlook-immutable-id).
PREFER_IMMUTABLE_ID = 'IdType="ImmutableId"'
# The single-value extended property stamped on every event the module creates:
# it names the Odoo record (and this database), so "the event this create made"
# can be found again. transactionId cannot be filtered on, and a replayed create
# is refused with ErrorDuplicateTransactionId rather than answered (GRAPH_FACTS §10).
RECORD_PROPERTY_ID = "String {b7070704-16da-4c16-9091-3bb094ffdd13} Name o365CalendarSyncRecord"
DUPLICATE_TRANSACTION = "ErrorDuplicateTransactionId"
MALFORMED_ID = "ErrorInvalidIdMalformed"


def is_transient(status, code=None):
    """True when the same request may succeed later (TRANSIENT_STATUSES). A replayed
    create (ErrorDuplicateTransactionId, 400 or 409, §10) never is: the event exists."""
    if code == DUPLICATE_TRANSACTION:
        return False
    try:
        return int(status or 0) in TRANSIENT_STATUSES
    except (TypeError, ValueError):
        return False


RESET_CODES = frozenset({"syncstatenotfound", "resyncrequired"})


def is_sync_reset(error):
    """410 Gone / SyncStateNotFound / resyncRequired: the delta token is dead, start a new round
    (GRAPH_FACTS §2)."""
    return error.status == 410 or (error.code or "").lower() in RESET_CODES


class GraphError(Exception):
    """An answer from Graph that is not a success, or no answer at all (status 0)."""

    def __init__(self, status, code, message, retry_after=None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def transient(self):
        """True when the same request may succeed later (``is_transient``)."""
        return is_transient(self.status, self.code)

    @classmethod
    def from_response(cls, status, headers, body):
        error = (body or {}).get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code, message = error.get("code") or "UnknownError", error.get("message") or ""
        else:
            code, message = "UnknownError", (body if isinstance(body, str) else "")[:300]
        return cls(status, code, message, parse_retry_after(headers))


def parse_retry_after(headers):
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


class EventRequests:
    """Request shapes for one mailbox's events, sent alone (``GraphClient.send``) or
    as items of a $batch. Building one needs no token and makes no call, so the
    push can plan its requests before it signs in.

    ``mailbox`` is the calendar owner's path: "/me" with a delegated token.
    """

    def __init__(self, mailbox="/me"):
        self.mailbox = mailbox

    def path(self, event_id=None):
        # Real ids are base64 and may hold "/", "+" and "=": always one path segment.
        return f"{self.mailbox}/events" + (f"/{quote(event_id, safe='')}" if event_id else "")

    def create_event(self, payload, transaction_id, record_stamp):
        """POST a new event stamped with ``record_stamp``; Graph refuses a replayed transactionId."""
        body = {
            **payload,
            "transactionId": transaction_id,
            "singleValueExtendedProperties": [{"id": RECORD_PROPERTY_ID, "value": record_stamp}],
        }
        return {"method": "POST", "url": self.path(), "body": body}

    def update_event(self, event_id, changes):
        return {"method": "PATCH", "url": self.path(event_id), "body": changes}

    def delete_event(self, event_id):
        return {"method": "DELETE", "url": self.path(event_id)}

    def answer_invitation(self, event_id, action):
        """SPEC A17: answer an invitation in the attendee's own copy; ``action`` is one of ANSWER_ACTIONS'
        values. Graph answers 202 with no body; ``sendResponse`` true mails the organiser and records the
        answer on the organiser's event (https://learn.microsoft.com/en-us/graph/api/event-accept)."""
        body = {"comment": "", "sendResponse": True}
        return {"method": "POST", "url": f"{self.path(event_id)}/{action}", "body": body}

    def find_by_ical_uid(self, ical_uid):
        """GET this mailbox's copies of a meeting (same iCalUId in every attendee's calendar, GRAPH_FACTS §1)."""
        query = urlencode({"$filter": f"iCalUId eq '{ical_uid}'", "$select": "id,iCalUId,isOrganizer"}, quote_via=quote)
        return {"method": "GET", "url": f"{self.path()}?{query}"}

    def find_created(self, record_stamp):
        """GET the events this module created for ``record_stamp`` (normally one, or none)."""
        condition = f"ep/id eq '{RECORD_PROPERTY_ID}' and ep/value eq '{record_stamp}'"
        query = urlencode(
            {"$filter": f"singleValueExtendedProperties/any(ep: {condition})", "$select": "id,changeKey,iCalUId"},
            quote_via=quote,
        )
        return {"method": "GET", "url": f"{self.path()}?{query}"}

    def list_instances(self, master_id, start, end):
        """GET the occurrences and exceptions of a series between ``start`` and ``end`` (naive
        UTC): their ids are their own, never built by hand (GRAPH_FACTS §11, event-list-instances)."""
        query = urlencode(
            {
                "startDateTime": _iso_utc(start),
                "endDateTime": _iso_utc(end),
                "$select": "id,type,start,end,originalStart,changeKey,iCalUId",
                "$top": "50",
            },
            quote_via=quote,
        )
        return {"method": "GET", "url": f"{self.path(master_id)}/instances?{query}"}


# Odoo's attendee answers (calendar.attendee.state) as Graph's event actions (A17).
ANSWER_ACTIONS = {"accepted": "accept", "declined": "decline", "tentative": "tentativelyAccept"}


def user_mailbox(user):
    """The path of another user's mailbox, for the organisation's application (SPEC O2):
    ``/users/{id or userPrincipalName}``."""
    return f"/users/{quote(user, safe='@')}"


def mailbox_probe(mailbox):
    """The $batch items that tell whether the organisation's application may use a mailbox
    (SPEC O1): who it is, its time zone, and one calendar read (the one Exchange's RBAC for
    Applications scope answers 403 to). Item ids are "user", "settings" and "events"."""
    return [
        {"id": "user", "method": "GET", "url": f"{mailbox}?$select=id,mail,userPrincipalName,displayName"},
        {"id": "settings", "method": "GET", "url": f"{mailbox}/mailboxSettings"},
        {"id": "events", "method": "GET", "url": f"{mailbox}/events?$top=1&$select=id"},
    ]


# One pool of kept-alive HTTPS connections per process for every mailbox's Graph calls: a
# mailbox's pull or push round is one or two requests, and a connection of its own cost each a
# TCP and TLS handshake (bench/engine_notes.md). urllib3's pools are thread-safe; a forked
# Odoo worker makes its own (the key holds the process id), never sharing its parent's sockets.
POOL_SIZE = 32  # connections kept per Graph host: above the job's parallel mailboxes (16)
_sessions = {}
_sessions_lock = threading.Lock()


def shared_session():
    """This process's requests session for Graph (see ``POOL_SIZE``)."""
    pid = os.getpid()
    session = _sessions.get(pid)
    if session is None:
        with _sessions_lock:
            session = _sessions.get(pid)
            if session is None:
                session = requests.Session()
                # No cookie of one mailbox's answer is ever sent with another mailbox's request.
                session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
                adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                _sessions.clear()  # a parent's session, inherited by fork, is never used here
                _sessions[pid] = session
    return session


class GraphClient:
    """Calls Graph as one mailbox owner, with a delegated access token.

    ``token_provider(force_refresh)`` returns an access token. A 401 is retried
    once with a forced refresh: Graph can reject a token that the local cache
    still considers valid (revoked sessions, clock skew).
    """

    def __init__(
        self, graph_endpoint, token_provider, *, verify=True, timeout=DEFAULT_TIMEOUT, session=None, mailbox="/me"
    ):
        self.base_url = graph_endpoint.rstrip("/")
        self.mailbox = mailbox
        self.events = EventRequests(mailbox)
        self._token_provider = token_provider
        self._token = None
        self.verify = verify
        self.timeout = timeout
        self.session = session or shared_session()

    # -- transport -----------------------------------------------------------------

    def call(self, method, path_or_url, *, json_body=None, headers=None, params=None):
        """Send one request; return (body, headers). Raise GraphError on failure."""
        if self._token is None:
            self._token = self._token_provider(False)
        try:
            return self._send(method, path_or_url, json_body, headers, params)
        except GraphError as exc:
            if exc.status != 401:
                raise
        self._token = self._token_provider(True)
        return self._send(method, path_or_url, json_body, headers, params)

    def _send(self, method, path_or_url, json_body, headers, params):
        url = path_or_url if path_or_url.startswith("http") else self.base_url + path_or_url
        all_headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/json",
            "Prefer": PREFER_IMMUTABLE_ID,
        }
        all_headers.update(headers or {})
        try:
            response = self.session.request(
                method,
                url,
                json=json_body,
                headers=all_headers,
                params=params,
                timeout=self.timeout,
                verify=self.verify,
            )
        except requests.RequestException as exc:
            # The exception text holds the URL but never the headers, so no token.
            raise GraphError(0, "NetworkError", f"{type(exc).__name__}: {exc}") from None
        body = _json_or_text(response)
        if response.status_code >= 400:
            raise GraphError.from_response(response.status_code, response.headers, body)
        return body, response.headers

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)[0]

    def send(self, request):
        """Send one request shaped like a $batch item (see EventRequests) on its own."""
        return self.call(request["method"], request["url"], json_body=request.get("body"))[0]

    # -- user and mailbox --------------------------------------------------------------

    def me(self):
        return self.get("/me")

    def mailbox_settings(self):
        return self.get(f"{self.mailbox}/mailboxSettings")

    # -- events ------------------------------------------------------------------------

    def get_event(self, event_id):
        return self.get(self.events.path(event_id))

    def batch(self, requests_):
        """Send up to 20 requests in one JSON batch.

        ``requests_`` are dicts with id, method, url (relative to the Graph
        version, e.g. "/me/events") and optional body/headers/dependsOn. Returns a
        dict id -> {"status", "headers", "body"}; per-request failures are not
        raised, the caller reads each status.
        """
        if len(requests_) > BATCH_LIMIT:
            raise ValueError(f"a Graph batch holds at most {BATCH_LIMIT} requests, got {len(requests_)}")
        prepared = []
        for item in requests_:
            entry = {"id": str(item["id"]), "method": item["method"], "url": item["url"]}
            entry["headers"] = {"Prefer": PREFER_IMMUTABLE_ID, **item.get("headers", {})}
            if "body" in item:
                entry["body"] = item["body"]
                entry["headers"]["Content-Type"] = "application/json"
            if item.get("dependsOn"):
                entry["dependsOn"] = item["dependsOn"]
            prepared.append(entry)
        body, _headers = self.call("POST", "/$batch", json_body={"requests": prepared})
        return {
            r["id"]: {"status": r["status"], "headers": r.get("headers") or {}, "body": r.get("body")}
            for r in body.get("responses", [])
        }

    # -- delta ---------------------------------------------------------------------------

    def calendar_view_delta(self, link=None, *, start=None, end=None, page_size=100, time_zone="UTC"):
        """Yield (events, delta_link) per page; delta_link is set on the last page only.

        Start a round with the window (start/end datetimes in UTC) or continue one
        with the stored deltaLink; links already encode the window (GRAPH_FACTS §2.1).
        """
        headers = {"Prefer": f'odata.maxpagesize={page_size}, outlook.timezone="{time_zone}", {PREFER_IMMUTABLE_ID}'}
        if link:
            url, params = link, None
        else:
            url = f"{self.mailbox}/calendarView/delta"
            params = {"startDateTime": _iso_utc(start), "endDateTime": _iso_utc(end)}
        while url:
            page, _h = self.call("GET", url, headers=headers, params=params)
            params = None
            yield page.get("value", []), page.get("@odata.deltaLink")
            url = page.get("@odata.nextLink")

    # -- change notifications -----------------------------------------------------------

    def create_subscription(self, notification_url, client_state, expiration, lifecycle_url=None):
        payload = {
            "changeType": "created,updated,deleted",
            "notificationUrl": notification_url,
            "resource": self.mailbox.lstrip("/") + "/events",
            "expirationDateTime": _iso_utc(expiration),
            "clientState": client_state,
        }
        if lifecycle_url:
            payload["lifecycleNotificationUrl"] = lifecycle_url
        return self.call("POST", "/subscriptions", json_body=payload)[0]

    def renew_subscription(self, subscription_id, expiration):
        return self.call(
            "PATCH", f"/subscriptions/{subscription_id}", json_body={"expirationDateTime": _iso_utc(expiration)}
        )[0]

    def list_subscriptions(self):
        """The subscriptions this application holds for this mailbox's owner (paged)."""
        url, found = "/subscriptions", []
        while url:
            page = self.get(url)
            found.extend(page.get("value", []))
            url = page.get("@odata.nextLink")
        return found

    def delete_subscription(self, subscription_id):
        self.call("DELETE", f"/subscriptions/{subscription_id}")


def _iso_utc(moment):
    """Graph's UTC form of a naive-UTC or aware datetime: 2024-01-31T09:00:00Z."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_or_text(response):
    if not response.content:
        return None
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return response.text
