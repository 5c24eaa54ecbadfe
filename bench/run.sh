#!/usr/bin/env bash
# What API-key authentication costs on the per-request path (see bench/README.md).
#
# gunicorn serves the project on PostgreSQL (a fresh `latchkey_bench` database); wrk measures,
# in alternating runs, the real projects list with an X-Api-Key and the same view with no
# authentication, permission or tenancy gate (bench/urls.py). Prints a summary and writes it
# to bench/results/<timestamp>.txt. Only 127.0.0.1 is ever contacted. About 75 seconds with the defaults.
#
# Overrides (environment): PASSES=3 DURATION=10s CONNECTIONS=16 THREADS=2 WARMUP=3s
#   WORKERS=2 WORKER_CLASS=sync PORT=8765 (the first free port from there is used)
#   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432 (server URL, without a database name)
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
ROOT="$PWD"

VENV="$ROOT/.venv"
DB_NAME=latchkey_bench
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
read_run_settings
require_tools
note_load
ensure_wrk

# --- A fresh database -------------------------------------------------------------------------
require_postgres
recreate_database "$DB_NAME"
latchkey_environment "$DB_NAME"
seed_latchkey projects:read

# --- gunicorn ---------------------------------------------------------------------------------
PORT="$(free_port "$PORT")"
install_traps
start_gunicorn "$VENV" config.wsgi:application "$PORT"
GUNICORN_PID="$STARTED_PID"
BASE="http://$HOST:$PORT"
wait_until_up "$GUNICORN_PID" "$BASE/api/health"

NOAUTH_PATH="/api/bench/noauth/organizations/$ORG_ID/projects"
AUTH_PATH="/api/user/organizations/$ORG_ID/projects"
KEY_HEADER="X-Api-Key: $API_KEY"

# --- Both routes answer, and answer alike -----------------------------------------------------
noauth_resp="$(get "$BASE$NOAUTH_PATH")" || die "no answer from $NOAUTH_PATH"
auth_resp="$(get "$BASE$AUTH_PATH" -H "$KEY_HEADER")" || die "no answer from $AUTH_PATH"
anon_resp="$(get "$BASE$AUTH_PATH")" || die "no answer from $AUTH_PATH"
[[ $(status_of "$noauth_resp") == 200 ]] ||
  die "no-auth route answered $(status_of "$noauth_resp"), not 200: $(body_of "$noauth_resp")"
[[ $(status_of "$auth_resp") == 200 ]] ||
  die "X-Api-Key route answered $(status_of "$auth_resp"), not 200: $(body_of "$auth_resp")"
[[ $(status_of "$anon_resp") == 401 ]] ||
  die "the real route answered $(status_of "$anon_resp") without a key, not 401"
[[ $(body_of "$noauth_resp") == "$(body_of "$auth_resp")" ]] ||
  die "the two routes answered different bodies; the baseline must serve the same page"
[[ $(body_of "$auth_resp") == *'"totalItems":20,'* ]] ||
  die "expected 20 projects in the page: $(body_of "$auth_resp")"
RESPONSE_BYTES="$(body_of "$auth_resp" | wc -c)"
unset noauth_resp auth_resp anon_resp
log "checks passed: both routes 200 with identical bodies ($RESPONSE_BYTES bytes), no key 401"

# --- Measure ----------------------------------------------------------------------------------
WORKER_PIDS="$(worker_pids "$GUNICORN_PID")"

log "warming up ($WARMUP per route)"
measure "$WARMUP" "$BASE$NOAUTH_PATH" >/dev/null
measure "$WARMUP" "$BASE$AUTH_PATH" -H "$KEY_HEADER" >/dev/null

