"""Microsoft Graph v1.0 routes: users, mailbox settings, categories, events, calendarView,
delta, subscriptions. Authentication, act-as, faults and limits are applied here so
$batch items go through exactly the same path."""

import re
import time
import uuid
from urllib.parse import unquote, urlencode

from . import delta, faults, meetings, subscriptions, timezones
from . import events as E
from . import extended_properties as xprops
from .errors import DropConnection, GraphError, bad_request, not_found
from .httpio import Response, json_response

ACT_AS_HEADER = "X-Emulator-Act-As"
ALL_SCOPES = {"*"}
# Graph's answer to /me with an app-only token (microsoftgraph/msgraph-sdk-php#1163: 400 BadRequest).
ME_APP_ONLY = "/me request is only valid with delegated authentication flow."
# Exchange's answer when an app-only request reaches a mailbox outside the app's allowed set (application access
# policy, the mechanism RBAC for Applications replaces): 403 ErrorAccessDenied "Access to OData is disabled: [RAOP] :
# Blocked by tenant configured AppOnly AccessPolicy settings." (reported verbatim by several production Graph
# clients; https://learn.microsoft.com/graph/auth-limit-mailbox-access "Access to OData is disabled."). [A] the
# emulator answers the same for a mailbox outside an RBAC for Applications management scope
# (https://learn.microsoft.com/exchange/permissions-exo/application-rbac); Exchange documents no separate text.
OUT_OF_SCOPE = "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings."
_OWNER_RE = re.compile(r"^/v1\.0/(me|users/([^/]+))(/.*)?$", re.I)
_ID_SEGMENT = re.compile(r"/(events|masterCategories|subscriptions|users|calendars)/[^/]+")


# Path segments Graph matches case-insensitively ("/me/Events" works: [D]
# https://learn.microsoft.com/en-us/graph/use-the-api, "resource … are case-insensitive").
_KEYWORDS = {
    k.lower(): k
    for k in (
        "v1.0",
        "me",
        "users",
        "events",
        "calendar",
        "calendars",
        "calendarView",
        "delta",
        "instances",
        "cancel",
        "accept",
        "decline",
        "tentativelyAccept",
        "outlook",
        "masterCategories",
        "mailboxSettings",
        "subscriptions",
        "reauthorize",
        "$batch",
    )
}


def normalize_path(path):
    """Decode percent-encoded segments (UPNs as alex%40contoso.example, ids quoted with safe=''),
    spell keywords canonically, and read the SDK's function form "delta()" as "delta"
    (msgraph-sdk's DeltaRequestBuilder URL template is "…/calendarView/delta()?…")."""
    out = []
    for seg in path.split("/"):
        dec = unquote(seg)
        if "/" in dec:
            dec = seg  # a segment cannot hold '/'; left encoded it never matches an id (→ malformed)
        low = dec.lower()
        if low == "delta()":
            dec = "delta"
        elif low in _KEYWORDS:
            dec = _KEYWORDS[low]
        out.append(dec)
    return "/".join(out)


def endpoint_key(path):
    """/v1.0/users/x/events/AAMk… → /v1.0/users/{id}/events/{id}, for the request log."""
    return _ID_SEGMENT.sub(lambda m: f"/{m.group(1)}/{{id}}", path)


