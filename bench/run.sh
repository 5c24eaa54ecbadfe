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

PASSES="${PASSES:-3}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-2}"
WARMUP="${WARMUP:-3s}"
WORKERS="${WORKERS:-2}"
WORKER_CLASS="${WORKER_CLASS:-sync}"
PORT="${PORT:-8765}"
PG_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}"
PG_URL="${PG_URL%/}"
DB_NAME=latchkey_bench
HOST=127.0.0.1
VENV="$ROOT/.venv"

die() {
  echo "bench: error: $*" >&2
  exit 1
}
log() { echo "== $*" >&2; }

[[ $PASSES =~ ^[1-9][0-9]*$ ]] || die "PASSES must be a positive integer (got '$PASSES')"
[[ $CONNECTIONS =~ ^[1-9][0-9]*$ && $THREADS =~ ^[1-9][0-9]*$ ]] ||
  die "CONNECTIONS and THREADS must be positive integers"
((CONNECTIONS >= THREADS)) || die "wrk needs CONNECTIONS >= THREADS"
[[ $DURATION =~ ^[0-9]+[smh]?$ && $WARMUP =~ ^[0-9]+[smh]?$ ]] ||
  die "DURATION and WARMUP are wrk durations such as 10s"
[[ -x $VENV/bin/python && -x $VENV/bin/gunicorn ]] ||
  die "no virtualenv with gunicorn at $VENV: run 'make install' first"
command -v curl >/dev/null || die "curl is required"
command -v psql >/dev/null || die "psql is required (apt-get install -y postgresql-client)"

# Anything else using the CPU (a test suite, say) skews both routes; the summary records it.
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v l="${LOAD_BEFORE%% *}" -v c="$(nproc)" 'BEGIN { exit !(l > c / 2) }'; then
  log "warning: load average is $LOAD_BEFORE on $(nproc) cores; other work will skew the numbers"
fi

# --- wrk (Debian's package) -------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  command -v apt-get >/dev/null || die "wrk is not installed and there is no apt-get: install wrk"
  [[ $(id -u) == 0 ]] || die "wrk is not installed: run 'sudo apt-get install -y wrk' first"
  log "installing wrk with apt-get"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } ||
    die "could not install wrk with apt-get"
  command -v wrk >/dev/null || die "apt-get ran but wrk is still not on PATH"
fi

# --- A fresh database -------------------------------------------------------------------------
psql "$PG_URL/postgres" -tAc "SELECT 1" >/dev/null 2>&1 ||
  die "cannot connect to PostgreSQL at $PG_URL (expected trust auth for user postgres)"
log "recreating database $DB_NAME"
psql "$PG_URL/postgres" -q -v ON_ERROR_STOP=1 \
  -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" -c "CREATE DATABASE $DB_NAME" >/dev/null

# The production shape, on plain HTTP at 127.0.0.1.
export DJANGO_SETTINGS_MODULE=bench.settings
export DATABASE_URL="$PG_URL/$DB_NAME" CONN_MAX_AGE=60
# Redis, as in production: the shared cache holds warm keys (APIKEY_CACHE_TIMEOUT=0 turns
# them off, to measure the database path alone).
export CACHE_URL="${BENCH_CACHE_URL:-redis://127.0.0.1:6379/2}"
export APIKEY_CACHE_TIMEOUT="${APIKEY_CACHE_TIMEOUT:-60}"
# The rate limiter counts every authenticated request (RATELIMIT_ENABLED=false measures
# without it); its budgets are raised so that counting never turns into refusing.
export RATELIMIT_ENABLED="${RATELIMIT_ENABLED:-true}"
export RATELIMIT_KEY="${RATELIMIT_KEY:-1000000000/min}" RATELIMIT_ANON="${RATELIMIT_ANON:-1000000/min}"
# On a tenant route a key spends its organization's plan budgets, which a load test exhausts.
BENCH_PLANS='{"free": {"key": "1000000000/min", "organization": "1000000000/min"}}'
export RATELIMIT_PLANS="${RATELIMIT_PLANS:-$BENCH_PLANS}"
export DEBUG=false ALLOWED_HOSTS=127.0.0.1 SECURE_SSL_REDIRECT=false SECURE_HSTS_SECONDS=0
# Production settings refuse to start without the public address (links in emails use it).
export PUBLIC_URL="${PUBLIC_URL:-http://127.0.0.1}"
export LOG_LEVEL=WARNING
SECRET_KEY="$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(50))')"
export SECRET_KEY

log "migrating and seeding"
# The key lives only in this variable (and in the request headers it is sent in).
seed_out="$("$VENV/bin/python" -m bench.seed)" || die "bench.seed failed"
seed_out="${seed_out##*$'\n'}"
ORG_ID="${seed_out%% *}"
API_KEY="${seed_out#* }"
unset seed_out
[[ $ORG_ID =~ ^[0-9A-Z]{26}$ && -n $API_KEY && $API_KEY != "$ORG_ID" ]] ||
  die "bench.seed printed no '<organization id> <key>' line"

# --- gunicorn ---------------------------------------------------------------------------------
port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
for _ in $(seq 20); do
  port_in_use "$PORT" || break
  PORT=$((PORT + 1))
done
port_in_use "$PORT" && die "no free port near ${PORT}"

