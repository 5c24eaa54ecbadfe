# Shell functions shared by bench/run.sh and bench/compare.sh; sourced, never run.
#
# The caller sets `set -euo pipefail` and `shopt -s inherit_errexit`, cds to the repository and
# sets ROOT (the repository) and VENV (Latchkey's virtualenv) before sourcing this file.
# shellcheck shell=bash
: "${ROOT:?set ROOT before sourcing bench/lib.sh}" "${VENV:?set VENV before sourcing bench/lib.sh}"

HOST=127.0.0.1

die() {
  echo "bench: error: $*" >&2
  exit 1
}
log() { echo "== $*" >&2; }

# --- Run settings (environment overrides), shared by both scripts -----------------------------
read_run_settings() {
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

  [[ $PASSES =~ ^[1-9][0-9]*$ ]] || die "PASSES must be a positive integer (got '$PASSES')"
  [[ $CONNECTIONS =~ ^[1-9][0-9]*$ && $THREADS =~ ^[1-9][0-9]*$ ]] ||
    die "CONNECTIONS and THREADS must be positive integers"
  ((CONNECTIONS >= THREADS)) || die "wrk needs CONNECTIONS >= THREADS"
  [[ $DURATION =~ ^[0-9]+[smh]?$ && $WARMUP =~ ^[0-9]+[smh]?$ ]] ||
    die "DURATION and WARMUP are wrk durations such as 10s"
  [[ $WORKERS =~ ^[1-9][0-9]*$ ]] || die "WORKERS must be a positive integer (got '$WORKERS')"
  [[ $PORT =~ ^[1-9][0-9]*$ ]] || die "PORT must be a port number (got '$PORT')"
}

require_tools() {
  [[ -x $VENV/bin/python && -x $VENV/bin/gunicorn ]] ||
    die "no virtualenv with gunicorn at $VENV: run 'make install' first"
  command -v curl >/dev/null || die "curl is required"
  command -v psql >/dev/null || die "psql is required (apt-get install -y postgresql-client)"
}

# Anything else using the CPU (a test suite, say) skews every route; the summary records it.
note_load() { # sets LOAD_BEFORE
  LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
  if awk -v l="${LOAD_BEFORE%% *}" -v c="$(nproc)" 'BEGIN { exit !(l > c / 2) }'; then
    log "warning: load average is $LOAD_BEFORE on $(nproc) cores; other work will skew the numbers"
  fi
}

# wrk from Debian's package.
ensure_wrk() {
  command -v wrk >/dev/null && return
  command -v apt-get >/dev/null || die "wrk is not installed and there is no apt-get: install wrk"
  [[ $(id -u) == 0 ]] || die "wrk is not installed: run 'sudo apt-get install -y wrk' first"
  log "installing wrk with apt-get"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } ||
    die "could not install wrk with apt-get"
  command -v wrk >/dev/null || die "apt-get ran but wrk is still not on PATH"
}

# --- PostgreSQL -------------------------------------------------------------------------------
require_postgres() {
  psql "$PG_URL/postgres" -tAc "SELECT 1" >/dev/null 2>&1 ||
    die "cannot connect to PostgreSQL at $PG_URL (expected trust auth for user postgres)"
}

recreate_database() { # name: drops and recreates that database, nothing else
  log "recreating database $1"
  psql "$PG_URL/postgres" -q -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
}

# --- Latchkey in the production shape, on plain HTTP at 127.0.0.1 ---------------------------
latchkey_environment() { # db name: exports the server's environment
  export DJANGO_SETTINGS_MODULE=bench.settings
  export DATABASE_URL="$PG_URL/$1" CONN_MAX_AGE=60
  # Redis, as in production: the shared cache holds warm keys (APIKEY_CACHE_TIMEOUT=0 turns
  # them off, to measure the database path alone).
  export CACHE_URL="${BENCH_CACHE_URL:-redis://127.0.0.1:6379/2}"
  export APIKEY_CACHE_TIMEOUT="${APIKEY_CACHE_TIMEOUT:-60}"
  # The rate limiter counts every authenticated request (RATELIMIT_ENABLED=false measures
  # without it); its budgets are raised so that counting never turns into refusing.
  export RATELIMIT_ENABLED="${RATELIMIT_ENABLED:-true}"
  export RATELIMIT_KEY="${RATELIMIT_KEY:-1000000000/min}"
  export RATELIMIT_ANON="${RATELIMIT_ANON:-1000000/min}"
  # On a tenant route a key spends its organization's plan budgets, which a load test exhausts.
  local plans='{"free": {"key": "1000000000/min", "organization": "1000000000/min"}}'
  export RATELIMIT_PLANS="${RATELIMIT_PLANS:-$plans}"
  export DEBUG=false ALLOWED_HOSTS=127.0.0.1 SECURE_SSL_REDIRECT=false SECURE_HSTS_SECONDS=0
  # Production settings refuse to start without the public address (links in emails use it).
  export PUBLIC_URL="${PUBLIC_URL:-http://127.0.0.1}"
  export LOG_LEVEL=WARNING
  SECRET_KEY="$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(50))')"
  export SECRET_KEY
}