class Context:
    def __init__(self, emu, req, caller, scopes, client_id, act_as):
        self.emu, self.req, self.caller, self.scopes = emu, req, caller, scopes
        self.client_id, self.act_as = client_id, act_as
        self.app_only = bool(getattr(caller, "is_app", False))  # caller is an identity.AppPrincipal
        self.state = emu.state
        self.applied = []

    def require_mailbox(self, mb, *roles):
        """App-only: one of these roles (application permissions), then the mailbox inside the app's
        RBAC for Applications scope."""
        self.require(*roles)
        if self.app_only and not self.caller.app.in_mailbox_scope(mb):
            raise GraphError(403, "ErrorAccessDenied", OUT_OF_SCOPE)

    def require(
        self,
        *any_of,
        denied_code="ErrorAccessDenied",
        denied_message="Access is denied. Check credentials and try again.",
    ):
        if self.act_as or "*" in self.scopes:
            return
        for scope in any_of:
            if scope in self.scopes:
                return
        raise GraphError(403, denied_code, denied_message)

    def prefs(self):
        p = self.req.prefer()
        out = {}
        tz = p.get("outlook.timezone")
        if tz:
            timezones.require_zone(tz)
            out["timezone"] = tz
            self.applied.append(f'outlook.timezone="{tz}"')
        body = (p.get("outlook.body-content-type") or "").lower()
        if body in ("text", "html"):
            out["body"] = body
            self.applied.append(f'outlook.body-content-type="{body}"')
        if p.get("odata.maxpagesize", "").isdigit():
            out["maxpagesize"] = max(1, int(p["odata.maxpagesize"]))
            self.applied.append(f"odata.maxpagesize={out['maxpagesize']}")
        if p.get("idtype", "").lower() == "immutableid":
            # "This header only applies to the request it is included with"
            # (https://learn.microsoft.com/en-us/graph/outlook-immutable-id): responses to this request
            # show immutable ids; every other request sees the default ids.
            out["immutable"] = True
            self.applied.append('IdType="ImmutableId"')
        wanted = xprops.expand_ids(self.req.query.get("$expand", ""))
        if wanted is not None:
            out["expand_svep"] = wanted
        return out


def _read_scopes(ctx, mb):
    if ctx.app_only:
        ctx.require_mailbox(mb, "Calendars.Read", "Calendars.ReadWrite")
    elif mb is ctx.caller:
        ctx.require("Calendars.Read", "Calendars.ReadWrite", "Calendars.Read.Shared", "Calendars.ReadWrite.Shared")
    else:
        ctx.require("Calendars.Read.Shared", "Calendars.ReadWrite.Shared")


def _write_scopes(ctx, mb):
    if ctx.app_only:
        ctx.require_mailbox(mb, "Calendars.ReadWrite")
    elif mb is ctx.caller:
        ctx.require("Calendars.ReadWrite", "Calendars.ReadWrite.Shared")
    else:
        ctx.require("Calendars.ReadWrite.Shared")


def _resolve_owner(state, caller, req):
    m = _OWNER_RE.match(req.path)
    if not m:
        return None, None, None
    if m.group(1).lower() == "me":
        if getattr(caller, "is_app", False):
            raise GraphError(400, "BadRequest", ME_APP_ONLY)
        return caller, m.group(1), m.group(3) or ""
    key = m.group(2).strip("'")
    mb = state.find_mailbox(key)
    if mb is None:
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.")
    return mb, m.group(1), m.group(3) or ""


def handle(emu, req):
    """Entry point for /v1.0/… (also used by $batch). Returns a Response; may raise DropConnection."""
    req.request_id = req.request_id or str(uuid.uuid4())
    req.path = normalize_path(req.path)
    started = time.time()
    info = {"mailbox": None, "actAs": False, "clientId": None}
    resp = None
    status = 500  # an emulator bug; server.py turns it into a 500 answer
    try:
        resp = _handle(emu, req, info)
        status = resp.status
    except GraphError as err:
        resp = json_response(err.body(req.request_id), err.status, err.headers)
        status = resp.status
    except DropConnection:
        status = "dropped"
        raise
    finally:
        emu.state.log_request(
            dict(
                info,
                time=started,
                method=req.method,
                path=req.path,
                endpoint=endpoint_key(req.path),
                status=status,
                inBatch=req.in_batch,
                requestId=req.request_id,
                ms=round((time.time() - started) * 1000, 1),
            )
        )
    return _finish(resp, req)


