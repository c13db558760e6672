#!/usr/bin/env python3
"""Two builds side by side: planning cost and hook overhead, before and after a change of structure.

    bench/arch_cost.py --before BIN_A --after BIN_B [--n 1000,10000] [--runs 9] [--hook-runs 10] [--out FILE]

Planning: bench/gen_site.py's blog of N files (sizes scaled to 5%), a 10-file change (`newpost`), planned by
`--dry-run --json --since <initial> --rev HEAD` against a local-directory target (no server, no network: the
cost is the process, the diff and the plan). The builds run in turn, A B A B ..., so that the machine's drift
falls on both; the report gives each build's median wall time and median `plan_ms` (the JSON report's own
planning time) and the ratio after / before of the medians.

Hooks: bench/hooks.sh with each build in turn (GIT_PUBLISH_BIN), `--runs` each, in rounds ordered before, after,
after, before; the report copies each round's tables.

Writes the Markdown report to --out (default bench/results/arch-cost.md) and the raw runs beside it (.json).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))


def gen(n, work):
    out = os.path.join(work, f"site-{n}")
    got = subprocess.run([sys.executable, os.path.join(BENCH, "gen_site.py"), "--n", str(n), "--seed", "1",
                          "--size-scale", "0.05", "--out", out], stdout=subprocess.PIPE, check=True, text=True)
    m = json.loads(got.stdout)
    subprocess.run(["git", "-C", m["repo"], "reset", "-q", "--hard", m["commits"]["newpost"]], check=True)
    cfg = os.path.join(work, f"site-{n}.toml")
    with open(cfg, "w") as f:
        f.write(f'[source]\ndir = "public"\n\n[targets.bench]\nurl = "file://{work}/out-{n}"\n')
    return m, cfg


def plan_once(binary, m, cfg):
    argv = [binary, "--config", cfg, "--target", "bench", "--dry-run", "--json", "--since", m["commits"]["initial"],
            "--rev", "HEAD"]
    env = dict(os.environ, GIT_PUBLISH_NOW="2026-12-07T00:00:00Z", NO_COLOR="1")
    t = time.monotonic()
    got = subprocess.run(argv, cwd=m["repo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wall = time.monotonic() - t
    if got.returncode != 0:
        sys.exit(f"{binary}: exit {got.returncode}: {got.stderr[-500:]}")
    report = json.loads(got.stdout)
    return wall, report.get("plan_ms"), len(report.get("uploads") or report.get("plan", {}).get("uploads") or [])


def hooks(binary, runs):
    env = dict(os.environ, GIT_PUBLISH_BIN=binary)
    got = subprocess.run(["bash", os.path.join(BENCH, "hooks.sh"), "--runs", str(runs)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env=env)
    return got.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--n", default="1000,10000")
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--hook-runs", type=int, default=10)
    ap.add_argument("--hook-rounds", type=int, default=2,
                    help="rounds of hooks.sh, in the order before, after, after, before, ... (drift falls on both)")
    ap.add_argument("--out", default=os.path.join(BENCH, "results", "arch-cost.md"))
    args = ap.parse_args()
    builds = {"before": args.before, "after": args.after}
    versions = {k: subprocess.run([b, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
                for k, b in builds.items()}
    raw = {"versions": versions, "plan": {}, "hooks": {}}
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for n in [int(x) for x in args.n.split(",")]:
            m, cfg = gen(n, work)
            runs = {"before": [], "after": []}
            for k in builds:  # one unmeasured run each: the page cache
                plan_once(builds[k], m, cfg)
            for _ in range(args.runs):
                for k in ("before", "after"):
                    runs[k].append(plan_once(builds[k], m, cfg))
            raw["plan"][n] = runs
            med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v if r[1] is not None))
                   for k, v in runs.items()}
            rows.append((m["files"], med))
    for k in ("before", "after"):
        raw["hooks"][k] = []
    for r in range(args.hook_rounds):
        for k in (("before", "after") if r % 2 == 0 else ("after", "before")):
            raw["hooks"][k].append(hooks(builds[k], args.hook_runs))
    load = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else ["?"]
    lines = [
        "# Planning cost and hook overhead, two builds side by side",
        "",
        f"`bench/arch_cost.py --n {args.n} --runs {args.runs} --hook-runs {args.hook_runs}`; load averages at the "
        f"end {' '.join(load)} on {os.cpu_count()} cores.",
        "",
        f"- before: {versions['before']}",
        f"- after: {versions['after']}",
        "",
        "## Planning a 10-file change (`--dry-run --json --since --rev HEAD`, local-directory target), medians of "
        f"{args.runs} paired runs",
        "",
        "| files | before: wall s, plan_ms | after: wall s, plan_ms | after / before (wall) | after / before (plan_ms) |",
        "|---|---|---|---|---|",
    ]
    for files, med in rows:
        b, a = med["before"], med["after"]
        lines.append(f"| {files:,} | {b[0]:.3f}, {b[1]:.0f} | {a[0]:.3f}, {a[1]:.0f} | {a[0] / b[0]:.2f} | "
                     f"{a[1] / b[1]:.2f} |")
    lines += ["", f"## Hooks (`bench/hooks.sh --runs {args.hook_runs}`, {args.hook_rounds} rounds: before, after, "
              "after, before, ...)", "",
              "A commit and a fetch run none of git-publish's code (its reference-transaction hook is armed only by "
              "a push of the site branch), so their differences between rounds are the machine's noise.", ""]
    for r in range(args.hook_rounds):
        for k in ("before", "after"):
            lines += [f"### {k}, round {r + 1}", "", "```", raw["hooks"][k][r].strip(), "```", ""]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(raw, f, indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
