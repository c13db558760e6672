#!/usr/bin/env python3
"""R2's new post: git-publish against `aws s3 sync` + a purge of everything, on moto as R2 and the Cloudflare
stand-in, counting requests (exact; no times are compared).

    bench/r2.py [--n 2000] [--size-scale 0.05] [--out bench/results/r2.md]

- The store: the tests' moto (`scripts/moto-server`) with R2's refusals (`MOTO_R2=1`, tests/moto/r2.py), one
  fresh bucket per tool; its access log counts each tool's requests (by bucket, in the command's window).
- Cloudflare's cache: the tests' stand-in (tests/cloudflare/api.py), its log counts purge requests and URLs.
- The site: `bench/gen_site.py` (tags `bench-initial`, `bench-newpost`: 10 files changed). `--size-scale` only
  shrinks the bytes; request counts do not depend on them.
- git-publish: `$GIT_PUBLISH_BIN`, else `$CARGO_TARGET_DIR/debug/git-publish`, else `target/debug/git-publish`
  (request counts are the same for a debug build), publishing `--rev bench-initial`, then `--rev bench-newpost`,
  to `[targets.bench]` with `endpoint`, `region = "auto"`, `domain` and `[targets.bench.cloudflare] zone`.
- The peer: what the issue's bloggers write by hand after each deploy: `aws s3 sync --delete public/
  s3://BUCKET/` of the checked-out commit (awscli on PATH), then one `{"purge_everything": true}` POST to the
  same stand-in (what `curl` does in their CI). A purge of everything empties the zone's cache: every URL of
  the site is fetched from R2 again by its next visitor; "URLs evicted" counts the site's URLs for that row
  (each file's URL forms: `/dir/` and `/dir/index.html` for an index page).

Nothing leaves 127.0.0.1.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import counts

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "bench-token"
HOST = "blog.example.com"


def start(cmd, env=None, log=None):
    out = open(log, "w") if log else subprocess.PIPE
    return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT if log else None, text=True)


def moto(work):
    log = os.path.join(work, "moto.log")
    env = dict(os.environ, MOTO_R2="1")
    p = start([os.path.join(ROOT, "scripts/moto-server"), "-H", "127.0.0.1", "-p", "0"], env, log)
    for _ in range(300):
        m = re.search(r"Running on http://127\.0\.0\.1:(\d+)", open(log).read())
        if m:
            return p, f"http://127.0.0.1:{m.group(1)}", log
        time.sleep(0.1)
    sys.exit("moto did not start: " + open(log).read())


def stand_in(work):
    log = os.path.join(work, "cloudflare.jsonl")
    p = start([sys.executable, "-u", os.path.join(ROOT, "tests/cloudflare/api.py"), "--port", "0",
               "--token", TOKEN, "--log", log])
    line = p.stdout.readline()
    return p, "http://127.0.0.1:%s/client/v4" % line.strip().rsplit(":", 1)[1], log


def store_requests(log, bucket, since):
    """(method, path, status) of the requests to `bucket` logged after line `since`."""
    out = []
    for line in open(log).read().splitlines()[since:]:
        line = re.sub(r"\x1b\[[0-9;]*m", "", line)  # werkzeug colours the lines of 4xx answers
        m = re.search(r'"(\w+) (/[^ ]*) HTTP/[\d.]+" (\d+)', line)
        if m and (m.group(2) == f"/{bucket}" or m.group(2).startswith((f"/{bucket}/", f"/{bucket}?"))):
            out.append((m.group(1), m.group(2), int(m.group(3))))
    return out


def count(reqs):
    c = {"LIST": 0, "HEAD": 0, "GET": 0, "PUT": 0, "DELETE": 0, "POST": 0, "state": 0, "errors": 0}
    for method, path, status in reqs:
        if "/.git-publish/" in path:
            c["state"] += 1
        elif method == "GET" and "?" in path and path.split("?")[0].count("/") == 1:
            c["LIST"] += 1
        elif method in c:
            c[method] += 1
        c["errors"] += status >= 400 and "/.git-publish/" not in path
    c["total"] = len(reqs)
    return c


def purges(log, since):
    entries = [json.loads(l) for l in open(log).read().splitlines()[since:]] if os.path.exists(log) else []
    ok = [e for e in entries if e.get("method") == "POST" and e["status"] == 200]
    return {"requests": len(entries), "urls": sum(len(e["files"] or []) for e in ok),
            "everything": sum(1 for e in ok if e["purge_everything"])}


def lines(path):
    return len(open(path).read().splitlines()) if os.path.exists(path) else 0


def site_urls(site, rev):
    """The URLs that serve `rev`'s files (an index page: `/dir/` and `/dir/index.html`)."""
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", f"{rev}:public"], cwd=site,
                           capture_output=True, text=True, check=True).stdout.split()
    return sum(2 if n == "index.html" or n.endswith("/index.html") else 1 for n in names)


