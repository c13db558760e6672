#!/usr/bin/env python3
"""A stand-in for the part of Google's Compute Engine API v1 that git-publish uses: Cloud CDN cache invalidation.

Cloud CDN has no local server, so the tests talk to this one (Python 3 standard library only, 127.0.0.1 only).
It follows these documents:
- the request and its answer (a global Operation):
  https://cloud.google.com/compute/docs/reference/rest/v1/urlMaps/invalidateCache
- the operation's status: https://cloud.google.com/compute/docs/reference/rest/v1/globalOperations/get
- reading a URL map (doctor's check): https://cloud.google.com/compute/docs/reference/rest/v1/urlMaps/get
- path rules, one path a request, the rate limit (500 invalidation requests a minute):
  https://cloud.google.com/cdn/docs/cache-invalidation-overview and
  https://cloud.google.com/cdn/docs/invalidating-cached-content
- the error body and rate-limit reasons: https://cloud.google.com/apis/design/errors and
  https://cloud.google.com/compute/docs/api/how-tos/api-rate-limits

What it implements:
- `POST /compute/v1/projects/{project}/global/urlMaps/{urlMap}/invalidateCache` with the JSON body
  `{"path": "/a/b", "host": "optional"}` (a `CacheInvalidationRule`); ONE path a request: a `paths` list, or a
  `path` that is a list, answers 400 (reason `invalid`).
- A path must start with `/`, must not hold `?` or `#`, and may hold `*` only as the final character after a
  `/` (`/dir/*`); else 400 `invalid`.
- The answer: an Operation `{"kind": "compute#operation", "name": "operation-…", "operationType":
  "invalidateCache", "status": "RUNNING" | "DONE", "targetLink", "selfLink", …}`. With `--done-after N` an
  operation is RUNNING for its first N reads, then DONE (default 0: DONE at once).
- `GET /compute/v1/projects/{project}/global/operations/{name}`: the Operation; an unknown one 404.
- `GET /compute/v1/projects/{project}/global/urlMaps/{urlMap}`: a small UrlMap (doctor's read-only check).
- `Authorization: Bearer <token>`: missing or another token answers 401 (reason `authError`,
  UNAUTHENTICATED). With `--project`/`--url-map` (repeatable), another project answers 403 (`forbidden`)
  and another URL map 404 (`notFound`).
- After `--rate N` accepted invalidations within `--window S` seconds, an invalidation answers 429 (reason
  `rateLimitExceeded`, RESOURCE_EXHAUSTED) with `Retry-After: --retry-after`; `--rate-status 403` answers 403
  with the same reason instead (Google's older form). Refused requests do not count.

- `POST /token` (the `token_uri` of a service account key, so that Application Default Credentials from
  `GOOGLE_APPLICATION_CREDENTIALS` are tested end to end): the OAuth 2.0 JWT bearer grant of
  https://developers.google.com/identity/protocols/oauth2/service-account#httprest, form-encoded
  `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`, answered
  `{"access_token": <--token>, "expires_in": 3600, "token_type": "Bearer"}`. The JWT's claims are read and
  logged (`iss`, `scope`); its signature is not checked. With `--refuse-token` it answers 400
  `invalid_grant`.

Every request is logged as one JSON line (method, path, project, url_map, status, auth ok or not, the
invalidation's path and host, the reason) to the file given by `--log`: tests read it to assert exactly which
paths were invalidated. The token itself is never logged.

Usage: cloud_cdn.py [--port 0] [--token T] [--project P]... [--url-map M]... [--rate N --window S]
[--retry-after S] [--rate-status 429|403] [--done-after N] [--refuse-token] [--log FILE]. The first line printed is
`listening on 127.0.0.1:PORT`.
"""

import base64
import json
import os
import re
import sys
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import standin  # noqa: E402

PREFIX = "/compute/v1/projects/"
INVALIDATE = re.compile(r"^/compute/v1/projects/([^/]+)/global/urlMaps/([^/]+)/invalidateCache$")
OPERATION = re.compile(r"^/compute/v1/projects/([^/]+)/global/operations/([^/]+)$")
URL_MAP = re.compile(r"^/compute/v1/projects/([^/]+)/global/urlMaps/([^/]+)$")


def error(code, status, reason, message):
    return {"error": {"code": code, "message": message, "status": status,
                      "errors": [{"message": message, "domain": "global", "reason": reason}]}}


