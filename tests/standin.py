"""What the cloud API stand-ins (tests/gcp/cloud_cdn.py, tests/azure/front_door.py) share: their state (the
request log, a rate limit as a sliding window, the long-running operations and how often each was read), the
common arguments, and serving on 127.0.0.1. Python 3 standard library only."""

import argparse
import json
import threading
import time
from http.server import ThreadingHTTPServer


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.accepted = []  # times of accepted requests, for the rate limit
        self.count = 0  # requests accepted so far, for --throttle-after
        self.throttles_left = args.throttle_times
        self.operations = {}  # operation -> reads so far
        self.log = open(args.log, "a", buffering=1) if args.log else None

    def write(self, entry):
        """Log one request (before it is answered: a client that has its answer finds it in the log)."""
        if self.log:
            with self.lock:
                self.log.write(json.dumps(entry) + "\n")

    def throttled(self):
        """Whether this request is over the rate limit; counts it when it is not. `--throttle-after A
        --throttle-times T`: the T requests after the first A accepted ones are over it, whatever the time."""
        with self.lock:
            if self.count >= self.args.throttle_after and self.throttles_left > 0:
                self.throttles_left -= 1
                return True
            self.count += 1
        if not self.args.rate:
            return False
        now = time.monotonic()
        with self.lock:
            self.accepted = [t for t in self.accepted if now - t < self.args.window]
            if len(self.accepted) >= self.args.rate:
                return True
            self.accepted.append(now)
            return False

    def new_operation(self, name):
        with self.lock:
            self.operations[name] = 0

    def read_operation(self, name):
        """Count a read of `name`: whether it is done now (None: no such operation). An operation is in
        progress for its first `--done-after` reads."""
        with self.lock:
            if name not in self.operations:
                return None
            self.operations[name] += 1
            return self.operations[name] > self.args.done_after


def arguments(description):
    """The arguments every stand-in takes; each adds its own."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--token", default="test-token")
    p.add_argument("--rate", type=int, default=0, help="accepted requests a window (0: no limit)")
    p.add_argument("--window", type=float, default=60.0)
    p.add_argument("--retry-after", type=int, default=1)
    p.add_argument("--throttle-after", type=int, default=0, help="accepted requests before --throttle-times 429s")
    p.add_argument("--throttle-times", type=int, default=0)
    p.add_argument("--done-after", type=int, default=0, help="reads an operation is in progress for")
    p.add_argument("--log")
    return p


def serve(args, handler):
    """Serve `handler` on 127.0.0.1:--port; the first line printed is `listening on 127.0.0.1:PORT`."""
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server.daemon_threads = True
    server.state = State(args)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