def _handle(emu, req, info):
    state = emu.state
    actor = req.headers.get(ACT_AS_HEADER)
    if actor:
        caller = state.find_mailbox(actor)
        if caller is None:
            raise GraphError(401, "InvalidAuthenticationToken", f"{ACT_AS_HEADER}: unknown user '{actor}'.")
        scopes, act_as, client_id = ALL_SCOPES, True, None
    else:
        caller, scopes, client_id = state.identity.authenticate(req.headers.get("Authorization"))
        act_as = False
    info.update(mailbox=caller.upn, actAs=act_as, clientId=client_id)
    ctx = Context(emu, req, caller, scopes, client_id, act_as)
    if req.path.rstrip("/") == "/v1.0/$batch":
        from . import batch

        if req.in_batch:
            raise bad_request("Nested $batch requests are not supported.", code="BadRequest")
        if not act_as:
            # An app-only batch may address several mailboxes: a mailbox-narrowed latency/drop rule
            # delays/drops the round trip when any item addresses that mailbox [A].
            faults.apply_transport(state, _batch_mailboxes(state, req) if ctx.app_only else caller.id, req)
        return batch.handle(emu, req)
    with state.lock:
        owner, _, _ = _resolve_owner(state, caller, req)
        # An app-only subscription request acts on the mailbox of its resource: it counts against that
        # mailbox's limits (Outlook's limits are per app and mailbox, GRAPH_FACTS §4), not one slot for the
        # whole application [A].
        subscribed = _subscription_mailbox(state, req) if ctx.app_only and owner is None else None
    target = owner or subscribed or caller
    info["mailbox"] = target.upn  # None for an app-only request without a mailbox (GET /subscriptions)
    limit_key = None
    if not act_as:
        # Limits and faults model what the app sees; the Outlook user is never throttled.
        # The request holds its concurrency slot while injected latency elapses, as a slow mailbox would.
        limit_key = faults.Limits(state).enter(target.id, client_id)
    try:
        if not act_as:
            faults.apply(state, target.id, req)
        resp = _route(ctx, owner)
        if not act_as and 200 <= resp.status < 300:
            lost = faults.apply_after(state, target.id, req)
            if lost is not None:
                raise lost
    finally:
        if limit_key:
            faults.Limits(state).leave(limit_key)
    if ctx.applied:
        resp.headers["Preference-Applied"] = ", ".join(dict.fromkeys(ctx.applied))
    return resp


def _subscription_mailbox(state, req):
    """The mailbox an app-only /subscriptions request acts on: the resource's of a POST, the
    subscription's of a PATCH, DELETE or GET by id; None for the listing or anything unknown."""
    path = req.path.rstrip("/")
    if not path.startswith("/v1.0/subscriptions"):
        return None
    sid = path[len("/v1.0/subscriptions") :].strip("/")
    if sid:
        sub = state.subscriptions.get(sid)
        return state.mailboxes.get(sub["_mailbox"]) if sub else None
    if req.method != "POST":
        return None
    try:
        resource = str((req.json() or {}).get("resource") or "")
    except (GraphError, AttributeError):
        return None
    m = re.match(r"^/?users/([^/]+)/(events|calendar/events)$", resource, re.I)
    return state.find_mailbox(m.group(1).strip("'")) if m else None


def _batch_mailboxes(state, req):
    """Ids of the mailboxes a $batch's items address (for transport faults on an app-only batch)."""
    ids = set()
    try:
        items = (req.json() or {}).get("requests") or []
    except (GraphError, AttributeError):
        return ids
    for item in items if isinstance(items, list) else ():
        url = str(item.get("url") or "") if isinstance(item, dict) else ""
        if url.startswith(("https://", "http://")):
            url = "/" + url.split("/", 3)[3]
            url = url[len("/v1.0") :] if url.startswith("/v1.0/") else url
        m = _OWNER_RE.match(normalize_path("/v1.0/" + url.lstrip("/").split("?")[0]))
        mb = state.find_mailbox(m.group(2).strip("'")) if m and m.group(2) else None
        if mb is not None:
            ids.add(mb.id)
    return ids


def _finish(resp, req):
    resp.headers["request-id"] = req.request_id
    resp.headers["client-request-id"] = req.headers.get("client-request-id") or req.request_id
    return resp


