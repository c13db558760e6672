#!/usr/bin/env python3
"""What a branch preview costs (`git publish preview`, issue 25), against moto on 127.0.0.1.

    bench/preview.py [--n 5000] [--hexo-pages 617] [--runs 3] [--out bench/results/preview.md] [--check]

Two sites, each in a fresh clone with its own buckets and a CloudFront distribution:

- synthetic: bench/gen_site.py's blog of N files; production is `bench-initial`, the branch `draft` is
  `bench-newpost` (a new post: 10 files change);
- hexo-like: a blog shaped like Hexo's default theme, whose sidebar lists the recent posts on every page, so a new
  post changes every page (DESIGN.md: 618 of 633 files): P pages and 15 assets, then one post more.

For each: production is published (not measured), then, measured:

1. `preview`: `git publish preview --branch draft`, the branch's first preview: only the files whose bytes
   production does not hold are uploaded, the rest are copied server-side (CopyObject) from production;
2. `fresh`: the same tree published to an empty bucket (`git publish --target fresh --rev draft`): what the
   preview would cost without the copies;
3. `update`: an old post edited on the branch (2 files change; Hexo's edit changes 3), `git publish preview`
   again: the exact diff against the preview's own record.

Requests are counted by a logging proxy between git-publish and moto (`scripts/moto-server`), in the window of each
command: PUTs with a body (uploads; UploadPart too), PUTs with `x-amz-copy-source` (copies), requests to the
records under `.git-publish/` (the production record is read, the preview's claimed and written), CloudFront
requests (the distribution's domain for the URL and its origin, an invalidation), and anything else. Bytes are the
uploads' decoded payload. Times are wall time of the command (median over the runs; the machine is shared, so
compare within one run).

With `--check` (.ci/run runs a reduced form) it exits 1 unless every count is what it must be, computed from git:
the preview uploads exactly the files whose bytes production does not hold (and exactly their bytes) and copies
every other file; the fresh publish uploads every file; the update uploads exactly its diff and copies nothing;
no LIST or DELETE, and at most a few requests besides (records, CloudFront).
"""
import argparse
import datetime
import http.client
import http.server
import json
import os
import random
import shutil
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
import gen_site  # noqa: E402  (the synthetic blog, and its git helper)

ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "NO_COLOR": "1",
}
# Requests outside uploads and copies a command may make: records (production's read, and read again after the
# copies; the preview's read, claim and final write; the probe), CloudFront (the distribution's domain, its
# origin, an invalidation). A LIST or a DELETE is never expected.
MAX_OTHER = 10


# ---- moto, and a proxy that logs what reaches it ---------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Log:
    def __init__(self):
        self.lock = threading.Lock()
        self.rows = []

    def add(self, row):
        with self.lock:
            self.rows.append(row)

    def since(self, n):
        with self.lock:
            return list(self.rows[n:])

    def __len__(self):
        with self.lock:
            return len(self.rows)


