#!/usr/bin/env bash
# Overhead of git-publish's hooks on everyday git commands (see bench/README.md, "Hooks overhead").
#
#   bench/hooks.sh [--runs N] [--git PATH]
#
# Two identical repositories, one with `git-publish install` (post-push mode) and one without, pushing to local
# bare remotes. Runs alternate between them; each timing is one command from start to exit. Prints the median of
# each and what the hooks add. Nothing here talks to the network or publishes (the pushed branch is not the site
# branch, and the fetches are not pushes).
set -euo pipefail
runs=100
git=git
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) runs=$2; shift 2 ;;
	--git) git=$2; shift 2 ;;
	-h | --help) sed -n '2,9p' "$0"; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${GIT_PUBLISH_BIN:-}
for c in "$bin" "$HOME/.cache/git-publish-target/release/git-publish" "$here/target/release/git-publish" \
	"$HOME/.cache/git-publish-target/debug/git-publish" "$(command -v git-publish || true)"; do
	if [ -n "$c" ] && [ -x "$c" ]; then bin=$c; break; fi
done
[ -x "$bin" ] || { echo "no git-publish binary: set GIT_PUBLISH_BIN" >&2; exit 2; }
git=$(command -v "$git")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gitdir=$work/gitbin
mkdir -p "$gitdir" && ln -s "$git" "$gitdir/git"
export PATH="$gitdir:$PATH" HOME=$work/home GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@x \
	GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@x
mkdir -p "$HOME"
for r in plain trivial hooked; do
	git init -q --bare "$work/$r.git"
	git init -q -b main "$work/$r"
	(
		cd "$work/$r"
		git remote add origin "$work/$r.git"
		mkdir public && echo hi >public/index.html
		printf '[source]\ndir = "public"\n[targets.local]\nurl = "file://%s/out-%s"\n' "$work" "$r" >site.toml
		git add -A && git commit -qm init && git push -q origin main 2>/dev/null
		git checkout -q -b topic
	)
	git clone -q -b main "$work/$r.git" "$work/$r-upstream"
done
(cd "$work/hooked" && "$bin" install -q --branch main)
# The floor: what git itself costs to run any hook (an empty one) at the same places.
for h in pre-push reference-transaction; do
	printf '#!/bin/sh\nexit 0\n' >"$work/trivial/.git/hooks/$h"
	chmod +x "$work/trivial/.git/hooks/$h"
done

echo "git: $("$git" --version); git-publish: $bin; runs: $runs"
python3 - "$work" "$runs" <<'PY'
import os, statistics, subprocess, sys, time
work, runs = sys.argv[1], int(sys.argv[2])
def run(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def timed(cwd, *args):
    t = time.perf_counter_ns(); run(cwd, *args); return (time.perf_counter_ns() - t) / 1e6
def upstream_commit(r, i):
    run(f"{work}/{r}-upstream", "commit", "-q", "--allow-empty", "-m", f"u{i}")
    run(f"{work}/{r}-upstream", "push", "-q", "origin", "main")
cases = {
    "git commit": (None, lambda r, i: timed(f"{work}/{r}", "commit", "-q", "--allow-empty", "-m", f"c{i}")),
    "git fetch (moves origin/main)": (upstream_commit, lambda r, i: timed(f"{work}/{r}", "fetch", "-q", "origin")),
    "git push of another branch": (lambda r, i: run(f"{work}/{r}", "commit", "-q", "--allow-empty", "-m", f"p{i}"),
                                   lambda r, i: timed(f"{work}/{r}", "push", "-q", "origin", "topic")),
}
print(f"| command | no hooks (median ms) | empty hooks | git-publish's hooks | added by git-publish's hooks | of which git's cost of running a hook |")
print(f"|---|---|---|---|---|---|")
for name, (prep, measure) in cases.items():
    t = {"plain": [], "trivial": [], "hooked": []}
    for i in range(runs):
        order = ["plain", "trivial", "hooked"]
        order = order[i % 3:] + order[:i % 3]
        for r in order:
            if prep: prep(r, i)
            t[r].append(measure(r, i))
    a, e, b = (statistics.median(t[k]) for k in ("plain", "trivial", "hooked"))
    print(f"| {name} | {a:.2f} | {e:.2f} | {b:.2f} | {b - a:+.2f} ms ({(b / a - 1) * 100:+.1f}%) | {e - a:+.2f} ms |")

# The shims alone, run as git runs them (cwd = worktree top, input on stdin), against an empty hook.
z = "0" * 40
h = subprocess.run(["git", "rev-parse", "HEAD"], cwd=f"{work}/hooked", capture_output=True, text=True).stdout.strip()
calls = {
    "reference-transaction prepared (commit, while armed)": ("reference-transaction", ["prepared"], f"{z} {h} HEAD\n{z} {h} refs/heads/main\n"),
    "reference-transaction committed (fetch of the site branch, while armed)": ("reference-transaction", ["committed"], f"{z} {h} refs/remotes/origin/main\n"),
    "pre-push (another branch)": ("pre-push", ["origin", f"{work}/hooked.git"], f"refs/heads/topic {h} refs/heads/topic {z}\n"),
}
def path(r, hook):
    # Unarmed, the reference-transaction shim waits as reference-transaction.git-publish; run that copy.
    p = f".git/hooks/{hook}"
    return p if os.path.exists(f"{work}/{r}/{p}") else p + ".git-publish"
print()
print("| hook call | empty hook (median ms) | git-publish's shim | added |")
print("|---|---|---|---|")
for name, (hook, args, stdin) in calls.items():
    t = {}
    for r in ("trivial", "hooked"):
        v = []
        for i in range(runs):
            s0 = time.perf_counter_ns()
            subprocess.run([path(r, hook), *args], cwd=f"{work}/{r}", input=stdin.encode(), stdout=subprocess.DEVNULL)
            v.append((time.perf_counter_ns() - s0) / 1e6)
        t[r] = statistics.median(v)
    print(f"| {name} | {t['trivial']:.2f} | {t['hooked']:.2f} | {t['hooked'] - t['trivial']:+.2f} ms |")
PY
