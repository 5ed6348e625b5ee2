"""Graph-shaped errors. Every failure leaves the emulator as
{"error":{"code","message","innerError":{"request-id","date"}}} (GRAPH_FACTS §1.3)."""

import uuid
from datetime import UTC, datetime


class GraphError(Exception):
    def __init__(self, status, code, message, headers=None, extra=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.extra = extra or {}

    def body(self, request_id=None):
        inner = {
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": request_id or str(uuid.uuid4()),
            "client-request-id": request_id or str(uuid.uuid4()),
        }
        inner.update(self.extra)
        return {"error": {"code": self.code, "message": self.message, "innerError": inner}}


class DropConnection(Exception):
    """Raised by the fault injector: the server closes the socket without answering."""


def bad_request(message, code="ErrorInvalidRequest"):
    return GraphError(400, code, message)


def not_found(message="The specified object was not found in the store."):
    return GraphError(404, "ErrorItemNotFound", message)


def unknown_property(name, type_name="microsoft.graph.event"):
    # Wording copied from Graph's OData reader error for an unknown property.
    return GraphError(
        400,
        "RequestBodyRead",
        f"The property '{name}' does not exist on type '{type_name}'. Make sure to only use "
        "property names that are defined by the type or mark the type as open type.",
    )


def throttled(retry_after, code="TooManyRequests", message="Please retry again later."):
    err = GraphError(
        429,
        code,
        message,
        headers={"Retry-After": str(retry_after)},
        extra={"code": "429", "status": "429", "message": "Please retry after"},
    )
    return err
