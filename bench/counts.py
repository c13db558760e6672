"""What the request-count scenarios (bench/r2.py, bench/clouds.py) share: the binary, the site and the result.

Standard library only; imported by the scripts beside it.
"""
import json
import os
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def binary():
    """`$GIT_PUBLISH_BIN`, else `$CARGO_TARGET_DIR/debug/git-publish`, else `target/debug/git-publish`."""
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.environ.get("GIT_PUBLISH_BIN") or os.path.join(target, "debug/git-publish")


def site(n, size_scale):
    """The synthetic site's repo (bench/gen_site.py; reused when it exists with the same parameters)."""
    path = os.path.join(ROOT, f"bench/work/sites/n{n}-s{size_scale}")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench/gen_site.py"), "--n", str(n), "--out", path,
                    "--size-scale", str(size_scale)], check=True, capture_output=True)
    return path


def measured():
    """The checked-out commit (short) and the time, as the result files record them."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    return commit, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def write(report, out, render):
    """`out` (Markdown, from `render(report)`) and the report beside it as JSON; the Markdown is printed too."""
    with open(os.path.splitext(out)[0] + ".json", "w") as f:
        json.dump(report, f, indent=1)
    with open(out, "w") as f:
        f.write(render(report))
    print(render(report))