def bad_path(path):
    """Why Cloud CDN refuses `path`, or None."""
    if not isinstance(path, str):
        return "Invalid value for field 'resource.path': exactly one path a request"
    if not path.startswith("/"):
        return f"Invalid value for field 'resource.path': '{path}'. Must start with '/'"
    if "?" in path or "#" in path:
        return f"Invalid value for field 'resource.path': '{path}'. Must not contain '?' or '#'"
    star = path.find("*")
    if star != -1 and (star != len(path) - 1 or not path.endswith("/*")):
        return f"Invalid value for field 'resource.path': '{path}'. '*' only as the final character after '/'"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloud-cdn-standin"

    def log_message(self, *_):
        pass

    def answer(self, status, body, entry, headers=()):
        entry["status"] = status
        entry["reason"] = body.get("error", {}).get("errors", [{}])[0].get("reason") if "error" in body else None
        self.server.state.write(entry)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def check(self, entry, project, url_map=None):
        """The refusal (status, body) for the token, project or URL map, or None."""
        args = self.server.state.args
        if not entry["auth"]:
            return 401, error(401, "UNAUTHENTICATED", "authError",
                              "Request had invalid authentication credentials.")
        if args.project and project not in args.project:
            return 403, error(403, "PERMISSION_DENIED", "forbidden",
                              f"Required 'compute.urlMaps.invalidateCache' permission for 'projects/{project}'")
        if url_map is not None and args.url_map and url_map not in args.url_map:
            return 404, error(404, "NOT_FOUND", "notFound",
                              f"The resource 'projects/{project}/global/urlMaps/{url_map}' was not found")
        return None

    def entry(self, method):
        token = self.server.state.args.token
        return {"method": method, "path": self.path, "project": None, "url_map": None,
                "auth": (self.headers.get("Authorization") or "") == f"Bearer {token}",
                "invalidate": None, "host": None}

    def do_GET(self):
        st = self.server.state
        e = self.entry("GET")
        m = OPERATION.match(self.path)
        if m:
            e["project"] = m.group(1)
            refused = self.check(e, m.group(1))
            if refused:
                return self.answer(*refused, e)
            name = m.group(2)
            done = st.read_operation(name)
            if done is None:
                return self.answer(404, error(404, "NOT_FOUND", "notFound", f"operation {name} not found"), e)
            return self.answer(200, operation(m.group(1), name, done), e)
        m = URL_MAP.match(self.path)
        if m:
            e["project"], e["url_map"] = m.group(1), m.group(2)
            refused = self.check(e, m.group(1), m.group(2))
            if refused:
                return self.answer(*refused, e)
            return self.answer(200, {"kind": "compute#urlMap", "name": m.group(2),
                                     "defaultService": "global/backendBuckets/site"}, e)
        return self.answer(404, error(404, "NOT_FOUND", "notFound", "no such resource"), e)

    def token(self, raw, e):
        form = parse_qs(raw.decode("utf-8", "replace"))
        grant = form.get("grant_type", [""])[0]
        parts = form.get("assertion", [""])[0].split(".")
        claims = {}
        if len(parts) == 3:
            try:
                claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
            except ValueError:
                claims = {}
        e["grant"], e["iss"], e["scope"] = grant, claims.get("iss"), claims.get("scope")
        if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer" or not claims or self.server.state.args.refuse_token:
            body = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            e["status"] = 400
            self.server.state.write(e)
            data = json.dumps(body).encode()
            self.send_response(400)
        else:
            body = {"access_token": self.server.state.args.token, "expires_in": 3600, "token_type": "Bearer"}
            e["status"] = 200
            self.server.state.write(e)
            data = json.dumps(body).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        st = self.server.state
        raw = self.read_body()
        e = self.entry("POST")
        if self.path == "/token":
            e["method"] = "TOKEN"
            return self.token(raw, e)
        m = INVALIDATE.match(self.path)
        if not m:
            return self.answer(404, error(404, "NOT_FOUND", "notFound", "no such method"), e)
        project, url_map = m.group(1), m.group(2)
        e["project"], e["url_map"] = project, url_map
        refused = self.check(e, project, url_map)
        if refused:
            return self.answer(*refused, e)
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self.answer(400, error(400, "INVALID_ARGUMENT", "parseError", "Parse Error"), e)
        e["invalidate"], e["host"] = body.get("path"), body.get("host")
        why = "exactly one path a request: 'paths' is not a field" if "paths" in body else bad_path(body.get("path"))
        if why:
            return self.answer(400, error(400, "INVALID_ARGUMENT", "invalid", why), e)
        if st.throttled():
            status = st.args.rate_status
            body = error(status, "RESOURCE_EXHAUSTED", "rateLimitExceeded",
                         "Rate Limit Exceeded: too many cache invalidations; try again later")
            return self.answer(status, body, e, [("Retry-After", str(st.args.retry_after))])
        name = f"operation-{uuid.uuid4().hex}"
        st.new_operation(name)
        e["operation"] = name
        return self.answer(200, operation(project, name, st.args.done_after == 0, url_map), e)


def operation(project, name, done, url_map=None):
    base = f"https://compute.googleapis.com/compute/v1/projects/{project}/global"
    op = {"kind": "compute#operation", "id": str(uuid.uuid4().int % 10**19), "name": name,
          "operationType": "invalidateCache", "status": "DONE" if done else "RUNNING", "progress": 100 if done else 0,
          "selfLink": f"{base}/operations/{name}"}
    if url_map:
        op["targetLink"] = f"{base}/urlMaps/{url_map}"
    return op


def main(argv=None):
    p = standin.arguments(__doc__.split("\n\n")[0])
    p.add_argument("--project", action="append", default=[])
    p.add_argument("--url-map", action="append", default=[])
    p.add_argument("--rate-status", type=int, default=429, choices=[429, 403])
    p.add_argument("--refuse-token", action="store_true")
    return standin.serve(p.parse_args(argv), Handler)


if __name__ == "__main__":
    sys.exit(main())