def proxy_handler(upstream_port, log):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def forward(self):
            data = self.body()
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "connection")}
            headers["Content-Length"] = str(len(data))
            if self.headers.get("Expect"):
                headers.pop("Expect", None)
            c = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=120)
            c.request(self.command, self.path, body=data, headers=headers)
            r = c.getresponse()
            payload = r.read()
            c.close()
            decoded = self.headers.get("x-amz-decoded-content-length")
            path, _, query = self.path.partition("?")
            log.add({
                "m": self.command, "p": path, "q": query, "st": r.status,
                "len": int(decoded) if decoded is not None else len(data),
                "copy": "x-amz-copy-source" in {k.lower() for k in self.headers.keys()},
                "host": self.headers.get("Host", ""),
            })
            self.send_response_only(r.status, r.reason)
            for k, v in r.getheaders():
                if k.lower() not in ("connection", "transfer-encoding", "content-length", "date", "server"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

    return Handler


class Servers:
    """moto (scripts/moto-server) on a free port, and the logging proxy in front of it."""

    def __init__(self, work):
        self.moto_port = free_port()
        self.moto_log = open(os.path.join(work, "moto.log"), "w")
        self.moto = subprocess.Popen([os.path.join(ROOT, "scripts", "moto-server"), "-H", "127.0.0.1",
                                      "-p", str(self.moto_port)], stdout=self.moto_log, stderr=subprocess.STDOUT)
        self.moto_url = f"http://127.0.0.1:{self.moto_port}"
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.moto_port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            sys.exit("moto did not start (scripts/moto-server; run scripts/setup-test-env)")
        self.log = Log()
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), proxy_handler(self.moto_port, self.log))
        server.daemon_threads = True
        self.proxy = server
        self.proxy_url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def client(self, service):
        import boto3
        return boto3.client(service, endpoint_url=self.moto_url, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")

    def bucket(self, name):
        self.client("s3").create_bucket(Bucket=name)
        return name

    def distribution(self, bucket):
        cf = self.client("cloudfront")
        d = cf.create_distribution(DistributionConfig={
            "CallerReference": f"bench-preview-{bucket}", "Comment": "bench", "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [{
                "Id": "s3", "DomainName": f"{bucket}.s3.amazonaws.com",
                "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
            "DefaultCacheBehavior": {
                "TargetOriginId": "s3", "ViewerProtocolPolicy": "allow-all", "MinTTL": 0,
                "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}},
        })
        return d["Distribution"]["Id"]

    def stop(self):
        self.proxy.shutdown()
        self.moto.terminate()
        self.moto.wait()
        self.moto_log.close()


# ---- the sites -------------------------------------------------------------------------------------------------

def hexo_like(out, pages):
    """A blog shaped like Hexo's landscape theme: `pages` HTML pages, each with a sidebar of the recent posts,
    and 15 assets. Commit `bench-initial`; then `bench-newpost`: one post more, and every page's sidebar
    changes (pages + 1 of pages + 16 files)."""
    if os.path.isdir(os.path.join(out, ".git")):
        return
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    gen_site.git(out, "init", "-q", "-b", "main")
    rng = random.Random("hexo-like")
    words = ["git", "publish", "static", "site", "theme", "post", "cloud", "front", "bucket", "diff", "page"]

    def text(n):
        return " ".join(rng.choice(words) for _ in range(n // 6))

    bodies = {f"{i:04d}": text(rng.randint(6_000, 20_000)) for i in range(pages + 1)}
    assets = {f"css/style-{i}.css": text(8_000).encode() for i in range(3)}
    assets |= {f"js/script-{i}.js": text(12_000).encode() for i in range(3)}
    assets |= {f"fonts/font-{i}.woff2": rng.randbytes(40_000) for i in range(5)}
    assets |= {f"images/banner-{i}.jpg": rng.randbytes(120_000) for i in range(4)}

    def write(n_posts, ts):
        pub = os.path.join(out, "public")
        shutil.rmtree(pub, ignore_errors=True)
        recent = "".join(f"<li>post {k}</li>" for k in range(n_posts - 1, max(-1, n_posts - 6), -1))
        files = [(p, b) for p, b in assets.items()]
        for i in range(n_posts):
            key = f"{i:04d}"
            files.append((f"{key[:2]}/{key}/index.html",
                          f"<html><aside>{recent}</aside><main>{bodies[key]}</main></html>".encode()))
        gen_site.write_tree(pub, files)
        date = {"GIT_AUTHOR_DATE": f"@{ts} +0000", "GIT_COMMITTER_DATE": f"@{ts} +0000"}
        gen_site.git(out, "add", "-A")
        gen_site.git(out, "commit", "-q", "-m", f"{n_posts} posts", env=date)

    write(pages, gen_site.BASE_TS)
    gen_site.git(out, "tag", "bench-initial")
    write(pages + 1, gen_site.BASE_TS + 86400)
    gen_site.git(out, "tag", "bench-newpost")


def site_repo(kind, args, work):
    cache = os.path.join(BENCH, "work", "sites")
    os.makedirs(cache, exist_ok=True)
    if kind == "synthetic":
        src = os.path.join(cache, f"n{args.n}")
        subprocess.run([sys.executable, os.path.join(BENCH, "gen_site.py"), "--n", str(args.n), "--out", src],
                       check=True, stdout=subprocess.DEVNULL)
    else:
        src = os.path.join(cache, f"hexo-like-{args.hexo_pages}")
        hexo_like(src, args.hexo_pages)
    repo = os.path.join(work, kind)
    shutil.rmtree(repo, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", "--no-checkout", src, repo], check=True)
    gen_site.git(repo, "branch", "-f", "draft", "bench-newpost")
    gen_site.git(repo, "checkout", "-q", "draft")
    return repo


def edit_old_post(repo, kind):
    """Commit, on the branch checked out, the edit of an old post: the post's page and the home page (Hexo: also
    its archive page). Returns the paths changed."""
    pub = os.path.join(repo, "public")
    pages = sorted(os.path.relpath(os.path.join(d, f), pub)
                   for d, _, names in os.walk(pub) for f in names if f == "index.html")
    changed = [p for p in pages if p.count("/") >= 2][:3 if kind == "hexo-like" else 2]
    for p in changed:
        with open(os.path.join(pub, p), "ab") as f:
            f.write(b"<p>Edited.</p>\n")
    date = {"GIT_AUTHOR_DATE": f"@{gen_site.BASE_TS + 5 * 86400} +0000",
            "GIT_COMMITTER_DATE": f"@{gen_site.BASE_TS + 5 * 86400} +0000"}
    gen_site.git(repo, "commit", "-q", "-am", "edit an old post", env=date)
    return changed


def tree_blobs(repo, rev):
    """{path: (blob id, size)} of the output directory at `rev`."""
    out = gen_site.git(repo, "ls-tree", "-r", "-l", "--full-tree", f"{rev}:public", capture=True)
    files = {}
    for line in out.splitlines():
        meta, path = line.split("\t", 1)
        _, _, blob, size = meta.split()
        files[path] = (blob, int(size))
    return files


# ---- one measured command --------------------------------------------------------------------------------------

def run(bin_, repo, args, servers):
    env = dict(ENV, PATH=os.environ.get("PATH", ""), HOME=os.environ.get("HOME", "/tmp"),
               AWS_ENDPOINT_URL=servers.proxy_url)
    start_n = len(servers.log)
    t0 = time.monotonic()
    r = subprocess.run([bin_, *args], cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit(f"git-publish {' '.join(args)} failed ({r.returncode}):\n{r.stderr.decode()}")
    time.sleep(0.05)  # the proxy logs a request after answering it
    rows = servers.log.since(start_n)
    return json.loads(r.stdout) if "--json" in args else None, rows, wall


def classify(rows, bucket):
    c = {"requests": len(rows), "put": 0, "bytes": 0, "copy": 0, "record": 0, "cloudfront": 0, "list": 0,
         "delete": 0, "other": 0}
    for r in rows:
        p = r["p"]
        if p.startswith("/2020-05-31/"):
            c["cloudfront"] += 1
        elif "/.git-publish/" in p + "/":
            c["record"] += 1
        elif r["m"] == "GET" and p.rstrip("/") == f"/{bucket}":
            c["list"] += 1
        elif r["m"] == "PUT" and r["copy"]:
            c["copy"] += 1
        elif r["m"] == "PUT" and p.startswith(f"/{bucket}/"):
            c["put"] += 1
            c["bytes"] += r["len"]
        elif r["m"] == "DELETE" or (r["m"] == "POST" and "delete" in r["q"]):
            c["delete"] += 1
        else:
            c["other"] += 1
    return c


def measure_site(kind, args, servers, work, run_no):
    repo = site_repo(kind, args, work)
    tag = f"{kind[:3]}{run_no}-{int(time.time() * 1000) % 10**8}"
    prod, fresh = servers.bucket(f"pv-{tag}"), servers.bucket(f"pv-{tag}-fresh")
    dist = servers.distribution(prod)
    with open(os.path.join(repo, "site.toml"), "w") as f:
        f.write(f'[source]\ndir = "public"\nbranch = "main"\n'
                f'[targets.production]\nurl = "s3://{prod}"\ndistribution = "{dist}"\ndefault = true\n'
                f'[targets.fresh]\nurl = "s3://{fresh}"\n')
    with open(os.path.join(repo, ".git", "info", "exclude"), "a") as f:
        f.write("site.toml\n")
    run(args.bin, repo, ["--target", "production", "--rev", "bench-initial", "--json"], servers)

    live, draft = tree_blobs(repo, "bench-initial"), tree_blobs(repo, "draft")
    held = {blob for blob, _ in live.values()}
    changed = {p for p, (blob, _) in draft.items() if live.get(p, (None,))[0] != blob}
    upload = {p for p, (blob, _) in draft.items() if blob not in held}
    out = {"kind": kind, "files": len(draft), "changed": len(changed), "bytes_total": sum(s for _, s in draft.values())}

    j, rows, wall = run(args.bin, repo, ["preview", "--target", "production", "--branch", "draft", "--json"], servers)
    out["preview"] = dict(classify(rows, prod), wall=wall, want_put=len(upload),
                          want_bytes=sum(draft[p][1] for p in upload), want_copy=len(draft) - len(upload),
                          reported_bytes=j["publish"]["uploaded_bytes"], url=j["url"])
    j, rows, wall = run(args.bin, repo, ["--target", "fresh", "--rev", "draft", "--json"], servers)
    out["fresh"] = dict(classify(rows, fresh), wall=wall, want_put=len(draft), want_bytes=out["bytes_total"],
                        want_copy=0, reported_bytes=j["uploaded_bytes"])
    edited = edit_old_post(repo, kind)
    after = tree_blobs(repo, "draft")
    j, rows, wall = run(args.bin, repo, ["preview", "--target", "production", "--branch", "draft", "--json"], servers)
    out["update"] = dict(classify(rows, prod), wall=wall, want_put=len(edited),
                         want_bytes=sum(after[p][1] for p in edited), want_copy=0,
                         reported_bytes=j["publish"]["uploaded_bytes"])
    return out


def check(results):
    bad = []
    for r in results:
        for step in ("preview", "fresh", "update"):
            m = r[step]
            name = f"{r['kind']} {step}"
            for got, want, what in ((m["put"], m["want_put"], "uploads"), (m["bytes"], m["want_bytes"], "bytes"),
                                    (m["reported_bytes"], m["want_bytes"], "bytes reported"),
                                    (m["copy"], m["want_copy"], "copies"), (m["list"], 0, "LISTs"),
                                    (m["delete"], 0, "DELETEs")):
                if got != want:
                    bad.append(f"{name}: {what} {got}, must be {want}")
            extra = m["record"] + m["cloudfront"] + m["other"]
            if extra > MAX_OTHER:
                bad.append(f"{name}: {extra} requests besides uploads and copies (at most {MAX_OTHER})")
    return bad


# ---- report ----------------------------------------------------------------------------------------------------

def mib(n):
    return f"{n / 1048576:.2f} MiB"


def report(results, args, commit, load):
    by = {}
    for r in results:
        by.setdefault(r["kind"], []).append(r)
    lines = [
        "# Preview benchmark (bench/preview.py)", "",
        f"Command: `bench/preview.py --n {args.n} --hexo-pages {args.hexo_pages} --runs {args.runs}`  ",
        f"measured commit: {commit}  ",
        f"When: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, load average {load}, "
        f"moto (scripts/moto-server) on 127.0.0.1. Counts are exact (the same in every run); times are medians "
        f"over {args.runs} run(s).  ",
        f"Binary: `{args.bin}` ({'a debug build: times are not comparable to release builds' if '/debug/' in args.bin else 'release'}).", "",
        "| site | step | files | requests | uploads | bytes up | copies | records | CloudFront | time s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, rs in by.items():
        r0 = rs[0]
        for step, label in (("preview", "preview, first publish"), ("fresh", "same tree, empty bucket"),
                            ("update", "preview, update (an edit)")):
            m = r0[step]
            wall = statistics.median(r[step]["wall"] for r in rs)
            changed = {"preview": f"{r0['changed']} of {r0['files']} changed", "fresh": f"all {r0['files']}",
                       "update": f"{m['want_put']} changed"}[step]
            lines.append(f"| {kind} | {label} | {changed} | {m['requests']} | {m['put']} | {mib(m['bytes'])} | "
                         f"{m['copy']} | {m['record']} | {m['cloudfront']} | {wall:.2f} |")
    lines += ["", "Preview against the same tree published to an empty bucket:", ""]
    for kind, rs in by.items():
        p, f = rs[0]["preview"], rs[0]["fresh"]
        pw = statistics.median(r["preview"]["wall"] for r in rs)
        fw = statistics.median(r["fresh"]["wall"] for r in rs)
        lines.append(f"- {kind}: bytes {p['bytes'] / max(1, f['bytes']):.3f} of the fresh publish's "
                     f"({mib(p['bytes'])} / {mib(f['bytes'])}), requests {p['requests']} / {f['requests']}, "
                     f"time {pw:.2f} s / {fw:.2f} s ({pw / fw:.2f})")
    return "\n".join(lines) + "\n"


def find_bin():
    for c in (os.environ.get("GIT_PUBLISH_BIN"), os.path.expanduser("~/.cache/git-publish-target/release/git-publish"),
              os.path.join(ROOT, "target", "release", "git-publish"), shutil.which("git-publish")):
        if c and os.path.exists(c):
            return c
    sys.exit("no git-publish binary: set GIT_PUBLISH_BIN")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000, help="files of the synthetic site (gen_site.py)")
    ap.add_argument("--hexo-pages", type=int, default=617, help="pages of the Hexo-like site (+ 15 assets)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--work", help="work directory (default: a temporary one)")
    ap.add_argument("--out", help="write the report here (default: print it)")
    ap.add_argument("--json", help="write every run here")
    ap.add_argument("--check", action="store_true", help="exit 1 unless every count is what it must be")
    args = ap.parse_args()
    args.bin = find_bin()
    work = args.work or tempfile.mkdtemp(prefix="bench-preview-")
    os.makedirs(work, exist_ok=True)
    servers = Servers(work)
    try:
        results = [measure_site(kind, args, servers, work, i)
                   for i in range(args.runs) for kind in ("synthetic", "hexo-like")]
    finally:
        servers.stop()
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"], stdout=subprocess.PIPE,
                            text=True).stdout.strip()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = report(results, args, commit, load)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if args.check:
        bad = check(results)
        for b in bad:
            print(f"FAIL: {b}")
        if bad:
            sys.exit(1)
        print(f"preview bench: every count as it must be ({len(results)} sites)")


if __name__ == "__main__":
    main()
