#!/usr/bin/env python3
"""The new post on each cloud store's emulator: git-publish against `hugo deploy`, counting requests (exact; no
times are compared).

    bench/clouds.py [--n 500] [--size-scale 0.05] [--out bench/results/clouds.md] [--built-from TEXT]

- The stores: the tests' emulators. Azure Blob Storage: Azurite (`.node/node_modules/.bin/azurite-blob`, the
  arguments of tests/it/azure.rs, the development account `devstoreaccount1`, containers made with
  tests/azurite/container.py). Google Cloud Storage: gcp-storage-emulator with the XML-API layer
  tests/gcs/server.py (`.venv/bin/python`, as tests/it/gcs.rs); the layer passes the JSON API (the one Google's
  Go client speaks) through to the emulator. One fresh container or bucket per tool, made directly (not counted).
- The count: a counting proxy in this script, in front of each emulator; each tool reaches the store only
  through it. Every request is logged with its method, path and query, and answer status. Categories: LIST
  (Azure `comp=list`; GCS XML `list-type`, JSON `GET …/o`), HEAD, GET, PUT, POST, DELETE; "record + probe" are
  git-publish's requests to `.git-publish/` (its deploy record and the conditional-write probe); "errors" are
  answers >= 400 outside `.git-publish/`.
- The site: `bench/gen_site.py` (tags `bench-initial`, `bench-newpost`: 10 files changed, 2 of them new).
  `--size-scale` only shrinks the bytes; request counts do not depend on them.
- git-publish: `$GIT_PUBLISH_BIN`, else `$CARGO_TARGET_DIR/debug/git-publish`, else `target/debug/git-publish`
  (request counts are the same for a debug build), `--rev bench-initial` then `--rev bench-newpost`, to
  `url = "azblob://CONTAINER"` with `AZURE_STORAGE_CONNECTION_STRING` (`BlobEndpoint=` the proxy), or
  `url = "gs://BUCKET"` with `STORAGE_EMULATOR_HOST` = the proxy.
- hugo deploy (`hugo` on PATH; Debian's `apt-get install hugo`): the checked-out commit's public/ (as
  bench/run.py's HugoDeploy), `[[deployment.targets]] URL = "azblob://CONTAINER"` with gocloud.dev's
  variables `AZURE_STORAGE_ACCOUNT`, `AZURE_STORAGE_KEY`, `AZURE_STORAGE_DOMAIN` (the proxy),
  `AZURE_STORAGE_PROTOCOL=http`, `AZURE_STORAGE_IS_LOCAL_EMULATOR=true`; or `URL = "gs://BUCKET"` with
  `STORAGE_EMULATOR_HOST` = the proxy (Google's Go client then speaks the JSON API without credentials). When
  hugo fails, its exit status and last output are recorded in place of counts.

Nothing leaves 127.0.0.1.
"""
import argparse
import http.client
import http.server
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import counts

ROOT = counts.ROOT
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "trailer", "upgrade"}
TIMEOUT = 600  # one command; hugo's two deploys on one store together stay under the 20 minutes given them


class Counter(http.server.ThreadingHTTPServer):
    """A counting proxy: each request is forwarded to `upstream` on a connection of its own and logged as
    (method, path with query, status). The client's connection is kept alive. At most `parallel` requests are
    at the upstream at once: gcp-storage-emulator is a single-threaded `http.server.HTTPServer` (listen backlog
    5), which resets connections beyond that; a client's extra requests wait here instead. A request the
    upstream did not answer is logged with status 599 (the proxy's failure, not the store's answer)."""
    daemon_threads = True

    def __init__(self, upstream, parallel):
        super().__init__(("127.0.0.1", 0), Forward)
        self.upstream = upstream
        self.slots = threading.Semaphore(parallel)
        self.log = []
        self.lock = threading.Lock()

    def record(self, method, path, status):
        with self.lock:
            self.log.append((method, path, status))


class Forward(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def forward(self):
        data = self.body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "content-length"}
        if data or self.command in ("PUT", "POST", "PATCH"):
            headers["Content-Length"] = str(len(data))
        conn = http.client.HTTPConnection(*self.server.upstream, timeout=120)
        try:
            with self.server.slots:
                conn.request(self.command, self.path, body=data, headers=headers)
                resp = conn.getresponse()
                payload = resp.read()
        except (OSError, http.client.HTTPException) as e:
            self.server.record(self.command, self.path, 599)
            self.send_error(502, f"upstream: {e}")
            return
        finally:
            conn.close()
        self.server.record(self.command, self.path, resp.status)
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP and not (k.lower() == "content-length" and self.command != "HEAD"):
                self.send_header(k, v)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and resp.status not in (204, 304):
            self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = forward


def start_counter(upstream, parallel):
    host, port = upstream.rsplit("/", 1)[-1].rsplit(":", 1)
    srv = Counter((host, int(port)), parallel)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"127.0.0.1:{srv.server_address[1]}"


