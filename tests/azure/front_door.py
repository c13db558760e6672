#!/usr/bin/env python3
"""A stand-in for the part of Azure Resource Manager that git-publish uses: purging an Azure Front Door
(Standard/Premium) endpoint's cache.

Front Door has no local server, so the tests talk to this one (Python 3 standard library only, 127.0.0.1 only).
It follows these documents:
- the request and its answer (202 and the operation's URLs):
  https://learn.microsoft.com/en-us/rest/api/frontdoor/azurefrontdoorstandardpremium/front-door-endpoints/purge-content
- reading an endpoint (doctor's check):
  https://learn.microsoft.com/en-us/rest/api/frontdoor/azurefrontdoorstandardpremium/front-door-endpoints/get
- long-running operations (`Azure-AsyncOperation`, `Location`, the status body):
  https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/async-operations
- the paths a purge takes (a file path, or a directory with a wildcard `/dir/*`; 100 a request):
  https://learn.microsoft.com/en-us/azure/frontdoor/cache-purge
- throttling (429 with `Retry-After`) and the error body `{"error": {"code", "message"}}`:
  https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/request-limits-and-throttling

What it implements:
- `POST /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Cdn/profiles/{profile}/afdEndpoints/
  {endpoint}/purge?api-version=…` with `{"contentPaths": [...], "domains": [...]}` → 202 with
  `Azure-AsyncOperation` and `Location` headers on this server. `api-version` is required (400
  `MissingApiVersionParameter`).
- contentPaths: a non-empty list of at most `--max-paths` (100) paths, each starting with `/`; a `*` only as the
  final character after a `/` (`/dir/*`, or `/*`); else 400 `BadRequest`.
- `GET` of the `Azure-AsyncOperation` URL: `{"status": "InProgress" | "Succeeded"}` (InProgress for the first
  `--done-after` reads, default 0); of the `Location` URL: 202 while in progress, then 204.
- `GET …/afdEndpoints/{endpoint}?api-version=…`: the endpoint resource (doctor's read-only check).
- `Authorization: Bearer <token>`: missing or another token answers 401 `InvalidAuthenticationToken`. With
  `--endpoint` (repeatable), another endpoint answers 404 `ResourceNotFound`; with `--deny-purge`, a purge
  answers 403 `AuthorizationFailed` (a token that may read but not purge).
- After `--rate N` accepted purges within `--window S` seconds, a purge answers 429 `TooManyRequests` with
  `Retry-After: --retry-after`. Refused requests do not count.

Every request is logged as one JSON line (method, path, endpoint, status, auth ok or not, contentPaths,
domains, error code) to the file given by `--log`: tests read it to assert exactly which paths were purged. The
token itself is never logged.

Usage: front_door.py [--port 0] [--token T] [--endpoint E]... [--max-paths 100] [--rate N --window S]
[--retry-after S] [--done-after N] [--deny-purge] [--log FILE]. The first line printed is
`listening on 127.0.0.1:PORT`.
"""

import json
import os
import re
import sys
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import standin  # noqa: E402

ENDPOINT = re.compile(
    r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Cdn/profiles/([^/]+)"
    r"/afdEndpoints/([^/]+)(/purge)?$")
OPERATION = re.compile(r"^/standin/operations/([0-9a-f]+)(/location)?$")


def error(code, message):
    return {"error": {"code": code, "message": message}}