def _route(ctx, owner):
    req, state = ctx.req, ctx.state
    path, method = req.path.rstrip("/"), req.method
    if path == "/v1.0/subscriptions" or path.startswith("/v1.0/subscriptions/"):
        return _subscriptions(ctx, path[len("/v1.0/subscriptions") :], method)
    if owner is None:
        raise GraphError(
            400,
            "BadRequest",
            f"Resource not found for the segment '{path.split('/')[2] if path.count('/') > 1 else path}'.",
        )
    m = _OWNER_RE.match(path)
    rest = m.group(3) or ""
    rest = re.sub(r"^/calendar(?=/events|/calendarView)", "", rest)
    rest = re.sub(r"^/calendars/[^/]+(?=/events|/calendarView)", "", rest)
    link_base = f"{ctx.emu.graph_url}/{m.group(1)}"

    if rest == "" and method == "GET":
        # App-only: User.Read.All (or User.ReadBasic.All, Directory.Read.All, …); the directory is not
        # Exchange, so no mailbox scope applies (https://learn.microsoft.com/graph/api/user-get#permissions).
        ctx.require(
            "User.Read",
            "User.ReadBasic.All",
            "User.Read.All",
            "User.ReadWrite",
            "User.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
            denied_code="Authorization_RequestDenied",
            denied_message="Insufficient privileges to complete the operation.",
        )
        with state.lock:
            return json_response(
                dict({"@odata.context": f"{ctx.emu.graph_url}/$metadata#users/$entity"}, **owner.user_json())
            )
    if rest == "/mailboxSettings" and method == "GET":
        ctx.require_mailbox(owner, "MailboxSettings.Read", "MailboxSettings.ReadWrite")
        return json_response(_mailbox_settings(ctx, owner))
    if rest in ("/calendar",) or rest == "/calendars":
        _read_scopes(ctx, owner)
        cal = {
            "id": f"CAL-{owner.id}",
            "name": "Calendar",
            "color": "auto",
            "isDefaultCalendar": True,
            "canEdit": True,
            "canShare": True,
            "canViewPrivateItems": True,
            "isRemovable": False,
            "changeKey": "cal",
            "owner": {"name": owner.display_name, "address": owner.upn},
            "hexColor": "",
            "isTallyingResponses": True,
            "allowedOnlineMeetingProviders": ["teamsForBusiness"],
            "defaultOnlineMeetingProvider": "teamsForBusiness",
        }
        return json_response({"value": [cal]} if rest == "/calendars" else cal)
    if rest.startswith("/outlook/masterCategories"):
        return _categories(ctx, owner, rest[len("/outlook/masterCategories") :], method)
    if rest == "/events":
        if method == "GET":
            _read_scopes(ctx, owner)
            return _list_events(ctx, owner, f"{link_base}/events")
        if method == "POST":
            _write_scopes(ctx, owner)
            payload = req.json()
            with state.lock:
                ev, _ = meetings.create_event(state, owner, payload if payload is not None else {})
                return _event_response(ctx, ev, 201)
    if rest == "/calendarView" and method == "GET":
        _read_scopes(ctx, owner)
        return _calendar_view(ctx, owner, f"{link_base}/calendarView")
    if rest == "/calendarView/delta" and method == "GET":
        _read_scopes(ctx, owner)
        prefs = ctx.prefs()
        with state.lock:
            body = delta.handle(state, owner, req, f"{link_base}/calendarView/delta", prefs, ctx.emu.base_url)
        return json_response(body)
    m = re.match(r"^/events/([^/]+)(?:/(cancel|accept|decline|tentativelyAccept|instances))?$", rest)
    if m:
        return _event_item(ctx, owner, m.group(1), m.group(2), method, link_base)
    raise GraphError(400, "BadRequest", f"Unsupported request: {method} {req.path}")