def is_list(method, path):
    query = urllib.parse.urlsplit(path).query
    return method == "GET" and ("comp=list" in query or "list-type" in query
                                or bool(re.search(r"/storage/v1/b/[^/]+/o$", urllib.parse.urlsplit(path).path)))


def kind(method, path):
    """The request's method with the query parameter that names the operation: Azure's `comp` (a PUT with
    `comp=block` stages a block, `comp=blocklist` commits the blob), GCS's `uploadType`."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    for name in ("comp", "uploadType"):
        if name in query:
            return f"{method} {name}={query[name][0]}"
    return f"{method} (list)" if is_list(method, path) else method


def count(reqs):
    c = {"LIST": 0, "HEAD": 0, "GET": 0, "PUT": 0, "POST": 0, "DELETE": 0, "state": 0, "errors": 0}
    kinds = {}
    for method, path, status in reqs:
        k = kind(method, path)
        kinds[k] = kinds.get(k, 0) + 1
        state = ".git-publish" in urllib.parse.unquote(path)
        if state:
            c["state"] += 1
        elif is_list(method, path):
            c["LIST"] += 1
        else:
            c[method] = c.get(method, 0) + 1
        c["errors"] += status >= 400 and not state
    c["total"] = len(reqs)
    c["kinds"] = dict(sorted(kinds.items()))
    return c


def server(cmd, log, ready):
    out = open(log, "w")
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    for _ in range(300):
        m = re.search(ready + r"(\d+)", open(log).read())
        if m:
            return p, f"127.0.0.1:{m.group(1)}"
        time.sleep(0.1)
    p.kill()
    sys.exit(f"{cmd[0]} did not start: " + open(log).read())


class Azure:
    name = "Azure Blob Storage (Azurite)"
    key = "azure"
    parallel = 16

    def start(self, work):
        self.proc, self.upstream = server(
            [os.path.join(ROOT, ".node/node_modules/.bin/azurite-blob"), "--blobHost", "127.0.0.1", "--blobPort",
             "0", "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry"],
            os.path.join(work, "azurite.log"), r"successfully listens on http://127\.0\.0\.1:")

    def version(self):
        return "azurite " + subprocess.run([os.path.join(ROOT, ".node/node_modules/.bin/azurite-blob"),
                                            "--version"], capture_output=True, text=True).stdout.strip()

    def bucket(self, name):
        subprocess.run([sys.executable, os.path.join(ROOT, "tests/azurite/container.py"),
                        f"http://{self.upstream}/{ACCOUNT}", name], check=True)
        return f"azblob://{name}"

    def git_publish_env(self, via):
        return {"AZURE_STORAGE_CONNECTION_STRING": f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};"
                f"AccountKey={KEY};BlobEndpoint=http://{via}/{ACCOUNT};"}

    def hugo_env(self, via):
        return {"AZURE_STORAGE_ACCOUNT": ACCOUNT, "AZURE_STORAGE_KEY": KEY, "AZURE_STORAGE_DOMAIN": via,
                "AZURE_STORAGE_PROTOCOL": "http", "AZURE_STORAGE_IS_LOCAL_EMULATOR": "true"}


class Gcs:
    name = "Google Cloud Storage (gcp-storage-emulator + tests/gcs/server.py)"
    key = "gcs"
    parallel = 1

    def start(self, work):
        self.proc, self.upstream = server([os.path.join(ROOT, ".venv/bin/python"), "-u",
                                           os.path.join(ROOT, "tests/gcs/server.py"), "0"],
                                          os.path.join(work, "gcs.log"), r"listening on http://127\.0\.0\.1:")

    def version(self):
        return "gcp-storage-emulator " + subprocess.run(
            [os.path.join(ROOT, ".venv/bin/python"), "-c",
             "import importlib.metadata as m; print(m.version('gcp-storage-emulator'))"],
            capture_output=True, text=True).stdout.strip()

    def bucket(self, name):
        urllib.request.urlopen(urllib.request.Request(f"http://{self.upstream}/{name}", method="PUT")).read()
        return f"gs://{name}"

    def git_publish_env(self, via):
        return {"STORAGE_EMULATOR_HOST": via}

    hugo_env = git_publish_env


def run(cmd, cwd, env):
    """(exit status, last output): a command that hangs past TIMEOUT is stopped and counts as failed."""
    try:
        r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
        return r.returncode, (r.stdout + r.stderr)[-1500:]
    except subprocess.TimeoutExpired as e:
        return "timeout", f"no answer in {TIMEOUT} s: {((e.stdout or b'') + (e.stderr or b''))[-1500:]!r}"


def measure(counter, tool, scenario, cmd, cwd, env):
    since = len(counter.log)
    rc, tail = run(cmd, cwd, env)
    row = {"tool": tool, "scenario": scenario, "command": " ".join(cmd), "exit": rc,
           "store": count(counter.log[since:])}
    if rc != 0:
        row["output"] = tail
    return row


def git_publish_rows(store, counter, via, binary, site, work, env):
    url = store.bucket(f"gp-{store.key}")
    cfg = os.path.join(work, f"site-{store.key}.toml")
    with open(cfg, "w") as f:
        f.write(f'[source]\ndir = "public"\n[targets.bench]\nurl = "{url}"\n')
    env = dict(env, **store.git_publish_env(via))
    # The site's repo is reused between runs: forget the records an earlier run's clone kept of its store.
    shutil.rmtree(os.path.join(site, ".git/git-publish"), ignore_errors=True)
    return [measure(counter, "git-publish", scenario,
                    [binary, "--config", cfg, "--target", "bench", "--rev", rev, "--quiet"], site, env)
            for scenario, rev in (("initial", "bench-initial"), ("newpost", "bench-newpost"))]


def hugo_rows(store, counter, via, site, work, env):
    url = store.bucket(f"hugo-{store.key}")
    d = os.path.join(work, f"hugo-{store.key}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.toml"), "w") as f:
        f.write(f'baseURL = "https://blog.example/"\npublishDir = "{os.path.join(site, "public")}"\n\n'
                f'[deployment]\nmaxDeletes = -1\n\n[[deployment.targets]]\nname = "bench"\nURL = "{url}"\n')
    env = dict(env, **store.hugo_env(via))
    rows = []
    for scenario, rev in (("initial", "bench-initial"), ("newpost", "bench-newpost")):
        subprocess.run(["git", "checkout", "-q", rev], cwd=site, check=True)
        rows.append(measure(counter, "hugo deploy", scenario,
                            ["hugo", "deploy", "--source", d, "--target", "bench"], d, env))
        if rows[-1]["exit"] != 0:
            break
    subprocess.run(["git", "checkout", "-q", "main"], cwd=site, check=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--size-scale", type=float, default=0.05)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results/clouds.md"))
    ap.add_argument("--built-from", help="what the git-publish binary was built from (e.g. `debug build of "
                    "7c20686`), recorded in the result; default: the measured commit's debug build")
    args = ap.parse_args()
    binary = counts.binary()
    work = tempfile.mkdtemp(prefix="bench-clouds-")
    site = counts.site(args.n, args.size_scale)
    # No cloud credentials of the machine's may reach either tool.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "GOOGLE_", "STORAGE_EMULATOR"))}
    env["HOME"] = work
    versions = {"git-publish": run([binary, "--version"], ROOT, env)[1].strip().splitlines()[0],
                "hugo": run(["hugo", "version"], ROOT, env)[1].strip().splitlines()[0]}
    rows = []
    for store in (Azure(), Gcs()):
        store.start(work)
        counter, via = start_counter(store.upstream, store.parallel)
        try:
            versions[store.key] = store.version()
            for row in (git_publish_rows(store, counter, via, binary, site, work, env)
                        + hugo_rows(store, counter, via, site, work, env)):
                rows.append(dict(row, store_name=store.name, store_key=store.key))
        finally:
            counter.shutdown()
            store.proc.kill()
            store.proc.wait()
    commit, when = counts.measured()
    report = {"command": shlex.join(["bench/clouds.py"] + sys.argv[1:]), "commit": commit,
              "built_from": args.built_from or f"debug build of {commit}", "when": when, "n": args.n,
              "binary": binary, "versions": versions, "rows": rows}
    counts.write(report, args.out, render)


def render(r):
    out = [f"# The new post on each cloud store's emulator: requests (`{r['command']}`)", "",
           f"measured commit: {r['commit']} (git-publish: `{r['binary']}`, {r['built_from']}; "
           f"{r['versions']['git-publish']}), "
           f"{r['when']}, N = {r['n']:,} files; {r['versions']['hugo']}; {r['versions']['azure']}; "
           f"{r['versions']['gcs']}; all on 127.0.0.1, counted by bench/clouds.py's proxy. Request counts are "
           "exact; no times.", "",
           "| store | scenario | tool | LIST | HEAD | GET | PUT | POST | DELETE | record + probe | errors | total |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        s = row["store"]
        cells = " | ".join(f"{s[k]:,}" for k in ("LIST", "HEAD", "GET", "PUT", "POST", "DELETE", "state",
                                                 "errors", "total"))
        status = "" if row["exit"] == 0 else f" (failed: exit {row['exit']})"
        out.append(f"| {row['store_key']} | {row['scenario']} | {row['tool']}{status} | {cells} |")
    out += ["", "By operation (method and the query parameter naming it), all requests of each run:", ""]
    for row in r["rows"]:
        kinds = ", ".join(f"{k} {v:,}" for k, v in row["store"]["kinds"].items())
        out.append(f"- {row['store_key']}, {row['scenario']}, {row['tool']}: {kinds or 'none'}")
    failed = [row for row in r["rows"] if row["exit"] != 0]
    for row in failed:
        out += ["", f"{row['tool']} on {row['store_name']}, {row['scenario']}: `{row['command']}` exited "
                f"{row['exit']}:", "", "```", row["output"].strip(), "```"]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
