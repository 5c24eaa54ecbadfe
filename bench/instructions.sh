#!/usr/bin/env bash
# Instructions per request of Latchkey's benchmark routes, counted by callgrind: a figure that,
# unlike req/s, other work on the machine does not move (see bench/README.md, "Instructions per
# request"). Each route is served in-process (python -m bench.drive) WARM times, then counted
# for WARM + 10 and WARM + 10 + ROUNDS requests; the difference over ROUNDS is one request's
# instructions, start-up and warm-up cancelled out. It counts the worker's own instructions
# only: not the kernel's (sockets, waiting), PostgreSQL's or Redis's.
#
# Needs valgrind (installed with apt-get when missing and running as root), the virtualenv,
# PostgreSQL as bench/run.sh does (database `latchkey_bench_instructions`, recreated) and
# Redis (CACHE_URL, default redis://127.0.0.1:6379/2). About 4 minutes.
#
# Overrides (environment): ROUTES="lk_noauth lk_limited lk_list lk_me" ROUNDS=100 WARM=30
#   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="$ROOT/.venv"
DB_NAME=latchkey_bench_instructions
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
read_run_settings
ROUTES="${ROUTES:-lk_noauth lk_limited lk_list lk_me}"
ROUNDS="${ROUNDS:-100}"
WARM="${WARM:-30}"
[[ $ROUNDS =~ ^[1-9][0-9]*$ && $WARM =~ ^[0-9]+$ ]] ||
  die "ROUNDS must be a positive integer and WARM a number"
[[ -x $VENV/bin/python ]] || die "no virtualenv at $VENV: run 'make install' first"

if ! command -v valgrind >/dev/null; then
  command -v apt-get >/dev/null || die "valgrind is not installed and there is no apt-get"
  [[ $(id -u) == 0 ]] || die "valgrind is not installed: run 'sudo apt-get install -y valgrind'"
  log "installing valgrind with apt-get"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind \
    >/dev/null; } || die "could not install valgrind with apt-get"
fi

require_postgres
recreate_database "$DB_NAME"
latchkey_environment "$DB_NAME"
seed_latchkey projects:read user:read
export BENCH_ORG_ID="$ORG_ID" BENCH_API_KEY="$API_KEY" PYTHONHASHSEED=0
WORK="$(mktemp -d)"
trap 'rm -rf -- "$WORK"' EXIT

count() { # route requests: prints the instructions callgrind counted for the whole run
  valgrind --tool=callgrind --callgrind-out-file="$WORK/out" \
    "$VENV/bin/python" -m bench.drive "$1" "$2" >/dev/null 2>"$WORK/log" ||
    die "$1 failed under callgrind: $(tail -3 "$WORK/log")"
  grep -o 'Collected : [0-9]*' "$WORK/log" | grep -o '[0-9]*$'
}

declare -A PER
for route in $ROUTES; do
  log "counting $route ($((WARM + 10)) and $((WARM + 10 + ROUNDS)) requests)"
  short="$(count "$route" $((WARM + 10)))"
  long="$(count "$route" $((WARM + 10 + ROUNDS)))"
  PER[$route]=$(((long - short) / ROUNDS))
done

commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ $commit != unknown && -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]]; then
  commit+=" with uncommitted changes"
fi
echo "instructions per request, commit $commit, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
for route in $ROUTES; do printf '%-12s %12s\n' "$route" "${PER[$route]}"; done
ratio() { # label numerator denominator
  [[ -n ${PER[$2]:-} && -n ${PER[$3]:-} ]] || return 0
  awk -v l="$1" -v a="${PER[$2]}" -v b="${PER[$3]}" \
    'BEGIN { printf "%-52s %6.3f   %+.0f instructions\n", l, b / a, a - b }'
}
ratio "lk_noauth / lk_list (target 2 counted in instructions)" lk_list lk_noauth
ratio "lk_noauth / lk_limited (the per-IP limit)" lk_limited lk_noauth
ratio "lk_limited / lk_list (the key and the gate)" lk_list lk_limited
