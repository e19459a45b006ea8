#!/usr/bin/env bash
# End-to-end checks against the real binary (issue 4, items 2-4), called by .ci/run:
#   docs       /docs in Debian's headless Chromium (playwright-core), with every request
#              that leaves the loopback server blocked: the endpoints are listed and one
#              request runs from the page
#   pages      the pages for people in the same browser, offline: each renders styled,
#              with no script error or policy violation; keyboard, phone width, no
#              JavaScript; an event posted through the API appears on the open tag page
#   schemathesis  property-based tests from /openapi.json, all checks, admin token,
#              bounded and seeded
#   client     openapi-typescript generates types from the live /openapi.json; a script
#              using openapi-fetch creates an event and lists it by tag; tsc typechecks it
#   live       the Atom feed read by feedparser, the JSON Feed, a stream, a long poll
#   webhooks   a receiver on loopback subscribed through the API; what it gets verifies
#              with the standardwebhooks package (PyPI), also across a secret rotation
#   balancer   the nginx config of docker-compose.yml's `scale` profile (nginx from apt)
#              in front of two more instances: it loads, reads and writes pass, a
#              stream is not buffered, a rolling restart loses no request
# Installs what it needs when missing (chromium from apt, npm ci in e2e/, schemathesis in
# target/e2e-venv). Builds the release binary, runs it on a free loopback port against a
# fresh database, and always stops it and drops the database on exit.
#
# Environment knobs (all optional):
#   E2E_SKIP_BUILD=1     use the existing target/release/industry-events
#   E2E_ONLY="docs client"  run only some parts (docs, schemathesis, client)
#   E2E_ST_MAX_EXAMPLES  schemathesis examples per operation (default 25)
#   E2E_ST_TIMEOUT       wall-clock bound of the schemathesis run, seconds (default 300)
#   E2E_ST_SEED          schemathesis seed (default 20240327)
#   E2E_ALLOW_FAIL="docs"  parts whose failure is reported but does not fail the run
#                        (for known server/spec findings that are not fixed yet)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SCHEMATHESIS_VERSION=4.32.5
OUT=target/e2e
VENV=target/e2e-venv
BIN=target/release/industry-events
ST_MAX_EXAMPLES=${E2E_ST_MAX_EXAMPLES:-25}
ST_TIMEOUT=${E2E_ST_TIMEOUT:-300}
ST_SEED=${E2E_ST_SEED:-20240327}
FEEDPARSER_VERSION=6.0.11
STANDARDWEBHOOKS_VERSION=1.1.0
ONLY=${E2E_ONLY:-docs pages schemathesis client live webhooks balancer}
ALLOW_FAIL=${E2E_ALLOW_FAIL:-}

log() { printf '\n== e2e: %s\n' "$*"; }
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}
wants() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

mkdir -p "$OUT"
rm -f "$OUT/docs.png" "$OUT"/pages-*.png "$OUT/schemathesis.log" "$OUT/client.log" "$OUT/docs.log" "$OUT/pages.log" "$OUT/live.log" "$OUT/webhooks.log" "$OUT/balancer.log"
rm -rf "$OUT/balancer"

# --- tools -------------------------------------------------------------------------------
if { wants docs || wants pages; } && ! command -v chromium >/dev/null 2>&1; then
  log "installing chromium (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if wants docs || wants pages || wants client; then
  # package-lock.json pins every version; skip when node_modules was installed from it.
  if ! cmp -s e2e/package-lock.json e2e/node_modules/.e2e-installed-lock.json 2>/dev/null; then
    log "npm ci (e2e/)"
    (cd e2e && npm ci --no-audit --no-fund --loglevel=error &&
      cp package-lock.json node_modules/.e2e-installed-lock.json)
  fi
fi
if wants schemathesis; then
  if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "version $SCHEMATHESIS_VERSION\$"; then
    log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  fi
