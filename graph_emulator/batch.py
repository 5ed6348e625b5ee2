"""JSON batching: POST /v1.0/$batch (GRAPH_FACTS §4).

Items run in order through the same Graph handler as single requests, so faults,
throttling and act-as apply per item. An item whose dependency did not succeed
gets 424 without running."""

import json

from .errors import DropConnection, GraphError, bad_request
from .httpio import Request, json_response

MAX_REQUESTS = 20


def _validate(payload):
    if not isinstance(payload, dict) or not isinstance(payload.get("requests"), list):
        raise bad_request("Invalid batch payload format.", code="BadRequest")
    items = payload["requests"]
    if not items:
        raise bad_request("Invalid batch payload format: requests must not be empty.", code="BadRequest")
    if len(items) > MAX_REQUESTS:
        raise bad_request(
            f"The number of batch requests in the payload exceeds the limit of {MAX_REQUESTS}.", code="BadRequest"
        )
    seen = set()
    for item in items:
        if not isinstance(item, dict) or not item.get("id") or not item.get("method") or not item.get("url"):
            raise bad_request("Each batch request needs id, method and url.", code="BadRequest")
        if str(item["id"]) in seen:
            raise bad_request(f"Batch request id '{item['id']}' is duplicated.", code="BadRequest")
        seen.add(str(item["id"]))
        headers = {k.lower(): v for k, v in (item.get("headers") or {}).items()}
        if "body" in item and item["body"] is not None and "content-type" not in headers:
            raise bad_request(
                f"Content-Type header is required for batch request '{item['id']}' with a body.", code="BadRequest"
            )
        for dep in item.get("dependsOn") or []:
            if str(dep) not in seen or str(dep) == str(item["id"]):
                raise bad_request(
                    f"Batch request '{item['id']}' depends on '{dep}', which must appear earlier in the batch.",
                    code="BadRequest",
                )
    return items


def handle(emu, outer):
    from . import graph

    items = _validate(outer.json())
    results, statuses = [], {}
    lost_answer = False  # an after_commit drop rule fired on an item
    for item in items:
        rid = str(item["id"])
        failed = [d for d in item.get("dependsOn") or [] if not (200 <= statuses.get(str(d), 0) < 300)]
        if failed:
            status = 424
            body = GraphError(424, "FailedDependency", f"Dependent request '{failed[0]}' failed.").body()
            results.append({"id": rid, "status": status, "headers": {"Content-Type": "application/json"}, "body": body})
            statuses[rid] = status
            continue
        url = item["url"]
        if url.startswith("https://") or url.startswith("http://"):
            url = "/" + url.split("/", 3)[3]
            url = url[len("/v1.0") :] if url.startswith("/v1.0/") else url
        if not url.startswith("/"):
            url = "/" + url
        headers = dict(item.get("headers") or {})
        for name in ("Authorization", graph.ACT_AS_HEADER):
            if outer.headers.get(name) and name not in headers:
                headers[name] = outer.headers.get(name)
        body = item.get("body")
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        sub = Request(item["method"], "/v1.0" + url, headers, body or b"", outer.base_url, outer.scheme, in_batch=True)
        resp = graph.handle(emu, sub)
        lost_answer = lost_answer or getattr(sub, "lost_answer", False)
        out_headers = {
            k: v
            for k, v in resp.headers.items()
            if k in ("content-type", "location", "retry-after", "etag", "preference-applied")
        }
        out_headers = {"-".join(p.capitalize() for p in k.split("-")): v for k, v in out_headers.items()}
        entry = {"id": rid, "status": resp.status, "headers": out_headers}
        if resp.body:
            try:
                entry["body"] = json.loads(resp.body)
            except ValueError:
                entry["body"] = resp.body.decode("utf-8", "replace")
        results.append(entry)
        statuses[rid] = resp.status
    if lost_answer:
        raise DropConnection()
    return json_response({"responses": results})