def _mailbox_settings(ctx, owner):
    return {
        "@odata.context": f"{ctx.emu.graph_url}/$metadata#users('{owner.id}')/mailboxSettings",
        "archiveFolder": "AAMkArchive",
        "timeZone": owner.time_zone,
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly",
        "dateFormat": "yyyy-MM-dd",
        "timeFormat": "HH:mm",
        "userPurpose": "user",
        "automaticRepliesSetting": {
            "status": "disabled",
            "externalAudience": "all",
            "internalReplyMessage": "",
            "externalReplyMessage": "",
            "scheduledStartDateTime": {"dateTime": "2020-01-01T00:00:00.0000000", "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": "2020-01-02T00:00:00.0000000", "timeZone": "UTC"},
        },
        "language": {"locale": "en-US", "displayName": "English (United States)"},
        "workingHours": {
            "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
            "startTime": "08:00:00.0000000",
            "endTime": "17:00:00.0000000",
            "timeZone": {"name": owner.time_zone},
        },
    }


def _categories(ctx, owner, rest, method):
    state, req = ctx.state, ctx.req
    if method == "GET":
        ctx.require_mailbox(owner, "MailboxSettings.Read", "MailboxSettings.ReadWrite")
    else:
        ctx.require_mailbox(owner, "MailboxSettings.ReadWrite")
    with state.lock:
        if rest == "":
            if method == "GET":
                return json_response(
                    {
                        "@odata.context": f"{ctx.emu.graph_url}/$metadata#users('{owner.id}')/outlook/masterCategories",
                        "value": [dict(c) for c in owner.categories],
                    }
                )
            if method == "POST":
                payload = req.json() or {}
                unknown = set(payload) - {"displayName", "color", "@odata.type"}
                if unknown:
                    from .errors import unknown_property

                    raise unknown_property(sorted(unknown)[0], "microsoft.graph.outlookCategory")
                name = (payload.get("displayName") or "").strip()
                if not name:
                    raise bad_request("The displayName of a category cannot be empty.")
                color = payload.get("color") or "none"
                if color != "none" and not re.fullmatch(r"preset([0-9]|1[0-9]|2[0-4])", color):
                    raise GraphError(
                        400,
                        "RequestBodyRead",
                        f"Cannot convert the literal '{color}' to the expected type 'microsoft.graph.categoryColor'.",
                    )
                if any(c["displayName"].lower() == name.lower() for c in owner.categories):
                    # [A] code unverified: Exchange rejects a duplicate master category name.
                    raise GraphError(
                        409,
                        "Conflict",
                        f"A category with the name '{name}' already exists.",
                    )
                cat = {"id": str(uuid.uuid4()), "displayName": name, "color": color}
                owner.categories.append(cat)
                return json_response(dict(cat), 201)
        else:
            cid = rest.lstrip("/")
            cat = next((c for c in owner.categories if c["id"] == cid), None)
            if cat is None:
                raise not_found("The specified object was not found in the store.")
            if method == "GET":
                return json_response(dict(cat))
            if method == "PATCH":
                payload = req.json() or {}
                if "displayName" in payload and payload["displayName"] != cat["displayName"]:
                    raise bad_request("The displayName of a category can't be changed.")
                if "color" in payload:
                    cat["color"] = payload["color"]
                return json_response(dict(cat))
            if method == "DELETE":
                owner.categories.remove(cat)
                return Response(204)
    raise GraphError(405, "Request_BadRequest", "Method not allowed.")


_FILTER_CLAUSE = re.compile(r"^\s*(\w+)\s+eq\s+(?:'((?:[^']|'')*)'|(true|false))\s*$", re.I)
_FILTERABLE = ("iCalUId", "subject", "type", "seriesMasterId", "isOrganizer", "isCancelled", "id")