def bad_paths(paths, max_paths):
    if not isinstance(paths, list) or not paths:
        return "contentPaths must be a non-empty list of paths"
    if len(paths) > max_paths:
        return f"At most {max_paths} content paths can be purged in one request; this request had {len(paths)}"
    for p in paths:
        if not isinstance(p, str) or not p.startswith("/"):
            return f"Invalid content path {p!r}: a path starts with '/'"
        star = p.find("*")
        if star != -1 and not (star == len(p) - 1 and p.endswith("/*")):
            return f"Invalid content path {p!r}: a wildcard only as '/*' at the end of a directory"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "front-door-standin"

    def log_message(self, *_):
        pass

    def answer(self, status, body, entry, headers=()):
        entry["status"] = status
        entry["code"] = body.get("error", {}).get("code") if isinstance(body, dict) else None
        self.server.state.write(entry)
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def entry(self, method, path):
        token = self.server.state.args.token
        return {"method": method, "path": path, "endpoint": None, "status": None,
                "auth": (self.headers.get("Authorization") or "") == f"Bearer {token}",
                "contentPaths": None, "domains": None}

    def refused(self, e, endpoint, query):
        args = self.server.state.args
        if not e["auth"]:
            return 401, error("InvalidAuthenticationToken", "The access token is invalid.")
        if "api-version" not in query:
            return 400, error("MissingApiVersionParameter", "The api-version query parameter is required.")
        if endpoint is not None and args.endpoint and endpoint not in args.endpoint:
            return 404, error("ResourceNotFound", f"The Resource 'afdEndpoints/{endpoint}' was not found.")
        return None

    def do_GET(self):
        st = self.server.state
        url = urlsplit(self.path)
        e = self.entry("GET", url.path)
        m = OPERATION.match(url.path)
        if m:
            refused = self.refused(e, None, {"api-version": 1})
            if refused:
                return self.answer(*refused, e)
            done = st.read_operation(m.group(1))
            if done is None:
                return self.answer(404, error("NotFound", "no such operation"), e)
            if m.group(2):
                return self.answer(204 if done else 202, None, e)
            return self.answer(200, {"status": "Succeeded" if done else "InProgress"}, e)
        m = ENDPOINT.match(url.path)
        if m and not m.group(5):
            e["endpoint"] = m.group(4)
            refused = self.refused(e, m.group(4), parse_qs(url.query))
            if refused:
                return self.answer(*refused, e)
            return self.answer(200, {"name": m.group(4), "type": "Microsoft.Cdn/profiles/afdendpoints",
                                     "properties": {"hostName": f"{m.group(4)}.z01.azurefd.net"}}, e)
        return self.answer(404, error("NotFound", "no such resource"), e)

    def do_POST(self):
        st = self.server.state
        raw = self.read_body()
        url = urlsplit(self.path)
        e = self.entry("POST", url.path)
        m = ENDPOINT.match(url.path)
        if not m or not m.group(5):
            return self.answer(404, error("NotFound", "no such action"), e)
        e["endpoint"] = m.group(4)
        refused = self.refused(e, m.group(4), parse_qs(url.query))
        if refused:
            return self.answer(*refused, e)
        if st.args.deny_purge:
            return self.answer(403, error("AuthorizationFailed", "The client does not have authorization to "
                                          "perform action 'Microsoft.Cdn/profiles/afdEndpoints/purge/action'."), e)
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self.answer(400, error("BadRequest", "The request body is not JSON."), e)
        e["contentPaths"], e["domains"] = body.get("contentPaths"), body.get("domains")
        why = bad_paths(body.get("contentPaths"), st.args.max_paths)
        if why:
            return self.answer(400, error("BadRequest", why), e)
        if st.throttled():
            return self.answer(429, error("TooManyRequests", "Too many purge requests; retry later."), e,
                               [("Retry-After", str(st.args.retry_after))])
        op = uuid.uuid4().hex
        st.new_operation(op)
        host = f"http://127.0.0.1:{self.server.server_address[1]}"
        e["operation"] = op
        return self.answer(202, None, e, [("Azure-AsyncOperation", f"{host}/standin/operations/{op}"),
                                          ("Location", f"{host}/standin/operations/{op}/location"),
                                          ("Retry-After", "1")])


def main(argv=None):
    p = standin.arguments(__doc__.split("\n\n")[0])
    p.add_argument("--endpoint", action="append", default=[])
    p.add_argument("--max-paths", type=int, default=100)
    p.add_argument("--deny-purge", action="store_true")
    return standin.serve(p.parse_args(argv), Handler)


if __name__ == "__main__":
    sys.exit(main())
