#!/usr/bin/env python3
"""moto's S3 server with a machine-readable request log.

This is `moto_server -H 127.0.0.1 -p PORT` (same app, same werkzeug server,
same werkzeug-style access log on stderr) plus a thin WSGI middleware that
appends one JSON line per request to --log:

    {"m": "PUT", "p": "/bucket/key", "q": "", "len": 1234, "copy": false, "st": 200}

The werkzeug access line cannot tell a PutObject from a CopyObject (both are
`PUT /bucket/key`) and does not carry the body size, so the benchmark counts
from this log instead. `len` is the decoded payload size
(x-amz-decoded-content-length for aws-chunked uploads, else Content-Length).

Only ever binds to 127.0.0.1.
"""
import argparse
import json
import os
import signal
import sys
import threading

from werkzeug.serving import run_simple

import moto.backends
from moto.core.base_backend import BackendDict
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

# Speed-ups that change no behaviour: moto re-lists its package directory and
# tries a few hundred URL regexes on every request to find the backend; both
# are pure functions of their input, so cache them. (~2x more requests/s.)
_MODULES = tuple(moto.backends.list_of_moto_modules())
moto.backends.list_of_moto_modules = lambda: _MODULES


_create_backend = BackendDict._create_account_specific_backend


def _create_backend_fast(self, account_id):
    # the original takes a global lock and scans a list of every backend on every
    # request; an account's backend is only ever added and cleared (reset)
    # together with its registration, so "already present" means "nothing to do"
    if dict.__contains__(self, account_id):
        return
    _create_backend(self, account_id)


BackendDict._create_account_specific_backend = _create_backend_fast


class FastDispatcher(DomainDispatcherApplication):
    _memo = {}

    def get_backend_for_host(self, host):
        try:
            return self._memo[host]
        except KeyError:
            res = self._memo[host] = super().get_backend_for_host(host)
            return res


class RequestLog:
    def __init__(self, app, path):
        self.app = app
        self.fh = open(path, "a", buffering=1, encoding="utf-8")
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "")
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        decoded = environ.get("HTTP_X_AMZ_DECODED_CONTENT_LENGTH")
        length = decoded if decoded is not None else environ.get("CONTENT_LENGTH") or 0
        try:
            length = int(length)
        except ValueError:
            length = 0
        copy = "HTTP_X_AMZ_COPY_SOURCE" in environ
        status = {}

        def _start(st, headers, exc_info=None):
            status["st"] = int(st.split(" ", 1)[0])
            return start_response(st, headers, exc_info)

        try:
            return self.app(environ, _start)
        finally:
            rec = {"m": method, "p": path, "q": query, "len": length, "copy": copy,
                   "st": status.get("st", 0)}
            line = json.dumps(rec, separators=(",", ":")) + "\n"
            with self.lock:
                self.fh.write(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-p", "--port", type=int, required=True)
    ap.add_argument("--log", required=True, help="JSON-lines request log (appended)")
    args = ap.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

    def _bye(signum, frame):
        sys.exit(0)

    signal.signal(signal.SIGINT, _bye)
    signal.signal(signal.SIGTERM, _bye)

    app = FastDispatcher(create_backend_app)
    run_simple("127.0.0.1", args.port, RequestLog(app, args.log), threaded=True,
               request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
