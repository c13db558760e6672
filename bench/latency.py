#!/usr/bin/env python3
"""The benchmark over a long link: every tool talks to moto through bench/latency_proxy.py.

    bench/run.sh --rtt 100                          # N = 1,000, tools git-publish, aws, s5cmd (+ the others named)
    bench/run.sh --rtt 20,100,200 --n 1000 --scenarios initial
    bench/run.sh --rtt 20,100,200 --n 1000 --scenarios initial --keep-alive   # connections kept open, as S3 does
    bench/run.sh --rtt 100 --n 5000 --slowdown-rps 300 --tools git-publish --scenarios initial
    bench/run.sh --rtt 50 --n 200 --slowdown-rps 100 --tools git-publish --check     # CI's reduced form

Scenarios, in order into one bucket per tool: initial (first publish), newpost (10 files), theme (every HTML page
rewritten, as a theme change or Hexo's landscape theme on every new post does), rollback (back to the commit
published before the previous scenario: `git-publish rollback`; the peers sync that commit's tree). Tool
`git-publish@16` is git-publish with `concurrency = 16` (a fixed 16 in flight, the default before the adaptive
limit).

--distribution gives every bucket a CloudFront distribution (moto serves CloudFront on the same port, through the
same proxy): git-publish invalidates what changed (`distribution = "E..."`), and `aws` becomes `aws s3 sync`
followed by `aws cloudfront create-invalidation --paths "/*"` (one command line, as a script would run them);
s5cmd has no invalidation. With two RTTs the report adds each tool's sequential round trips by the slope method:
(t(high) - t(low)) / (high - low), which cancels CPU time; and git-publish's requests of the new post at the
highest RTT, in the order the proxy saw them (--timeline).

The report replaces its own section (--section NAME) of --out (bench/results/latest.md), leaving the rest of the
file as it is; every run goes to results/latency-NAME.json. Times are wall clock from start to exit; "ratio" is
git-publish's time over the fastest correct peer's in the same run and RTT. --check (CI) exits 1 unless
git-publish completed every scenario with bucket == tree and exact request counts (it checks no times).
Reuses run.py's server, tools, site generator and bucket check.
"""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

import run as R

SCENARIOS = ["initial", "newpost", "theme"]


class GitPublishLat(R.GitPublish):
    """git-publish, invalidating the bucket's distribution when the run gives it one; `rollback` runs
    `git-publish rollback`."""

    def config(self, bucket):
        path = super().config(bucket)
        dist = self.ctx.get("distributions", {}).get(bucket)
        if dist:
            with open(path, "a") as f:
                f.write(f'distribution = "{dist}"\n')
        return path

    def rollback(self, bucket, repo):
        argv, cwd, env = self.command(bucket, repo)
        return argv[:3] + ["rollback", "--target", "bench"], cwd, env


class GitPublishFixed(GitPublishLat):
    """git-publish with a fixed `concurrency` (the cap; with 16 the limit can't exceed the old default)."""

    def __init__(self, ctx, cap):
        super().__init__(ctx)
        self.cap = cap
        self.name = f"git-publish@{cap}"
        self.peer = False

    def config(self, bucket):
        path = super().config(bucket)
        with open(path, "a") as f:
            f.write(f"concurrency = {self.cap}\n")
        return path


class AwsWithInvalidation(R.AwsCli):
    """`aws s3 sync`, then `aws cloudfront create-invalidation --paths "/*"` for the bucket's distribution (as a
    deploy script runs them: one after the other)."""
    name = "aws s3 sync + invalidation"

    def command(self, bucket, repo):
        argv, cwd, env = super().command(bucket, repo)
        dist = self.ctx.get("distributions", {}).get(bucket)
        if not dist:
            return argv, cwd, env
        inv = [self.bin, "--endpoint-url", self.ctx["endpoint"], "cloudfront", "create-invalidation",
               "--distribution-id", dist, "--paths", "/*", "--output", "text"]
        return ["sh", "-c", shlex.join(argv) + " && " + shlex.join(inv)], cwd, env


