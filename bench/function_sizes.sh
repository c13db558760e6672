#!/bin/sh
# The managed CloudFront Function's sizes against CloudFront's 10 KB, per preview setting (issue 25):
# `git publish cdn-function --json` on a throwaway repository with a local target (no AWS needed), written
# to bench/results/function-sizes.json. Usage: bench/function_sizes.sh [path/to/git-publish]
set -eu
bin=${1:-target/debug/git-publish}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
out=$PWD/bench/results/function-sizes.json
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
git init -q -b main
mkdir public && echo '<h1>x</h1>' > public/index.html
git add -A && git -c user.name=b -c user.email=b@example.com commit -qm v1
long="$(printf 'a%.0s' $(seq 58))"
printf '[' > "$out"
sep=''
for case in none domain+response domain+password+response longest-domain+password+response; do
    previews=''
    case $case in
        domain+response) previews='domain = "preview.blog.example.com"' ;;
        domain+password+response) previews='domain = "preview.blog.example.com"
password_env = "PW"' ;;
        longest-domain+password+response) previews="domain = \"$long.$long.$long.example.com\"
password_env = \"PW\"" ;;
    esac
    {
        printf '[source]\ndir = "public"\n[targets.t]\nurl = "file://%s/out"\ncdn_function = "manage"\n' "$dir"
        [ -n "$previews" ] && printf '[targets.t.previews]\n%s\n' "$previews"
    } > site.toml
    printf '%s{"case": "%s", "report": %s}' "$sep" "$case" "$("$bin" cdn-function --json)" >> "$out"
    sep=','
done
printf ']\n' >> "$out"
echo "wrote $out"