GUNICORN_PID=""
cleanup() {
  if [[ -n $GUNICORN_PID ]] && kill -0 "$GUNICORN_PID" 2>/dev/null; then
    kill -TERM "$GUNICORN_PID" 2>/dev/null || true
    wait "$GUNICORN_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "starting gunicorn ($WORKERS $WORKER_CLASS workers) on $HOST:$PORT"
"$VENV/bin/gunicorn" config.wsgi:application --chdir "$ROOT" --bind "$HOST:$PORT" \
  --workers "$WORKERS" --worker-class "$WORKER_CLASS" --graceful-timeout 5 \
  --log-level warning --error-logfile - &
GUNICORN_PID=$!

BASE="http://$HOST:$PORT"
for _ in $(seq 60); do
  curl -fsS -o /dev/null --max-time 2 "$BASE/api/health" 2>/dev/null && break
  kill -0 "$GUNICORN_PID" 2>/dev/null || die "gunicorn exited during start-up"
  sleep 0.5
done
curl -fsS -o /dev/null --max-time 2 "$BASE/api/health" || die "/api/health never answered 200"

NOAUTH_PATH="/api/bench/noauth/organizations/$ORG_ID/projects"
AUTH_PATH="/api/user/organizations/$ORG_ID/projects"
KEY_HEADER="X-Api-Key: $API_KEY"

# --- Both routes answer, and answer alike -----------------------------------------------------
get() { # path [curl args...]: prints the body, a newline, then the status code
  curl -sS --max-time 5 -w '\n%{http_code}' "${@:2}" "$BASE$1"
}
status_of() { printf '%s' "${1##*$'\n'}"; }
body_of() { printf '%s' "${1%$'\n'*}"; }

noauth_resp="$(get "$NOAUTH_PATH")" || die "no answer from $NOAUTH_PATH"
auth_resp="$(get "$AUTH_PATH" -H "$KEY_HEADER")" || die "no answer from $AUTH_PATH"
anon_resp="$(get "$AUTH_PATH")" || die "no answer from $AUTH_PATH"
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
# Prints "req/s p50_ms p99_ms requests socket_errors"; fails on any non-2xx answer.
measure() { # duration path [wrk args...]
  local out
  out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$1" --timeout 5s --latency "${@:3}" "$BASE$2")" ||
    die "wrk failed against $2"
  awk -v path="$2" '
    function ms(v) {
      if (v ~ /us$/) return v * 0.001
      if (v ~ /ms$/) return v + 0
      if (v ~ /s$/) return v * 1000
      if (v ~ /m$/) return v * 60000
      return v + 0
    }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    / requests in / { requests = $1 }
    /^Requests\/sec:/ { rps = $2 }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { gsub(/,/, ""); errors = $4 + $6 + $8 + $10 }
    END {
      if (rps == "" || requests + 0 == 0) {
        print "bench: error: no requests completed against " path > "/dev/stderr"; exit 1
      }
      if (non2xx + 0 > 0) {
        printf "bench: error: %d non-2xx answers from %s\n", non2xx, path > "/dev/stderr"; exit 1
      }
      printf "%.2f %.2f %.2f %d %d\n", rps, p50, p99, requests, errors + 0
    }' <<<"$out" || die "could not read wrk's results for $2"
}

# Wall-clock req/s moves with whatever else the machine runs; the CPU time the gunicorn
# workers spend per request moves much less, so it is recorded beside it. (PostgreSQL's share
# is not: its backends are replaced every CONN_MAX_AGE seconds, mid-pass.)
CLK_TCK="$(getconf CLK_TCK)"
mapfile -t WORKER_PIDS < <(pgrep -P "$GUNICORN_PID")
((${#WORKER_PIDS[@]} == WORKERS)) ||
  die "expected $WORKERS gunicorn workers, found ${#WORKER_PIDS[@]}"
worker_ticks() { # user + system clock ticks the workers have used so far
  local pid stat fields total=0
  for pid in "${WORKER_PIDS[@]}"; do
    [[ -r /proc/$pid/stat ]] || die "gunicorn worker $pid is gone (a timeout or a crash?)"
    stat="$(<"/proc/$pid/stat")"
    read -r -a fields <<<"${stat##*) }" # from the 3rd field on: utime is the 14th, stime the 15th
    total=$((total + fields[11] + fields[12]))
  done
  echo "$total"
}

# Prints "req/s p50_ms p99_ms cpu_ms_per_request socket_errors".
measure_route() { # duration path [wrk args...]
  local before after result rps p50 p99 requests errors
  before="$(worker_ticks)"
  result="$(measure "$@")" || exit 1 # measure has said why
  after="$(worker_ticks)"
  read -r rps p50 p99 requests errors <<<"$result"
  printf '%s %s %s %s %s\n' "$rps" "$p50" "$p99" \
    "$(awk -v t="$((after - before))" -v hz="$CLK_TCK" -v n="$requests" \
      'BEGIN { printf "%.2f", t * 1000 / hz / n }')" "$errors"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
  if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

log "warming up ($WARMUP per route)"
measure "$WARMUP" "$NOAUTH_PATH" >/dev/null
measure "$WARMUP" "$AUTH_PATH" -H "$KEY_HEADER" >/dev/null

n_rps_all=() a_rps_all=() n_p50_all=() a_p50_all=() n_cpu_all=() a_cpu_all=() rows=()
row_format='%-6s %9s %8s %8s %9s   %9s %8s %8s %9s'
for ((pass = 1; pass <= PASSES; pass++)); do
  log "pass $pass/$PASSES: no-auth route, $DURATION"
  line="$(measure_route "$DURATION" "$NOAUTH_PATH")" || die "measurement failed"
  read -r n_rps n_p50 n_p99 n_cpu n_err <<<"$line"
  log "pass $pass/$PASSES: X-Api-Key route, $DURATION"
  line="$(measure_route "$DURATION" "$AUTH_PATH" -H "$KEY_HEADER")" || die "measurement failed"
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
cleanup

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