def make_tools(names, ctx, distribution=False):
    tools, skipped = [], []
    for key in names.split(","):
        key = key.strip()
        if key.startswith("git-publish@"):
            t = GitPublishFixed(ctx, int(key.split("@")[1]))
        elif key == "git-publish":
            t = GitPublishLat(ctx)
        elif key == "aws" and distribution:
            t = AwsWithInvalidation(ctx)
        else:
            t = R.TOOL_CLASSES[key](ctx)
        (tools if t.available() else skipped).append(t)
    for t in skipped:
        R.log(f"skipping {t.name}: {t.skip_reason}")
    return tools, [(t.name, t.skip_reason) for t in skipped]


class LatencyProxy:
    def __init__(self, server, rtt, bw, rps, logdir, keep_alive=False):
        self.log = os.path.join(logdir, f"proxy-rtt{rtt}.jsonl")
        open(self.log, "w").close()
        upstream = server.endpoint.split("//", 1)[1]
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(R.BENCH, "latency_proxy.py"), "--upstream", upstream, "--rtt-ms", str(rtt),
             "--bw-mbit", str(bw), "--slowdown-rps", str(rps), "--log", self.log]
            + (["--keep-alive"] if keep_alive else []),
            stdout=subprocess.PIPE, text=True)
        port = self.proc.stdout.readline().split()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        R.log(f"latency proxy on {self.endpoint}: RTT {rtt} ms, bandwidth {bw or '∞'} Mbit/s, "
              f"SlowDown above {rps or '∞'} req/s, connections {'kept open' if keep_alive else 'closed by moto'}")

    def offset(self):
        return os.path.getsize(self.log)

    def refused_since(self, offset):
        with open(self.log, "rb") as f:
            f.seek(offset)
            return sum(1 for line in f if b'"st": 503' in line)

    def timeline_since(self, offset):
        """The requests since `offset` as the proxy saw them: seconds from the first, method, path, whether
        it waited for a connection's handshake."""
        with open(self.log, "rb") as f:
            f.seek(offset)
            recs = [json.loads(line) for line in f if line.strip()]
        t0 = recs[0]["t"] if recs else 0
        return [[round(r["t"] - t0, 3), r["m"], r["p"], r.get("new", True)] for r in recs]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def run_one(server, proxy, tool, bucket, repo, commit, scen, label):
    if scen == "rollback" and hasattr(tool, "rollback"):
        argv, cwd, extra = tool.rollback(bucket, repo)
    else:
        argv, cwd, extra = tool.command(bucket, repo)
    env = R.clean_env(proxy.endpoint)
    env["AWS_ENDPOINT_URL_CLOUDFRONT"] = proxy.endpoint
    env.update(extra)
    logpath = os.path.join(R.LOGS, f"{label}-{tool.name.replace('@', '-').replace(' ', '_')}-{scen}.log")
    off, poff = server.log_offset(), proxy.offset()
    rc, wall, rss, tail = R.run_cmd(argv, cwd, env, logpath)
    served = server.requests_since(off)
    reqs = R.count_requests(served, bucket)
    chk = R.check_bucket(server, bucket, repo, commit)
    rec = {"tool": tool.name, "scenario": scen, "rc": rc, "wall": wall, "rss_kb": rss,
           "refused_503": proxy.refused_since(poff), **reqs, "check": chk,
           "cloudfront": sum(1 for r in served if r["p"].startswith("/2020-05-31/")),
           # The proxy's log of the run, kept only where the report shows it (git-publish's new post): a
           # first publish's is thousands of requests, and the result files are committed.
           "timeline": proxy.timeline_since(poff) if (tool.name, scen) == ("git-publish", "newpost") else []}
    if rc != 0:
        rec["tail"] = tail
    R.log(f"{label} {scen:8s} {tool.name:16s} rc={rc} {wall:7.2f}s req={reqs['total']:6d} "
          f"503={rec['refused_503']:5d} {'ok' if chk['ok'] else 'BAD ' + json.dumps(chk)}")
    return rec


