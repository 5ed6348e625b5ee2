"""Framework-free request/response objects shared by the HTTP layer, $batch and handlers."""

import json
from urllib.parse import parse_qs, urlsplit


class Headers(dict):
    """Case-insensitive header mapping (keys stored lower-case)."""

    def __init__(self, items=()):
        super().__init__()
        for k, v in items.items() if isinstance(items, dict) else items:
            self[k] = v

    def __setitem__(self, key, value):
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key):
        return super().__getitem__(key.lower())

    def get(self, key, default=None):
        return super().get(key.lower(), default)

    def __contains__(self, key):
        return super().__contains__(key.lower())


class Query(dict):
    """Query options as sent, read case-insensitively: Graph's query option names are (Graph
    Explorer's own sample is ``/me/calendarview?startdatetime=…&enddatetime=…``; [D]
    https://learn.microsoft.com/en-us/graph/query-parameters: "the names of query options are
    case-insensitive" for v1.0 with or without the ``$`` prefix). Keys keep their spelling when
    iterated (OAuth parameters, which are case-sensitive, are read as sent)."""

    def _key(self, key):
        if dict.__contains__(self, key):
            return key
        low = key.lower()
        return next((k for k in self if k.lower() == low), key)

    def __getitem__(self, key):
        return super().__getitem__(self._key(key))

    def get(self, key, default=None):
        return super().get(self._key(key), default)

    def __contains__(self, key):
        return super().__contains__(self._key(key))


class Request:
    def __init__(self, method, target, headers=None, body=b"", base_url="", scheme="https", in_batch=False):
        parts = urlsplit(target)
        self.method = method.upper()
        self.path = parts.path
        self.raw_query = parts.query
        self.query = Query({k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()})
        self.headers = Headers(headers or {})
        self.body = body or b""
        self.base_url = base_url
        self.scheme = scheme
        self.in_batch = in_batch
        self.lost_answer = False  # set by an after_commit drop fault on a $batch item
        self.request_id = None

    def json(self):
        if not self.body:
            return None
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            from .errors import GraphError

            raise GraphError(
                400,
                "BadRequest",
                "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is "
                "of valid JSON format.",
            ) from None

    def form(self):
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}

    def prefer(self):
        """Parsed Prefer header values: {'outlook.timezone': 'X', 'odata.maxpagesize': '2', ...}."""
        out = {}
        for raw in self.headers.get("Prefer", "").split(","):
            raw = raw.strip()
            if not raw:
                continue
            key, _, value = raw.partition("=")
            out[key.strip().lower()] = value.strip().strip('"')
        return out


class Response:
    def __init__(self, status=200, body=b"", headers=None, content_type=None):
        self.status = status
        self.headers = Headers(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            content_type = content_type or (
                "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"
            )
        elif isinstance(body, str):
            body = body.encode()
        self.body = body
        if content_type:
            self.headers["Content-Type"] = content_type

    def json(self):
        return json.loads(self.body) if self.body else None


def json_response(data, status=200, headers=None):
    return Response(status, data, headers)


def html_response(text, status=200):
    return Response(status, text, content_type="text/html; charset=utf-8")


def redirect(location, status=302):
    return Response(status, b"", {"Location": location})