def run(cmd, cwd, env):
    t = time.monotonic()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return time.monotonic() - t


def create_bucket(endpoint, name, env):
    run(["aws", "--endpoint-url", endpoint, "s3api", "create-bucket", "--bucket", name], ROOT, env)


def git_publish_rows(binary, site, endpoint, cf, logs, env, work):
    bucket = "r2-git-publish"
    create_bucket(endpoint, bucket, env)
    cfg = os.path.join(work, "site.toml")
    with open(cfg, "w") as f:
        f.write(f'[source]\ndir = "public"\n[targets.bench]\nurl = "s3://{bucket}"\nendpoint = "{endpoint}"\n'
                f'region = "auto"\ndomain = "{HOST}"\n[targets.bench.cloudflare]\nzone = "{ZONE}"\n')
    env = dict(env, CLOUDFLARE_API_TOKEN=TOKEN, CLOUDFLARE_API_BASE_URL=cf)
    # The site's repo is reused between runs: forget the records an earlier run's clone kept of its bucket.
    shutil.rmtree(os.path.join(site, ".git/git-publish"), ignore_errors=True)
    rows = []
    for scenario, rev in (("initial", "bench-initial"), ("newpost", "bench-newpost")):
        s_since, c_since = lines(logs[0]), lines(logs[1])
        run([binary, "--config", cfg, "--target", "bench", "--rev", rev, "--quiet"], site, env)
        rows.append({"tool": "git-publish", "scenario": scenario,
                     "store": count(store_requests(logs[0], bucket, s_since)),
                     "purge": purges(logs[1], c_since)})
    return rows


def aws_rows(site, endpoint, cf, logs, env):
    bucket = "r2-aws"
    create_bucket(endpoint, bucket, env)
    rows = []
    for scenario, rev in (("initial", "bench-initial"), ("newpost", "bench-newpost")):
        subprocess.run(["git", "checkout", "-q", rev], cwd=site, check=True)
        time.sleep(1.1)  # new mtimes strictly later than the last uploads (one-second LastModified)
        s_since, c_since = lines(logs[0]), lines(logs[1])
        run(["aws", "--endpoint-url", endpoint, "s3", "sync", "--delete", "--only-show-errors", "public/",
             f"s3://{bucket}/"], site, env)
        if scenario != "initial":
            req = urllib.request.Request(f"{cf}/zones/{ZONE}/purge_cache", data=b'{"purge_everything":true}',
                                         headers={"Authorization": f"Bearer {TOKEN}",
                                                  "Content-Type": "application/json"})
            urllib.request.urlopen(req).read()
        rows.append({"tool": "aws s3 sync + purge_everything", "scenario": scenario,
                     "store": count(store_requests(logs[0], bucket, s_since)),
                     "purge": purges(logs[1], c_since)})
    subprocess.run(["git", "checkout", "-q", "main"], cwd=site, check=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--size-scale", type=float, default=0.05)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results/r2.md"))
    args = ap.parse_args()
    binary = counts.binary()
    work = tempfile.mkdtemp(prefix="bench-r2-")
    site = counts.site(args.n, args.size_scale)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    mp, endpoint, mlog = moto(work)
    cp, cf, clog = stand_in(work)
    try:
        rows = git_publish_rows(binary, site, endpoint, cf, (mlog, clog), env, work)
        rows += aws_rows(site, endpoint, cf, (mlog, clog), env)
    finally:
        mp.kill()
        cp.kill()
    urls = site_urls(site, "bench-newpost")
    for r in rows:
        r["evicted"] = urls if r["purge"]["everything"] else r["purge"]["urls"]
    commit, when = counts.measured()
    report = {"command": " ".join(["bench/r2.py"] + sys.argv[1:]), "commit": commit, "when": when,
              "n": args.n, "site_urls": urls, "binary": binary, "rows": rows}
    counts.write(report, args.out, render)


def render(r):
    out = [f"# R2's new post: requests (`{r['command']}`)", "",
           f"measured commit: {r['commit']}, {r['when']}, N = {r['n']:,} files ({r['site_urls']:,} URLs), moto as R2 "
           "(`MOTO_R2=1`) and the Cloudflare stand-in on 127.0.0.1. Request counts are exact; no times.", "",
           "| scenario | tool | LIST | HEAD | GET | PUT | DELETE | record + probe | store total | purge requests "
           "| URLs purged | cached URLs evicted |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        s, p = row["store"], row["purge"]
        purged = "everything" if p["everything"] else f"{p['urls']:,}"
        out.append(f"| {row['scenario']} | {row['tool']} | {s['LIST']} | {s['HEAD']} | {s['GET']} | {s['PUT']:,} "
                   f"| {s['DELETE']} | {s['state']} | {s['total']:,} | {p['requests']} | {purged} "
                   f"| {row['evicted']:,} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
