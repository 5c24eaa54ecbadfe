#!/usr/bin/env bash
# Latchkey side by side with a minimal DRF peer (see bench/README.md, "Side by side").
#
# Two gunicorns run the whole time: Latchkey as bench/run.sh serves it (PostgreSQL database
# `latchkey_bench`, Redis), and the peer project bench/peer/ (database `latchkey_bench_peer`)
# from its own virtualenv bench/.peer-venv, with Latchkey's exact Django, DRF, gunicorn and
# psycopg plus djangorestframework-api-key and django-rest-knox (bench/peer/requirements.txt),
# created on the first run and reused while it matches. wrk loads one route at a time, seven
# routes per pass, the order rotated each pass. Prints a summary with the targets of issue 13
# and writes it to bench/results/compare-<timestamp>.txt. Only 127.0.0.1 and the package index
# are contacted.
# About 5 minutes with the defaults (plus the virtualenv, once).
#
# Overrides (environment): the same as bench/run.sh: PASSES=3 DURATION=10s CONNECTIONS=16
#   THREADS=2 WARMUP=3s WORKERS=2 WORKER_CLASS=sync PORT=8765 (Latchkey on the first free port
#   from there, the peer on the next) BENCH_PG_URL=postgres://postgres@127.0.0.1:5432
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="$ROOT/.venv"
PEER_VENV="$ROOT/bench/.peer-venv"
DB_NAME=latchkey_bench
PEER_DB_NAME=latchkey_bench_peer
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
read_run_settings
require_tools
note_load
ensure_wrk

# --- The peer's virtualenv: Latchkey's framework and server versions, the peer's libraries ----
dist_version() { # venv distribution: prints its installed version, or nothing
  "$1/bin/python" -c 'import sys
from importlib.metadata import PackageNotFoundError, version
try:
    print(version(sys.argv[1]))
except PackageNotFoundError:
    pass' "$2"
}

peer_requirements() { # prints the peer's requirements, one a line
  local name v
  echo "# python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())')"
  for name in django djangorestframework gunicorn; do
    v="$(dist_version "$VENV" "$name")"
    [[ -n $v ]] || die "$name is not installed in $VENV: run 'make install'"
    echo "$name==$v"
  done
  v="$(dist_version "$VENV" psycopg)"
  [[ -n $v ]] || die "psycopg is not installed in $VENV: run 'make install'"
  echo "psycopg[binary]==$v"
  grep -v '^[[:space:]]*\(#\|$\)' "$ROOT/bench/peer/requirements.txt"
}

ensure_peer_venv() {
  local wanted stamp="$PEER_VENV/bench-requirements.txt" install_log
  wanted="$(peer_requirements)"
  if [[ -f $stamp && $(<"$stamp") == "$wanted" && -x $PEER_VENV/bin/gunicorn ]]; then
    log "reusing $PEER_VENV"
    return
  fi
  if [[ -e $PEER_VENV ]]; then
    log "$PEER_VENV does not match the wanted versions: recreating it"
    rm -rf -- "$PEER_VENV"
  fi
  log "creating $PEER_VENV (a minute or two)"
  "$VENV/bin/python" -m venv "$PEER_VENV" || die "could not create $PEER_VENV"
  install_log="$PEER_VENV/bench-install.log"
  # shellcheck disable=SC2046 # one requirement a line, none with spaces
  if ! "$PEER_VENV/bin/python" -m pip install --disable-pip-version-check \
    $(grep -v '^#' <<<"$wanted") >"$install_log" 2>&1; then
    tail -20 "$install_log" >&2
    die "pip could not install the peer's requirements (log: $install_log)"
  fi
  printf '%s\n' "$wanted" >"$stamp"
}
ensure_peer_venv
# Checked on every run: a reused virtualenv must still hold exactly Latchkey's framework.
for name in django djangorestframework gunicorn psycopg; do
  [[ $(dist_version "$PEER_VENV" "$name") == "$(dist_version "$VENV" "$name")" ]] ||
    die "$name differs between $VENV and $PEER_VENV; delete $PEER_VENV and run again"
done

# --- Fresh databases, migrated and seeded -----------------------------------------------------
require_postgres
recreate_database "$DB_NAME"
recreate_database "$PEER_DB_NAME"
latchkey_environment "$DB_NAME"
seed_latchkey projects:read user:read # one key for both of Latchkey's keyed routes