n_rps_all=() a_rps_all=() n_p50_all=() a_p50_all=() n_cpu_all=() a_cpu_all=() rows=()
row_format='%-6s %9s %8s %8s %9s   %9s %8s %8s %9s'
for ((pass = 1; pass <= PASSES; pass++)); do
  log "pass $pass/$PASSES: no-auth route, $DURATION"
  line="$(measure_route "$WORKER_PIDS" "$DURATION" "$BASE$NOAUTH_PATH")" ||
    die "measurement failed"
  read -r n_rps n_p50 n_p99 n_cpu n_err <<<"$line"
  log "pass $pass/$PASSES: X-Api-Key route, $DURATION"
  line="$(measure_route "$WORKER_PIDS" "$DURATION" "$BASE$AUTH_PATH" -H "$KEY_HEADER")" ||
    die "measurement failed"
  read -r a_rps a_p50 a_p99 a_cpu a_err <<<"$line"
  n_rps_all+=("$n_rps") n_p50_all+=("$n_p50") n_cpu_all+=("$n_cpu")
  a_rps_all+=("$a_rps") a_p50_all+=("$a_p50") a_cpu_all+=("$a_cpu")
  # shellcheck disable=SC2059 # the format is ours
  rows+=("$(printf "$row_format" "$pass" "$n_rps" "$n_p50" "$n_p99" "$n_cpu" \
    "$a_rps" "$a_p50" "$a_p99" "$a_cpu")")
  if ((n_err + a_err > 0)); then
    rows[-1]+="   (socket errors: no-auth $n_err, auth $a_err)"
  fi
done
trap - EXIT
stop_servers

# --- Summary ----------------------------------------------------------------------------------
med_n="$(median "${n_rps_all[@]}")"
med_a="$(median "${a_rps_all[@]}")"
med_n_cpu="$(median "${n_cpu_all[@]}")"
med_a_cpu="$(median "${a_cpu_all[@]}")"
# shellcheck disable=SC2059
median_row="$(printf "$row_format" median "$med_n" "$(median "${n_p50_all[@]}")" "" \
  "$med_n_cpu" "$med_a" "$(median "${a_p50_all[@]}")" "" "$med_a_cpu")"
derived="$(awk -v n="$med_n" -v a="$med_a" -v nc="$med_n_cpu" -v ac="$med_a_cpu" 'BEGIN {
  printf "ratio auth/noauth of the median req/s:  %.3f (%.1f%% fewer requests per second)\n",
    a / n, (1 - a / n) * 100
  printf "worker CPU per request, median:         no-auth %.2f ms, auth %.2f ms, " \
    "difference %+.2f ms (ratio %.3f)\n", nc, ac, ac - nc, ac / nc }')"

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
summary="$(
  cat <<EOF
Latchkey API-key authentication benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)
machine: $(uname -n), $(nproc) cores, $(uname -sr); PostgreSQL $(psql "$PG_URL/postgres" -tAc 'SHOW server_version')
load:    load average $LOAD_BEFORE (1, 5, 15 min) when the script started
server:  gunicorn $("$VENV/bin/gunicorn" --version 2>&1 | awk '{print $NF}' | tr -d '()'), $WORKERS $WORKER_CLASS workers, CONN_MAX_AGE=60, DEBUG=false
cache:   CACHE_URL=$CACHE_URL, APIKEY_CACHE_TIMEOUT=$APIKEY_CACHE_TIMEOUT (0: warm-key cache off)
limits:  RATELIMIT_ENABLED=$RATELIMIT_ENABLED (per-key budget $RATELIMIT_KEY)
client:  $(wrk --version 2>&1 | awk 'NR == 1 {print $1, $2}') -t$THREADS -c$CONNECTIONS -d$DURATION, $PASSES passes after ${WARMUP} warm-up per route
no-auth: GET /api/bench/noauth/organizations/{id}/projects (no authentication, permission or tenancy gate)
auth:    GET /api/user/organizations/{id}/projects with X-Api-Key (projects:read)
page:    20 projects, $RESPONSE_BYTES bytes, identical on both routes
cpu:     user + system CPU time of the gunicorn workers per request (PostgreSQL's not included)

                      no-auth                                    X-Api-Key
pass       req/s   p50 ms   p99 ms cpu ms/rq       req/s   p50 ms   p99 ms cpu ms/rq
$(printf '%s\n' "${rows[@]}")
$median_row

$derived
EOF
)"
mkdir -p "$ROOT/bench/results"
printf '%s\n' "$summary" >"$ROOT/bench/results/$stamp.txt"
printf '\n%s\n\nwritten to bench/results/%s.txt\n' "$summary" "$stamp"