def bench_rtt(server, tools, manifest, rtt, args, run):
    """Every tool, every scenario, through one proxy at `rtt`."""
    proxy = LatencyProxy(server, rtt, args.bw_mbit, args.slowdown_rps, R.LOGS, args.keep_alive)
    for t in tools:
        t.ctx["endpoint"] = proxy.endpoint  # the tools build their commands (and configs) from it
    repo, commits, n = manifest["repo"], manifest["commits"], manifest["files"]
    out = []
    try:
        server.reset()
        buckets = {}
        dists = tools[0].ctx.setdefault("distributions", {}) if tools else {}
        for i, t in enumerate(tools):
            buckets[t.name] = f"lat-n{n}-rtt{rtt}-r{run}-t{i}"
            server.s3.create_bucket(Bucket=buckets[t.name])
            if args.distribution:
                dists[buckets[t.name]] = create_distribution(server, buckets[t.name])
        order = tools[(run - 1) % len(tools):] + tools[:(run - 1) % len(tools)]
        published = []
        for scen in args.scenarios.split(","):
            if scen != "initial":
                time.sleep(1.1)  # new mtimes strictly later than the last upload
            # rollback: back to what was published before the previous scenario
            commit = published[-2] if scen == "rollback" else commits[scen]
            published.append(commit)
            R.git(repo, "reset", "-q", "--hard", commit, capture=False)
            if scen == "initial":
                for ref in R.git(repo, "for-each-ref", "--format=%(refname)", "refs/publish").split():
                    R.git(repo, "update-ref", "-d", ref, capture=False)
                shutil.rmtree(os.path.join(repo, ".git", "git-publish"), ignore_errors=True)
            for t in order:
                rec = run_one(server, proxy, t, buckets[t.name], repo, commit, scen, f"n{n}-rtt{rtt}-r{run}")
                out.append({"n": n, "rtt": rtt, "run": run, "slowdown_rps": args.slowdown_rps,
                            "bw_mbit": args.bw_mbit, **rec})
    finally:
        proxy.stop()
    return out


