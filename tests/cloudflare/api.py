#!/usr/bin/env python3
"""A stand-in for the part of Cloudflare's API v4 that git-publish uses: purging a zone's cache.

Cloudflare has no local server, so the tests talk to this one (Python 3 standard library only, 127.0.0.1 only).
It follows these documents:
- the request and its answer: https://developers.cloudflare.com/api/resources/cache/methods/purge/
- purge by URL (absolute URLs, the URLs a request may name, no wildcards):
  https://developers.cloudflare.com/cache/how-to/purge-cache/purge-by-single-file/
  and the limits table of https://developers.cloudflare.com/cache/how-to/purge-cache/
- the rate limit (HTTP 429 with `Retry-After`): https://developers.cloudflare.com/fundamentals/api/reference/limits/
- a token's check: https://developers.cloudflare.com/api/resources/user/subresources/tokens/methods/verify/
- a zone's details: https://developers.cloudflare.com/api/resources/zones/methods/get/

What it implements:
- `POST /client/v4/zones/{zone_id}/purge_cache` with the JSON body `{"files": [url, ...]}` (a file may also be
  `{"url": ..., "headers": {...}}`) or `{"purge_everything": true}`.
- `GET /client/v4/user/tokens/verify`: the token's `{"id", "status"}` (`--token-status`, default "active");
  a missing or other token answers 401 with error 1000 "Invalid API Token".
- `GET /client/v4/zones/{zone_id}`: the zone's `{"id", "name" (--zone-name), "status": "active"}`, with the
  same zone-id and token checks as a purge (with `--zone`, another zone answers 403).
- Every other path answers 404; other methods 405.
- `Authorization: Bearer <token>`: a missing or other token answers 403 with error 10000 "Authentication error".
- A zone id must look like one (32 hex digits), else 400 with error 7003 "Could not route to ..., perhaps your
  object identifier is invalid?". With `--zone` (repeatable), another zone answers 403 (10000) as a token
  without access to it does.
- The envelope: `{"success": bool, "errors": [{"code", "message"}], "messages": [], "result": {"id"} | null}`.
- At most `--max-files` URLs a request (100 on current plans; older documents and older zones: 30): more answer
  400. The documents give the limit, not the error's code; reports of the refusal show HTTP 400 only, so the
  code here (1122) is this stand-in's own and git-publish must not rely on it.
- Wildcards (`*`) in `files` are refused (400): purge by URL matches exact URLs only.
- A URL must be absolute (`http://` or `https://` and a host), else 400.
- After `--rate N` accepted requests within `--window S` seconds (or by count: `--throttle-after`, `--throttle-times`;
  the rate limit and the server are `tests/standin.py`'s, shared with the other stand-ins), a request answers 429 with
  `Retry-After: --retry-after` and error 971 "Please wait and consider throttling your request speed" (refused
  requests do not count, as in a token bucket).

Every request is logged as one JSON line (method, path, zone, status, auth ok or not, files, purge_everything,
error codes) to the file given by `--log`: tests read it to assert exactly which
URLs were purged. The token itself is never logged.

Usage: api.py [--port 0] [--token T] [--token-status active] [--zone Z]... [--zone-name example.com] [--max-files 100] [--rate N --window S] [--retry-after S]
[--log FILE]. Port 0 picks a free port; the first line printed is `listening on 127.0.0.1:PORT`.
"""

import json
import os
import re
import sys
import uuid
from http.server import BaseHTTPRequestHandler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import standin  # noqa: E402

PATH = re.compile(r"^/client/v4/zones/([^/]+)/purge_cache$")
ZONE_PATH = re.compile(r"^/client/v4/zones/([^/]+)$")
VERIFY_PATH = "/client/v4/user/tokens/verify"
TOKEN_ID = "ed17574386854bf78a67040be0a770b0"
ZONE_ID = re.compile(r"^[0-9a-f]{32}$")