fi
if wants live; then
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  if ! "$VENV/bin/python" -c "import feedparser, sys; sys.exit(feedparser.__version__ != '$FEEDPARSER_VERSION')" 2>/dev/null; then
    log "installing feedparser $FEEDPARSER_VERSION into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "feedparser==$FEEDPARSER_VERSION"
  fi
fi

if wants webhooks; then
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  if ! "$VENV/bin/pip" show standardwebhooks 2>/dev/null | grep -qx "Version: $STANDARDWEBHOOKS_VERSION"; then
    log "installing standardwebhooks $STANDARDWEBHOOKS_VERSION into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "standardwebhooks==$STANDARDWEBHOOKS_VERSION"
  fi
fi

if wants balancer && ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  log "installing nginx-light (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
  # The package starts a server on port 80; the check runs its own.
  as_root service nginx stop >/dev/null 2>&1 || true
fi

# --- server ------------------------------------------------------------------------------
if [ "${E2E_SKIP_BUILD:-0}" != 1 ]; then
  log "cargo build --release"
  cargo build --release
fi

# A fresh database, found by the binary's zero-config (DATABASE_URL unset).
unset DATABASE_URL
export DATABASE_NAME="ie_e2e_$$"
export RUST_LOG=${E2E_RUST_LOG:-industry_events=warn,tower_http=warn,sqlx=warn}
export LOG_FORMAT=pretty
export RATE_LIMIT_RPS=0
# Webhooks to the e2e receiver on loopback, over http; secrets sealed with a key of the run.
export WEBHOOK_ALLOW_HTTP=true WEBHOOK_ALLOWED_NETWORKS=127.0.0.1/32
WEBHOOK_SECRET_KEY=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
export WEBHOOK_SECRET_KEY
server_pid=
BASE=
# A free loopback port, as the kernel hands one out; another process may take it before
# the server binds it, so start_server tries again on another when that happens.
pick_port() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  export BIND_ADDR="127.0.0.1:$port"
  BASE="http://127.0.0.1:$port"
}

drop_db() {
  local sql="DROP DATABASE IF EXISTS \"$DATABASE_NAME\" WITH (FORCE)"
  psql -q -X -d postgres -c "$sql" >/dev/null 2>&1 ||
    psql -q -X -U postgres -d postgres -c "$sql" >/dev/null 2>&1 ||
    (cd / && runuser -u postgres -- psql -q -X -d postgres -c "$sql") >/dev/null 2>&1 ||
    echo "e2e: could not drop database $DATABASE_NAME" >&2
}
cleanup() {
  local rc=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  drop_db
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "database $DATABASE_NAME: migrate, admin token, demo data"
setup_failed() { tail -n 30 "$OUT/setup.log" >&2; echo "e2e: $1 failed (log: $OUT/setup.log)" >&2; exit 1; }
"$BIN" migrate >"$OUT/setup.log" 2>&1 || setup_failed "migrate"
TOKEN=$("$BIN" tokens create --name e2e --scope admin 2>>"$OUT/setup.log" | tail -n 1) ||
  setup_failed "tokens create"
[ -n "$TOKEN" ] || setup_failed "tokens create (no token on the last line)"
"$BIN" seed --demo >>"$OUT/setup.log" 2>&1 || setup_failed "seed --demo"

# Starts the server on a free port and waits until it is ready: up to three ports, when
# the one picked was taken before the server could bind it.
start_server() {
  local attempt
  for attempt in 1 2 3; do
    pick_port
    log "starting the server on $BASE (log: $OUT/server.log)"
    "$BIN" serve >"$OUT/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 120); do
      curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null && return 0
      if ! kill -0 "$server_pid" 2>/dev/null; then
        wait "$server_pid" 2>/dev/null || true
        server_pid=
        if grep -qi "address already in use" "$OUT/server.log" && [ "$attempt" -lt 3 ]; then
          log "port taken before the server bound it (attempt $attempt); another"
          continue 2
        fi
        tail -n 30 "$OUT/server.log"
        echo "e2e: server died" >&2
        exit 1
      fi
      sleep 0.5
    done
    tail -n 30 "$OUT/server.log"
    echo "e2e: server not ready" >&2
    exit 1
  done
}
start_server
curl -fsS -o "$OUT/openapi.json" "$BASE/openapi.json" || echo "e2e: GET /openapi.json failed" >&2

export E2E_BASE_URL="$BASE" E2E_TOKEN="$TOKEN"

# --- parts -------------------------------------------------------------------------------
passed=0
failed=0
known=0
summary=()
record() { # name rc detail
  if [ "$2" = 0 ]; then
    passed=$((passed + 1)); summary+=("PASS  $1  $3")
  elif case " $ALLOW_FAIL " in *" $1 "*) true ;; *) false ;; esac; then
    known=$((known + 1)); summary+=("FAIL  $1  $3 (exit $2) -- KNOWN, not gating: E2E_ALLOW_FAIL")
  else
    failed=$((failed + 1)); summary+=("FAIL  $1  $3 (exit $2)")
  fi
}