def _filter(items, text):
    if not text:
        return items
    preds = []
    for clause in re.split(r"\s+and\s+(?![^()]*\))", text):
        if xprops.is_any_clause(clause):
            preds.append(xprops.any_predicate(clause))
            continue
        m = _FILTER_CLAUSE.match(clause)
        if m and m.group(1).lower() == "transactionid":
            # transactionId cannot be filtered on (GRAPH_FACTS §10, [T]); the answer's shape follows the one
            # Graph gives for another unfilterable event property, "The property 'Id' does not support
            # filtering." (https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/6058).
            raise GraphError(400, "ErrorInvalidProperty", "The property 'TransactionId' does not support filtering.")
        if not m or m.group(1) not in _FILTERABLE:
            raise GraphError(
                400, "ErrorInvalidUrlQueryFilter", f"The emulator does not support the filter clause '{clause}'."
            )
        prop, sval, bval = m.group(1), (m.group(2) or "").replace("''", "'"), m.group(3)
        want = (bval.lower() == "true") if bval else sval
        if prop in ("id", "seriesMasterId"):
            want = E.to_default(want)  # either id form names the same event
        preds.append(lambda e, prop=prop, want=want: e.get(prop) == want)
    return [e for e in items if all(p(e) for p in preds)]


def _paged(ctx, items, link, extra_query):
    q = ctx.req.query
    try:
        top = int(q.get("$top", 10))
        skip = int(q.get("$skip", 0))
    except ValueError:
        raise GraphError(400, "BadRequest", "Invalid $top or $skip value.") from None
    prefs = ctx.prefs()
    if "maxpagesize" in prefs and "$top" not in q:
        top = prefs["maxpagesize"]
    page = items[skip : skip + top]
    body = {
        "@odata.context": f"{ctx.emu.graph_url}/$metadata#Collection(event)",
        "value": [E.select_fields(E.render(e, prefs, ctx.emu.base_url), q.get("$select")) for e in page],
    }
    if skip + top < len(items):
        params = dict(extra_query)
        for k in ("$select", "$filter", "$expand"):
            if k in q:
                params[k] = q[k]
        params.update({"$top": top, "$skip": skip + top})
        body["@odata.nextLink"] = f"{link}?{urlencode(params)}"
    return json_response(body)


def _list_events(ctx, owner, link):
    with ctx.state.lock:
        items = [e for e in owner.events.values() if e["type"] in ("singleInstance", "seriesMaster")]
        items = _filter(items, ctx.req.query.get("$filter"))
        items.sort(key=lambda e: (e["createdDateTime"], e["id"]))
        return _paged(ctx, items, link, {})


def _calendar_view(ctx, owner, link):
    q = ctx.req.query
    # Option names are read case-insensitively (httpio.Query): "startdatetime" works as in Graph.
    start = timezones.parse_query_datetime(q.get("startDateTime"), "startDateTime")
    end = timezones.parse_query_datetime(q.get("endDateTime"), "endDateTime")
    with ctx.state.lock:
        items = _filter(E.calendar_view(owner.events, start, end), q.get("$filter"))
        return _paged(ctx, items, link, {"startDateTime": q.get("startDateTime"), "endDateTime": q.get("endDateTime")})


def event_entity(emu, ev, prefs=None, select=None):
    """One event as Graph answers a GET, POST or PATCH of it (caller holds state.lock)."""
    body = E.select_fields(E.render(ev, prefs or {}, emu.base_url), select)
    body["@odata.context"] = f"{emu.graph_url}/$metadata#users('{ev['_mailbox']}')/events/$entity"
    return body


def _event_response(ctx, ev, status=200):
    body = event_entity(ctx.emu, ev, ctx.prefs(), ctx.req.query.get("$select"))
    return json_response(body, status, {"ETag": body["@odata.etag"]})