def create_distribution(server, bucket):
    """A CloudFront distribution in moto with `bucket` as its origin; its id."""
    import boto3
    cf = boto3.client("cloudfront", endpoint_url=server.endpoint, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    config = {
        "CallerReference": f"bench-{bucket}-{time.time()}", "Comment": "bench", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "s3", "DomainName": f"{bucket}.s3.amazonaws.com",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "s3", "ViewerProtocolPolicy": "allow-all", "MinTTL": 0,
                                 "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                                 "TrustedSigners": {"Enabled": False, "Quantity": 0}},
    }
    return cf.create_distribution(DistributionConfig=config)["Distribution"]["Id"]


def summary(results, n, rtt, tool, scen):
    rs = [r for r in results if (r["n"], r["rtt"], r["tool"], r["scenario"]) == (n, rtt, tool, scen)]
    if not rs:
        return None
    good = [r for r in rs if r["rc"] == 0 and r["check"]["ok"]]
    return {"wall": R.med([r["wall"] for r in good]) if good else None, "ok": len(good) == len(rs),
            "runs": len(rs), "total": R.med([r["total"] for r in rs]), "refused": R.med([r["refused_503"] for r in rs]),
            "rss_kb": R.med([r["rss_kb"] for r in rs]), "put": R.med([r["counts"]["PUT"] for r in rs])}


def markers(section):
    return f"<!-- latency:{section}:begin -->", f"<!-- latency:{section}:end -->"


def render(results, tools, skipped, manifests, args, info):
    begin, end = markers(args.section)
    L = [begin, f"## Over a long link: {args.title or args.section} (bench/latency_proxy.py in front of moto)\n"]
    L.append(f"Measured {info['date']}; load average before/after: {info['load_before']} / {info['load_after']} "
             f"(2 cores shared with other work: compare ratios within a row, not absolute times). Command: "
             f"`bench/run.sh {shlex.join(args.argv)}`. Bandwidth cap: {args.bw_mbit or 'none'}; SlowDown above "
             f"{args.slowdown_rps or '∞'} req/s; CloudFront distribution: "
             f"{'one per bucket (git-publish invalidates what changed; aws: create-invalidation /*)' if args.distribution else 'none'}; connections "
             f"{'kept open across requests, as S3 does (`--keep-alive`)' if args.keep_alive else 'closed after every request (moto)'}; "
             f"{args.runs} run(s) per cell, medians. Measured commit: {info.get('commit') or R.measured_commit()}.\n")
    for t in tools:
        L.append(f"- **{t.name}**: {t.ver}")
    for name, why in skipped:
        L.append(f"- **{name}**: not run: {why}")
    L.append("")
    names = [t.name for t in tools]
    peers = [t.name for t in tools if t.peer]
    for n in sorted(manifests):
        for scen in args.scenarios.split(","):
            L.append(f"### N = {n:,}, {scen}\n")
            L.append("| RTT ms | " + " | ".join(f"{nm} s" for nm in names) + " | git-publish / best peer |")
            L.append("|---:|" + "---:|" * len(names) + "---:|")
            for rtt in args.rtts:
                cells, best = [], None
                for nm in names:
                    s = summary(results, n, rtt, nm, scen)
                    if s is None:
                        cells.append("–")
                        continue
                    cell = f"{s['wall']:.2f}" if s["wall"] is not None else "FAILED"
                    if s["refused"]:
                        cell += f" ({s['refused']:.0f}×503)"
                    cells.append(cell if s["ok"] else cell + " ✗")
                    if nm in peers and s["ok"] and s["wall"] is not None and (best is None or s["wall"] < best):
                        best = s["wall"]
                gp = summary(results, n, rtt, "git-publish", scen)
                ratio = f"{gp['wall'] / best:.2f}" if gp and gp["wall"] and best else "–"
                L.append(f"| {rtt} | " + " | ".join(cells) + f" | {ratio} |")
            if len(args.rtts) >= 2:
                lo, hi = min(args.rtts), max(args.rtts)
                cells = []
                for nm in names:
                    rt = round_trips(results, n, nm, scen, lo, hi)
                    cells.append(f"**{rt:.1f}**" if rt is not None else "–")
                L.append(f"| round trips ({hi} vs {lo}) | " + " | ".join(cells) + " | |")
            L.append("")
    if args.timeline and len(args.rtts) >= 1:
        L += timeline_table(results, max(args.rtts))
    L.append("### Peak RSS (GNU time, every run)\n")
    L.append("| N | RTT ms | tool | scenario | peak RSS MiB |")
    L.append("|---:|---:|---|---|---|")
    for r in results:
        if r["rss_kb"]:
            L.append(f"| {r['n']:,} | {r['rtt']} | {r['tool']} | {r['scenario']} | {r['rss_kb'] / 1024:.1f} |")
    L.append("")
    if args.slowdown_rps:
        L.append(f"### Throttled: SlowDown above {args.slowdown_rps:g} req/s\n")
        L.append("| N | RTT ms | tool | requests served | 503s | wall s | ideal s (served / rate) | ideal / wall |")
        L.append("|---:|---:|---|---:|---:|---:|---:|---:|")
        for r in results:
            if r["scenario"] == "initial" and r["rc"] == 0:
                ideal = r["total"] / args.slowdown_rps
                L.append(f"| {r['n']:,} | {r['rtt']} | {r['tool']} | {r['total']:,} | {r['refused_503']:,} | "
                         f"{r['wall']:.2f} | {ideal:.2f} | {100 * ideal / r['wall']:.0f}% |")
        L.append("")
    L.append(end)
    return "\n".join(L) + "\n"


def round_trips(results, n, tool, scen, lo, hi):
    """Sequential round trips by the slope method: (t(hi) - t(lo)) / (hi - lo), medians of the runs."""
    a, b = summary(results, n, lo, tool, scen), summary(results, n, hi, tool, scen)
    if not a or not b or a["wall"] is None or b["wall"] is None:
        return None
    return (b["wall"] - a["wall"]) / ((hi - lo) / 1000.0)


def timeline_table(results, rtt):
    """git-publish's requests of the new post at `rtt` (the first run), as the proxy saw them."""
    recs = [r for r in results if r["tool"] == "git-publish" and r["scenario"] == "newpost" and r["rtt"] == rtt]
    if not recs or not recs[0].get("timeline"):
        return []
    L = [f"### git-publish's new post at RTT {rtt} ms, request by request (proxy log, run 1)\n",
         "| s from the first request | request | handshake |", "|---:|---|---|"]
    for t, m, p, new in recs[0]["timeline"]:
        short = p if len(p) < 70 else p[:67] + "..."
        L.append(f"| {t:.2f} | {m} {short} | {'waited for it' if new else 'none (connection open)'} |")
    L.append("")
    return L


def write_section(path, name, section):
    old = open(path).read() if os.path.exists(path) else ""
    begin, end = markers(name)
    if begin in old and end in old:
        new = old[:old.index(begin)] + section.rstrip("\n") + old[old.index(end) + len(end):]
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + section
    with open(path, "w") as f:
        f.write(new)


def check(results, manifests):
    """CI's exact targets for git-publish: completion, bucket == tree, request counts."""
    bad = []
    for r in (r for r in results if r["tool"] == "git-publish"):
        m = manifests[r["n"]]
        what = f"N={r['n']} RTT {r['rtt']} {r['scenario']}"
        c = r["counts"]
        if r["rc"] != 0 or not r["check"]["ok"]:
            bad.append(f"{what}: exit {r['rc']}, bucket check {r['check']}")
        if c["LIST"] or c["HEAD"]:
            bad.append(f"{what}: {c['LIST']} LIST, {c['HEAD']} HEAD")
        want_put = {"initial": m["files"], "newpost": None, "theme": m.get("theme_changes"),
                    "rollback": None}[r["scenario"]]
        if want_put is not None and c["PUT"] != want_put:
            bad.append(f"{what}: {c['PUT']} PUT served, expected {want_put} (one per file)")
        if r["scenario"] == "newpost" and r["total"] - r.get("cloudfront", 0) > len(m["newpost_changes"]) + 3:
            bad.append(f"{what}: {r['total']} requests for {len(m['newpost_changes'])} changed files")
    return bad


def loadavg():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rtt", required=True, help="comma-separated round-trip times, ms")
    ap.add_argument("--n", default="1000", help="comma-separated site sizes (files)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--tools", default="git-publish,aws,s5cmd")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--bw-mbit", type=float, default=0.0)
    ap.add_argument("--slowdown-rps", type=float, default=0.0)
    ap.add_argument("--keep-alive", action="store_true",
                    help="the proxy keeps client connections open across requests, as S3 does (moto closes "
                         "every connection, so without this each request pays a new connection's handshake)")
    ap.add_argument("--distribution", action="store_true",
                    help="a CloudFront distribution per bucket: git-publish invalidates what changed, aws runs "
                         "create-invalidation after its sync")
    ap.add_argument("--timeline", action="store_true",
                    help="list git-publish's requests of the new post at the highest RTT, in the proxy's order")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default=os.path.join(R.BENCH, "work"))
    ap.add_argument("--out", default=os.path.join(R.BENCH, "results", "latest.md"))
    ap.add_argument("--section", default="main",
                    help="name of the report's section this run replaces (other runs' sections stay)")
    ap.add_argument("--title", help="the section's heading (default: its name)")
    args = ap.parse_args()
    args.argv = sys.argv[1:]
    args.rtts = [int(x) for x in args.rtt.split(",")]
    R.WORK = os.path.abspath(args.work)
    R.LOGS = os.path.join(R.WORK, "logs-latency")
    os.makedirs(R.LOGS, exist_ok=True)
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[k]
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    info = {"date": R.machine_info()["date"], "load_before": loadavg()}
    server = R.Server(R.LOGS)
    try:
        tools, skipped = make_tools(args.tools, {"endpoint": server.endpoint}, args.distribution)  # one ctx
        results, manifests = [], {}
        for n in [int(x) for x in args.n.split(",")]:
            manifests[n] = json.loads(subprocess.run(
                [sys.executable, os.path.join(R.BENCH, "gen_site.py"), "--n", str(n), "--seed", str(args.seed),
                 "--out", os.path.join(R.WORK, "sites", f"n{n}-s{args.seed}")],
                stdout=subprocess.PIPE, check=True, text=True).stdout)
            for rtt in args.rtts:
                for run in range(1, args.runs + 1):
                    results += bench_rtt(server, tools, manifests[n], rtt, args, run)
        info["load_after"] = loadavg()
    finally:
        server.stop()
    section = render(results, tools, skipped, manifests, args, info)
    write_section(args.out, args.section, section)
    with open(os.path.join(os.path.dirname(os.path.abspath(args.out)), f"latency-{args.section}.json"), "w") as f:
        json.dump({"results": results, "info": info, "args": args.argv}, f, indent=1)
    print(section)
    if args.check:
        bad = check(results, manifests)
        for b in bad:
            R.log(f"CHECK FAILED: {b}")
        if bad:
            sys.exit(1)
        R.log("check: git-publish completed every scenario with exact request counts")


if __name__ == "__main__":
    main()