def envelope(errors=(), result=None):
    return {
        "success": not errors,
        "errors": [{"code": c, "message": m} for c, m in errors],
        "messages": [],
        "result": result,
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudflare-standin"

    def log_message(self, *_):  # the JSON log replaces the default one
        pass

    def answer(self, status, body, entry, headers=()):
        # Logged before the answer is sent: a client that has its answer finds its request in the log.
        entry.update(status=status, errors=[e["code"] for e in body["errors"]])
        self.server.state.write(entry)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        args = self.server.state.args
        self.read_body()
        auth = self.headers.get("Authorization") or ""
        entry = {"method": "GET", "path": self.path, "auth": auth == f"Bearer {args.token}"}
        if self.path == VERIFY_PATH:
            if not entry["auth"]:
                return self.answer(401, envelope([(1000, "Invalid API Token")]), entry)
            return self.answer(200, envelope(result={"id": TOKEN_ID, "status": args.token_status}), entry)
        m = ZONE_PATH.match(self.path)
        if not m:
            return self.answer(404, envelope([(7000, "No route for that URI")]), entry)
        zone = entry["zone"] = m.group(1)
        if not ZONE_ID.match(zone):
            msg = f"Could not route to /zones/{zone}, perhaps your object identifier is invalid?"
            return self.answer(400, envelope([(7003, msg)]), entry)
        if not entry["auth"] or (args.zone and zone not in args.zone):
            return self.answer(403, envelope([(10000, "Authentication error")]), entry)
        return self.answer(200, envelope(result={"id": zone, "name": args.zone_name, "status": "active"}), entry)

    def do_PUT(self):
        self.refuse_method()

    do_DELETE = do_PATCH = do_PUT

    def refuse_method(self):
        self.read_body()
        entry = {"method": self.command, "path": self.path}
        self.answer(405, envelope([(10405, "Method not allowed")]), entry)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_POST(self):
        st = self.server.state
        args = st.args
        raw = self.read_body()
        m = PATH.match(self.path)
        auth = self.headers.get("Authorization") or ""
        entry = {
            "method": "POST",
            "path": self.path,
            "zone": m.group(1) if m else None,
            "auth": auth == f"Bearer {args.token}",
            "files": None,
            "purge_everything": False,
        }
        if not m:
            return self.answer(404, envelope([(7000, "No route for that URI")]), entry)
        zone = m.group(1)
        if not ZONE_ID.match(zone):
            msg = f"Could not route to /zones/{zone}/purge_cache, perhaps your object identifier is invalid?"
            return self.answer(400, envelope([(7003, msg)]), entry)
        if not entry["auth"] or (args.zone and zone not in args.zone):
            return self.answer(403, envelope([(10000, "Authentication error")]), entry)
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return self.answer(400, envelope([(6007, "Malformed JSON in request body")]), entry)
        if not isinstance(body, dict):
            return self.answer(400, envelope([(6007, "Malformed JSON in request body")]), entry)
        files = body.get("files")
        everything = body.get("purge_everything") is True
        if files is not None:
            entry["files"] = [f.get("url") if isinstance(f, dict) else f for f in files] if isinstance(files, list) else files
        entry["purge_everything"] = everything
        if (files is None) != everything:
            msg = 'Request must contain one of "purge_everything", "files", "tags", "hosts" or "prefixes"'
            return self.answer(400, envelope([(1012, msg)]), entry)
        if files is not None:
            error = check_files(files, args.max_files)
            if error:
                return self.answer(400, envelope([error]), entry)
        if st.throttled():
            msg = "Please wait and consider throttling your request speed"
            return self.answer(429, envelope([(971, msg)]), entry, [("Retry-After", str(args.retry_after))])
        return self.answer(200, envelope(result={"id": uuid.uuid4().hex}), entry)


def check_files(files, max_files):
    """The error (code, message) for a `files` list Cloudflare refuses, or None."""
    if not isinstance(files, list) or not files:
        return 1014, '"files" must be a non-empty array'
    if len(files) > max_files:
        return 1122, f"You may purge up to {max_files} files in one request; this request had {len(files)}"
    for f in files:
        url = f.get("url") if isinstance(f, dict) else f
        if not isinstance(url, str):
            return 1014, '"files" must contain URLs (strings, or objects with "url")'
        if "*" in url:
            return 1131, f"Wildcards are not allowed in purge by URL: {url}"
        if not re.match(r"^https?://[^/\s]+(/|$)", url):
            return 1132, f"Not an absolute URL: {url}"
    return None


def main(argv=None):
    p = standin.arguments(__doc__.split("\n\n")[0])
    p.add_argument("--zone", action="append", default=[])
    p.add_argument("--zone-name", default="example.com")
    p.add_argument("--token-status", default="active", choices=["active", "disabled", "expired"])
    p.add_argument("--max-files", type=int, default=100, choices=[30, 100, 500])
    return standin.serve(p.parse_args(argv), Handler)


if __name__ == "__main__":
    sys.exit(main())