run_docs() {
  E2E_CHROMIUM="$(command -v chromium)" E2E_SCREENSHOT="$ROOT/$OUT/docs.png" \
    timeout 180 node e2e/docs.test.mjs
}

run_pages() {
  E2E_CHROMIUM="$(command -v chromium)" E2E_SCREENSHOTS="$ROOT/$OUT" \
    timeout 180 node e2e/pages.test.mjs
}

run_schemathesis() {
  # --generation-database none: no example database between runs, so a run depends only on
  # the seed; --workers 1 keeps the order of requests (and so the run) repeatable. --url:
  # the spec's own servers entry (if any) may name another port. The hooks drop only the
  # rejections of documented rules that no schema can express (see the file).
  SCHEMATHESIS_HOOKS="$ROOT/e2e/schemathesis_hooks.py" \
    timeout --kill-after=10 "$ST_TIMEOUT" "$VENV/bin/st" --config-file e2e/schemathesis.toml run "$BASE/openapi.json" \
    --url "$BASE" \
    --checks all \
    --header "Authorization: Bearer $TOKEN" \
    --max-examples "$ST_MAX_EXAMPLES" \
    --seed "$ST_SEED" \
    --generation-database none \
    --request-timeout 20 \
    --workers 1 \
    --no-color \
    --exclude-path /v1/events/stream \
    --report junit,ndjson --report-dir "$OUT/schemathesis"
}

run_client() {
  (
    cd e2e
    mkdir -p generated
    npx --no-install openapi-typescript "$BASE/openapi.json" -o generated/api.d.ts
    npx --no-install tsc --noEmit -p tsconfig.json
    npx --no-install tsx client.ts
  )
}

run_live() {
  timeout 120 "$VENV/bin/python" e2e/live_check.py
}

run_webhooks() {
  timeout 120 "$VENV/bin/python" e2e/webhooks_check.py
}

run_balancer() {
  PATH="$PATH:/usr/sbin" E2E_BIN="$ROOT/$BIN" E2E_OUT="$ROOT/$OUT/balancer" \
    timeout 240 python3 e2e/balancer_check.py
}

for part in docs pages schemathesis client live webhooks balancer; do
  wants "$part" || continue
  log "$part"
  start=$SECONDS
  set +e
  ( set -e; "run_$part" ) 2>&1 | tee "$OUT/$part.log"
  rc=${PIPESTATUS[0]}
  set -e
  record "$part" "$rc" "($((SECONDS - start)) s, log: $OUT/$part.log)"
done

log "summary"
for line in "${summary[@]}"; do echo "e2e: $line"; done
if [ "$known" -gt 0 ]; then
  # Parts in E2E_ALLOW_FAIL that failed are reported above and counted as skipped here.
  echo "$passed passed, $failed failed, $known skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" = 0 ]