PEER_ENV=(
  DJANGO_SETTINGS_MODULE=bench.peer.settings
  DATABASE_URL="$PG_URL/$PEER_DB_NAME"
  SECRET_KEY="$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(50))')"
)
log "migrating and seeding the peer"
# The key and the token live only in these variables (and in the headers they are sent in).
seed_out="$(env "${PEER_ENV[@]}" "$PEER_VENV/bin/python" -m bench.peer.seed)" ||
  die "bench.peer.seed failed"
read -r ITEM_ID PEER_API_KEY KNOX_TOKEN <<<"${seed_out##*$'\n'}"
unset seed_out
[[ $ITEM_ID =~ ^[0-9]+$ && -n $PEER_API_KEY && -n $KNOX_TOKEN ]] ||
  die "bench.peer.seed printed no '<item id> <api key> <token>' line"

# --- Both gunicorns ---------------------------------------------------------------------------
install_traps
PORT="$(free_port "$PORT")"
start_gunicorn "$VENV" config.wsgi:application "$PORT"
LATCHKEY_PID="$STARTED_PID"
PEER_PORT="$(free_port $((PORT + 1)))"
start_gunicorn "$PEER_VENV" bench.peer.wsgi:application "$PEER_PORT" "${PEER_ENV[@]}"
PEER_PID="$STARTED_PID"
LK="http://$HOST:$PORT"
PEER="http://$HOST:$PEER_PORT"
wait_until_up "$LATCHKEY_PID" "$LK/api/health"
wait_until_up "$PEER_PID" "$PEER/noauth/items/$ITEM_ID"
LATCHKEY_WORKERS="$(worker_pids "$LATCHKEY_PID")"
PEER_WORKERS="$(worker_pids "$PEER_PID")"

# --- The seven routes -------------------------------------------------------------------------
# The base order alternates the servers; pass p runs it rotated by 2(p - 1) places, so with
# three passes each route runs once early, once in the middle and once late.
ROUTES=(peer_noauth lk_noauth peer_apikey lk_me peer_knox lk_list lk_limited)
declare -A LABEL URL HEADER WORKERS_OF
route() { # id label server-url path workers [header]
  LABEL[$1]="$2" URL[$1]="$3$4" WORKERS_OF[$1]="$5" HEADER[$1]="${6:-}"
}
route peer_noauth "peer: no auth (AllowAny)" "$PEER" "/noauth/items/$ITEM_ID" "$PEER_WORKERS"
route peer_apikey "peer: drf-api-key HasAPIKey" "$PEER" "/api-key/items/$ITEM_ID" \
  "$PEER_WORKERS" "Authorization: Api-Key $PEER_API_KEY"
route peer_knox "peer: knox TokenAuthentication" "$PEER" "/knox/items/$ITEM_ID" \
  "$PEER_WORKERS" "Authorization: Token $KNOX_TOKEN"
route lk_me "latchkey: /api/user/me, X-Api-Key" "$LK" "/api/user/me" \
  "$LATCHKEY_WORKERS" "X-Api-Key: $API_KEY"
route lk_noauth "latchkey: project list, no auth" "$LK" \
  "/api/bench/noauth/organizations/$ORG_ID/projects" "$LATCHKEY_WORKERS"
route lk_list "latchkey: project list, X-Api-Key" "$LK" \
  "/api/user/organizations/$ORG_ID/projects" "$LATCHKEY_WORKERS" "X-Api-Key: $API_KEY"
route lk_limited "latchkey: project list, per-IP limit" "$LK" \
  "/api/bench/limited/organizations/$ORG_ID/projects" "$LATCHKEY_WORKERS"

on_route() { # id command [args...]: runs the command, the route's URL and credential last
  if [[ -n ${HEADER[$1]} ]]; then
    "${@:2}" "${URL[$1]}" -H "${HEADER[$1]}"
  else
    "${@:2}" "${URL[$1]}"
  fi
}
expect() { # id response status...: the response has one of the statuses
  local status want
  status="$(status_of "$2")"
  for want in "${@:3}"; do [[ $status == "$want" ]] && return; done
  die "${LABEL[$1]} (${URL[$1]}) answered $status, not ${*:3}: $(body_of "$2")"
}

