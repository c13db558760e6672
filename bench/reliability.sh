#!/usr/bin/env bash
# The long forms of the reliability tests (tests/it/reliability.rs, large.rs, secrets.rs, bad_input.rs), with
# their figures collected into bench/results/reliability.md. CI runs the same tests with smaller counts.
#
#   bench/reliability.sh                 # 60 crash trials, 40 races, 30 fault runs, 200 MB file, 20,000 files
#   CRASH=30 RACES=20 FAULTS=8 bench/reliability.sh --no-large
#   CRASH=30 RACES=20 FAULTS=8 bench/reliability.sh --ci-large --dev   # CI's counts and sizes, the test build
# --no-large: no large-file tests; --ci-large: only CI's sizes (40 MiB, 1,000 files), not the ignored 200 MiB /
# 20,000-file ones; --dev: the dev profile (what `cargo test` builds) instead of --release.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/git-publish-target}"
export AWS_EC2_METADATA_DISABLED=true
scripts/setup-test-env
export MOTO_SERVER="$PWD/scripts/moto-server"
export GIT_PUBLISH_CRASH_TRIALS="${CRASH:-60}" GIT_PUBLISH_RACES="${RACES:-40}" GIT_PUBLISH_FAULT_RUNS="${FAULTS:-30}"
large=1
profile=--release
for a in "$@"; do
	case "$a" in
	--no-large) large=0 ;;
	--ci-large) large=ci ;;
	--dev) profile= ;;
	*) echo "unknown option $a" >&2; exit 2 ;;
	esac
done

mkdir -p bench/results
log=$(mktemp)
measured="$(git rev-parse HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock tests || echo ' + uncommitted changes')"
run() { cargo test $profile --locked --test it -- --nocapture --test-threads 1 "$@" 2>&1 | tee -a "$log"; }
run reliability:: bad_input:: secrets::
case "$large" in
1) run large:: --include-ignored ;;
ci) run large:: ;;
esac

out=bench/results/reliability.md
{
    echo "# Reliability figures"
    echo
    echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, moto $(.venv/bin/pip show moto 2>/dev/null | awk '/^Version/{print $2}'), git $(git --version | awk '{print $3}')"
    echo "Command: \`CRASH=$GIT_PUBLISH_CRASH_TRIALS RACES=$GIT_PUBLISH_RACES FAULTS=$GIT_PUBLISH_FAULT_RUNS bench/reliability.sh $*\`"
    echo "Measured commit: $measured; profile: ${profile:-dev}; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    # With --nocapture a figure line can follow the test's name on the same line.
    grep -oE '(crash trials|races|fault runs|bad input matrix|secrets|large file|many files): .*' "$log" | sed 's/^/- /' || true
    # bad_input.rs is one test per case: count them (each checks its exit, message and that nothing changed).
    echo "- bad input cases: $(grep -cE '^test bad_input::.* ok$' "$log") passed, $(grep -cE '^test bad_input::.* FAILED$' "$log") failed"
    echo
    grep -E '^test result' "$log" | sed 's/^/    /'
} > "$out"
cat "$out"
grep -q 'FAILED' "$log" && exit 1 || exit 0