def _event_item(ctx, owner, event_id, action, method, link_base):
    state, req = ctx.state, ctx.req
    if action is None:
        if method == "GET":
            _read_scopes(ctx, owner)
            with state.lock:
                return _event_response(ctx, meetings.get_event(owner, event_id))
        if method == "PATCH":
            _write_scopes(ctx, owner)
            payload = req.json()
            if payload is None:
                raise bad_request("Empty Payload. JSON content expected.", code="BadRequest")
            with state.lock:
                ev = meetings.update_event(state, owner, event_id, payload, req.headers.get("If-Match"))
                return _event_response(ctx, ev)
        if method == "DELETE":
            _write_scopes(ctx, owner)
            with state.lock:
                meetings.delete_event(state, owner, event_id, req.headers.get("If-Match"))
            return Response(204)
    elif action == "instances" and method == "GET":
        _read_scopes(ctx, owner)
        q = req.query
        start = timezones.parse_query_datetime(q.get("startDateTime"), "startDateTime")
        end = timezones.parse_query_datetime(q.get("endDateTime"), "endDateTime")
        with state.lock:
            master = meetings.get_event(owner, event_id)
            items = E.series_instances(owner.events, master, start, end) if master["type"] == "seriesMaster" else []
            return _paged(
                ctx,
                items,
                f"{link_base}/events/{event_id}/instances",
                {"startDateTime": q.get("startDateTime"), "endDateTime": q.get("endDateTime")},
            )
    elif method == "POST":
        _write_scopes(ctx, owner)
        payload = req.json() or {}
        with state.lock:
            if action == "cancel":
                unknown = set(payload) - {"comment"}
                if unknown:
                    from .errors import unknown_property

                    raise unknown_property(sorted(unknown)[0], "microsoft.graph.cancel")
                meetings.cancel_event(state, owner, event_id, payload.get("comment"))
            else:
                meetings.respond(state, owner, event_id, action, payload)
        return Response(202)
    raise GraphError(
        405, "ErrorInvalidRequest", f"The OData request is not supported: {method} on {action or 'event'}."
    )


def _subscriptions(ctx, rest, method):
    state, req = ctx.state, ctx.req
    ctx.require("Calendars.Read", "Calendars.ReadWrite", "Calendars.Read.Shared", "Calendars.ReadWrite.Shared")
    context = f"{ctx.emu.graph_url}/$metadata#subscriptions"
    if rest in ("", "/"):
        if method == "POST":
            # The id format of resourceData.id is decided once, by the Prefer header of the request that
            # creates the subscription: "Existing subscriptions created without the header continue to use
            # the default ID format" (https://learn.microsoft.com/en-us/graph/outlook-immutable-id).
            immutable = req.prefer().get("idtype", "").lower() == "immutableid"
            if immutable:
                ctx.applied.append('IdType="ImmutableId"')
            sub = subscriptions.create(
                state, ctx.caller, req.json() or {}, ctx.client_id, ctx.act_as, immutable, check=ctx.require_mailbox
            )
            return json_response(dict({"@odata.context": context + "/$entity"}, **subscriptions.render(sub)), 201)
        if method == "GET":
            with state.lock:
                subscriptions.purge_expired(state)
                # An app-only caller sees every subscription of the app, whoever it was created for; a delegated
                # caller the ones it created for the signed-in user ("based on the app ID, the user, and the
                # user's role", https://learn.microsoft.com/graph/api/subscription-list).
                mine = [subscriptions.render(s) for s in state.subscriptions.values() if subscriptions.visible(s, ctx)]
            return json_response({"@odata.context": context, "value": mine})
    m = re.match(r"^/([^/]+)(/reauthorize)?$", rest)
    if m:
        sid = m.group(1)
        if method == "PATCH" and not m.group(2):
            # Outside the lock: a new notificationUrl is validated by a handshake that may call back.
            sub = subscriptions.renew(state, ctx.caller, sid, req.json() or {}, ctx.act_as)
            with state.lock:
                return json_response(dict({"@odata.context": context + "/$entity"}, **subscriptions.render(sub)))
        with state.lock:
            if m.group(2) and method == "POST":
                subscriptions.get(state, ctx.caller, sid, ctx.act_as)
                # 204 No Content (https://learn.microsoft.com/en-us/graph/api/subscription-reauthorize).
                return Response(204)
            if method == "GET":
                return json_response(
                    dict(
                        {"@odata.context": context + "/$entity"},
                        **subscriptions.render(subscriptions.get(state, ctx.caller, sid, ctx.act_as)),
                    )
                )
            if method == "DELETE":
                subscriptions.delete(state, ctx.caller, sid, ctx.act_as)
                return Response(204)
    raise GraphError(405, "BadRequest", f"Unsupported request: {method} {req.path}")