# --- Every route answers as it should ---------------------------------------------------------
declare -A BODY
for id in "${ROUTES[@]}"; do
  resp="$(on_route "$id" get)" || die "no answer from ${URL[$id]}"
  expect "$id" "$resp" 200
  BODY[$id]="$(body_of "$resp")"
done
# Without its credential, and with the other library's, a keyed route refuses.
for id in peer_apikey peer_knox lk_me lk_list; do
  resp="$(get "${URL[$id]}")" || die "no answer from ${URL[$id]}"
  expect "$id" "$resp" 401 403
done
resp="$(get "${URL[peer_apikey]}" -H "${HEADER[peer_knox]}")" || die "no answer"
expect peer_apikey "$resp" 401 403
resp="$(get "${URL[peer_knox]}" -H "${HEADER[peer_apikey]}")" || die "no answer"
expect peer_knox "$resp" 401 403
unset resp
[[ ${BODY[peer_noauth]} == *"\"name\":\"Item 1\""* ]] ||
  die "the peer's item is not Item 1: ${BODY[peer_noauth]}"
[[ ${BODY[peer_apikey]} == "${BODY[peer_noauth]}" &&
  ${BODY[peer_knox]} == "${BODY[peer_noauth]}" ]] ||
  die "the peer's three routes answered different bodies"
[[ ${BODY[lk_list]} == "${BODY[lk_noauth]}" && ${BODY[lk_limited]} == "${BODY[lk_noauth]}" ]] ||
  die "Latchkey's three project lists answered different bodies"
[[ ${BODY[lk_list]} == *'"totalItems":20,'* ]] ||
  die "expected 20 projects in the page: ${BODY[lk_list]}"
[[ ${BODY[lk_me]} == *'"email":"bench@example.com"'* ]] ||
  die "/api/user/me did not answer the seeded user: ${BODY[lk_me]}"
declare -A BYTES
for id in "${ROUTES[@]}"; do BYTES[$id]="$(printf '%s' "${BODY[$id]}" | wc -c)"; done
unset BODY
log "checks passed: seven routes answer 200 with the expected bodies;" \
  "the keyed ones refuse without their credential"

# --- Measure ----------------------------------------------------------------------------------
log "warming up ($WARMUP per route)"
for id in "${ROUTES[@]}"; do
  on_route "$id" measure "$WARMUP" >/dev/null
done

declare -A RPS P50 P99 CPU PASS_RPS
ORDERS=() NOTES=()
n_routes=${#ROUTES[@]}
for ((pass = 1; pass <= PASSES; pass++)); do
  order=()
  for ((i = 0; i < n_routes; i++)); do
    order+=("${ROUTES[(i + 2 * (pass - 1)) % n_routes]}")
  done
  ORDERS+=("pass $pass: ${order[*]}")
  for id in "${order[@]}"; do
    log "pass $pass/$PASSES: ${LABEL[$id]}, $DURATION"
    line="$(on_route "$id" measure_route "${WORKERS_OF[$id]}" "$DURATION")" ||
      die "measurement failed"
    read -r rps p50 p99 cpu err <<<"$line"
    RPS[$id]+="$rps " P50[$id]+="$p50 " P99[$id]+="$p99 " CPU[$id]+="$cpu "
    PASS_RPS[$id]+="$(printf '%9s' "$rps")"
    ((err == 0)) || NOTES+=("pass $pass, ${LABEL[$id]}: $err socket errors")
  done
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
trap - EXIT
stop_servers

# --- Summary ----------------------------------------------------------------------------------
declare -A M_RPS M_P50 M_P99 M_CPU
for id in "${ROUTES[@]}"; do
  # shellcheck disable=SC2086 # space-separated lists of numbers
  M_RPS[$id]="$(median ${RPS[$id]})" M_P50[$id]="$(median ${P50[$id]})"
  # shellcheck disable=SC2086
  M_P99[$id]="$(median ${P99[$id]})" M_CPU[$id]="$(median ${CPU[$id]})"
done

SHOWN=(peer_noauth peer_apikey peer_knox lk_me lk_noauth lk_limited lk_list)
table="$(
  printf '%-36s %9s %8s %8s %10s %6s\n' route "req/s" "p50 ms" "p99 ms" "cpu ms/rq" bytes
  for id in "${SHOWN[@]}"; do
    printf '%-36s %9s %8s %8s %10s %6s\n' "${LABEL[$id]}" "${M_RPS[$id]}" "${M_P50[$id]}" \
      "${M_P99[$id]}" "${M_CPU[$id]}" "${BYTES[$id]}"
  done
)"
passes="$(
  printf '%-36s' "req/s by pass"
  for ((pass = 1; pass <= PASSES; pass++)); do printf '%9s' "$pass"; done
  echo
  for id in "${SHOWN[@]}"; do printf '%-36s%s\n' "${LABEL[$id]}" "${PASS_RPS[$id]}"; done
)"