seed_latchkey() { # [scope...]: migrates and seeds; sets ORG_ID and API_KEY
  log "migrating and seeding Latchkey"
  local out
  # The key lives only in this variable (and in the request headers it is sent in).
  out="$("$VENV/bin/python" -m bench.seed "$@")" || die "bench.seed failed"
  out="${out##*$'\n'}"
  ORG_ID="${out%% *}"
  API_KEY="${out#* }"
  [[ $ORG_ID =~ ^[0-9A-Z]{26}$ && -n $API_KEY && $API_KEY != "$ORG_ID" ]] ||
    die "bench.seed printed no '<organization id> <key>' line"
}

# --- gunicorn ---------------------------------------------------------------------------------
port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

free_port() { # first: prints the first free port from there
  local port="$1"
  for _ in $(seq 20); do
    port_in_use "$port" || break
    port=$((port + 1))
  done
  port_in_use "$port" && die "no free port near $1"
  echo "$port"
}

SERVER_PIDS=()
stop_servers() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  SERVER_PIDS=()
}

install_traps() { # stop the servers on any exit, Ctrl-C included
  trap stop_servers EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# Not in a command substitution: the server must be this shell's child, for `wait`.
start_gunicorn() { # venv app port [NAME=value...]: sets STARTED_PID
  local venv="$1" app="$2" port="$3"
  log "starting gunicorn for $app ($WORKERS $WORKER_CLASS workers) on $HOST:$port"
  env "${@:4}" "$venv/bin/gunicorn" "$app" --chdir "$ROOT" --bind "$HOST:$port" \
    --workers "$WORKERS" --worker-class "$WORKER_CLASS" --graceful-timeout 5 \
    --log-level warning --error-logfile - &
  STARTED_PID=$!
  SERVER_PIDS+=("$STARTED_PID")
}

wait_until_up() { # pid url: until the url answers 200
  for _ in $(seq 60); do
    curl -fsS -o /dev/null --max-time 2 "$2" 2>/dev/null && return
    kill -0 "$1" 2>/dev/null || die "gunicorn exited during start-up"
    sleep 0.5
  done
  curl -fsS -o /dev/null --max-time 2 "$2" || die "$2 never answered 200"
}

worker_pids() { # master pid: prints its workers' pids, space-separated
  local pids
  mapfile -t pids < <(pgrep -P "$1")
  ((${#pids[@]} == WORKERS)) || die "expected $WORKERS gunicorn workers, found ${#pids[@]}"
  echo "${pids[*]}"
}

# --- Requests ---------------------------------------------------------------------------------
get() { # url [curl args...]: prints the body, a newline, then the status code
  curl -sS --max-time 5 -w '\n%{http_code}' "${@:2}" "$1"
}
status_of() { printf '%s' "${1##*$'\n'}"; }
body_of() { printf '%s' "${1%$'\n'*}"; }

# --- Measure ----------------------------------------------------------------------------------
# Prints "req/s p50_ms p99_ms requests socket_errors"; fails on any non-2xx answer.
measure() { # duration url [wrk args...]
  local out
  out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$1" --timeout 5s --latency "${@:3}" "$2")" ||
    die "wrk failed against $2"
  awk -v url="$2" '
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
        print "bench: error: no requests completed against " url > "/dev/stderr"; exit 1
      }
      if (non2xx + 0 > 0) {
        printf "bench: error: %d non-2xx answers from %s\n", non2xx, url > "/dev/stderr"; exit 1
      }
      printf "%.2f %.2f %.2f %d %d\n", rps, p50, p99, requests, errors + 0
    }' <<<"$out" || die "could not read wrk's results for $2"
}

# Wall-clock req/s moves with whatever else the machine runs; the CPU time the gunicorn
# workers spend per request moves much less, so it is recorded beside it. (PostgreSQL's share
# is not: its backends are replaced every CONN_MAX_AGE seconds, mid-pass.)
CLK_TCK="$(getconf CLK_TCK)"
worker_ticks() { # pid...: user + system clock ticks those workers have used so far
  local pid stat fields total=0
  for pid in "$@"; do
    [[ -r /proc/$pid/stat ]] || die "gunicorn worker $pid is gone (a timeout or a crash?)"
    stat="$(<"/proc/$pid/stat")"
    read -r -a fields <<<"${stat##*) }" # from the 3rd field on: utime is the 14th, stime the 15th
    total=$((total + fields[11] + fields[12]))
  done
  echo "$total"
}

# Prints "req/s p50_ms p99_ms cpu_ms_per_request socket_errors".
measure_route() { # "worker pids" duration url [wrk args...]
  local pids before after result rps p50 p99 requests errors
  read -r -a pids <<<"$1"
  before="$(worker_ticks "${pids[@]}")"
  result="$(measure "${@:2}")" || exit 1 # measure has said why
  after="$(worker_ticks "${pids[@]}")"
  read -r rps p50 p99 requests errors <<<"$result"
  printf '%s %s %s %s %s\n' "$rps" "$p50" "$p99" \
    "$(awk -v t="$((after - before))" -v hz="$CLK_TCK" -v n="$requests" \
      'BEGIN { printf "%.2f", t * 1000 / hz / n }')" "$errors"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
  if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