# The targets are on req/s and p99. Beside each req/s ratio, the same ratio from the CPU time
# per request (the denominator's over the numerator's), which other work on the machine moves
# less; it is shown, not judged.
TARGETS_MET=0 TARGETS=0 RATIO_LINES=()
ratio_line() { # label rps|p99 numerator-id denominator-id op target: adds the line, counts
  local ratio verdict=FAIL cpu=""
  if [[ $2 == rps ]]; then
    ratio="$(awk -v a="${M_RPS[$3]}" -v b="${M_RPS[$4]}" 'BEGIN { printf "%.3f", a / b }')"
    cpu="$(awk -v a="${M_CPU[$3]}" -v b="${M_CPU[$4]}" 'BEGIN { printf "%.3f", b / a }')"
  else
    ratio="$(awk -v a="${M_P99[$3]}" -v b="${M_P99[$4]}" 'BEGIN { printf "%.3f", a / b }')"
  fi
  if awk -v r="$ratio" -v op="$5" -v t="$6" 'BEGIN { exit !(op == ">=" ? r >= t : r <= t) }'
  then
    verdict=PASS TARGETS_MET=$((TARGETS_MET + 1))
  fi
  TARGETS=$((TARGETS + 1))
  RATIO_LINES+=("$(printf '%-58s %6s   %s %-4s  %s%s' "$1" "$ratio" "$5" "$6" "$verdict" \
    "${cpu:+   (by cpu $cpu)}")")
}
ratio_line "(1) req/s  latchkey /api/user/me with key / peer HasAPIKey" rps lk_me peer_apikey \
  ">=" 1.0
ratio_line "(2) req/s  latchkey list with key / latchkey no-auth list" rps lk_list lk_noauth \
  ">=" 0.95
ratio_line "(3) req/s  latchkey no-auth list / peer no auth" rps lk_noauth peer_noauth ">=" 0.5
ratio_line "(4a) p99   latchkey list with key / latchkey no-auth list" p99 lk_list lk_noauth \
  "<=" 1.3
ratio_line "(4b) p99   latchkey /api/user/me with key / peer no auth" p99 lk_me peer_noauth \
  "<=" 1.3

# knox, and what each library adds to the peer's floor, for context (no targets).
context_line() { # label numerator-id denominator-id
  awk -v label="$1" -v a="${M_RPS[$2]}" -v b="${M_RPS[$3]}" -v ac="${M_CPU[$2]}" \
    -v bc="${M_CPU[$3]}" 'BEGIN {
    printf "%-58s %6.3f   cpu %+.2f ms/rq\n", label, a / b, ac - bc }'
}
context="$(
  context_line "req/s  peer HasAPIKey / peer no auth" peer_apikey peer_noauth
  context_line "req/s  peer knox / peer no auth" peer_knox peer_noauth
  context_line "req/s  latchkey /api/user/me with key / peer no auth" lk_me peer_noauth
  context_line "req/s  latchkey /api/user/me with key / peer knox" lk_me peer_knox
  context_line "req/s  latchkey list with key / peer HasAPIKey" lk_list peer_apikey
  # Target (2) split in two: the shared counters' round trip that every /api/ request makes
  # (an anonymous one counted per IP), and what the key and the tenancy gate add to it.
  context_line "req/s  latchkey no-auth list per-IP limit / no-auth list" lk_limited lk_noauth
  context_line "req/s  latchkey list with key / no-auth list per-IP limit" lk_list lk_limited
)"

commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ $commit != unknown && -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]]; then
  commit+=" with uncommitted changes"
fi
python_version="$("$VENV/bin/python" -c 'import platform; print(platform.python_version())')"
both="Django $(dist_version "$VENV" django), DRF $(dist_version "$VENV" djangorestframework)"
both+=", gunicorn $(dist_version "$VENV" gunicorn), psycopg $(dist_version "$VENV" psycopg)"
peer_libs="djangorestframework-api-key $(dist_version "$PEER_VENV" djangorestframework-api-key)"
peer_libs+=", django-rest-knox $(dist_version "$PEER_VENV" django-rest-knox)"
redis_version="$("$VENV/bin/python" -c 'import sys, redis
print(redis.Redis.from_url(sys.argv[1]).info("server")["redis_version"])' "$CACHE_URL" \
  2>/dev/null || echo unknown)"
services="PostgreSQL $(psql "$PG_URL/postgres" -tAc 'SHOW server_version'), Redis $redis_version"
# `wrk --version` prints its version, then its usage, and exits with status 1.
services+=", $({ wrk --version 2>&1 || true; } | awk 'NR == 1 {print $1, $2}')"
middleware_of() { # venv [NAME=value...]: the settings' middleware, wrapped and indented
  env "${@:2}" "$1/bin/python" -c 'import textwrap, django
from django.conf import settings
django.setup()
names = [m.rsplit(".", 1)[-1] for m in settings.MIDDLEWARE]
print(("\n" + " " * 21).join(textwrap.wrap(f"{len(names)}: " + ", ".join(names), 76)))'
}
lk_middleware="$(middleware_of "$VENV")" || die "could not read Latchkey's middleware"
peer_middleware="$(middleware_of "$PEER_VENV" "${PEER_ENV[@]}")" ||
  die "could not read the peer's middleware"
notes=""
pass_word=passes
((PASSES > 1)) || pass_word=pass
((${#NOTES[@]} == 0)) || notes="$(printf 'note: %s\n' "${NOTES[@]}")"$'\n'
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
summary="$(
  cat <<EOF
Latchkey side by side with a minimal DRF peer, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $commit
machine:  $(uname -n), $(nproc) cores, $(uname -sr)
load:     load average $LOAD_BEFORE at the start, $LOAD_AFTER at the end (1, 5, 15 min)
versions: Python $python_version; on both sides $both;
          peer: $peer_libs;
          $services
servers:  two gunicorns, $WORKERS $WORKER_CLASS workers each, on 127.0.0.1, DEBUG=false,
          CONN_MAX_AGE=60 with health checks; one route loaded at a time
latchkey: bench.settings, CACHE_URL=$CACHE_URL, APIKEY_CACHE_TIMEOUT=$APIKEY_CACHE_TIMEOUT,
          RATELIMIT_ENABLED=$RATELIMIT_ENABLED (budgets raised: nothing is refused);
          one key with projects:read and user:read
          middleware $lk_middleware
peer:     bench.peer.settings, JSONRenderer only; one item (id, name, description,
          created_at) by id, one query, a ModelSerializer per request
          middleware $peer_middleware
client:   wrk -t$THREADS -c$CONNECTIONS -d$DURATION; $WARMUP warm-up per route, then $PASSES \
$pass_word:
$(printf '          %s\n' "${ORDERS[@]}")
cpu:      user + system CPU time per request of the workers of the gunicorn serving the
          route (PostgreSQL's and Redis's not included)

medians of $PASSES $pass_word
$table

$passes
${notes}
$(printf '%-58s %6s   %s\n' "targets (ratios of the medians)" ratio target)
$(printf '%s\n' "${RATIO_LINES[@]}")
$TARGETS_MET of $TARGETS targets met. (4b): Latchkey has no /api/user/me without authentication;
the peer's no-auth view is the same shape (one small object, one query), the floor a DRF view
pays for it.

$(printf '%-58s %6s   %s\n' "context (no targets)" ratio "cpu difference")
$context
EOF
)"
mkdir -p "$ROOT/bench/results"
printf '%s\n' "$summary" >"$ROOT/bench/results/compare-$stamp.txt"
printf '\n%s\n\nwritten to bench/results/compare-%s.txt\n' "$summary" "$stamp"
