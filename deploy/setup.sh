#!/usr/bin/env bash
# Install everything TITAN needs on a fresh Debian machine (idempotent; as root or with sudo):
# PostgreSQL, Java 17+, Maven, Node.js, Redis, Chromium (only what is missing), the Python package with
# its dev tools and the examples' packages, the Kafka jars (Maven), the PGlite packages and
# the Swagger UI / ReDoc assets and the console's lightweight-charts (npm), helm and the
# manifest validator (Go; Debian's golang-go when no Go is installed). Prints step timings.
set -euo pipefail
cd "$(dirname "$0")/.."

step_start=0
step() { step_start=$(date +%s); echo "==> $*"; }
done_step() { echo "    ($(( $(date +%s) - step_start )) s)"; }

export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

step "system packages"
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
java_major=0
if command -v java >/dev/null; then
  java_major=$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}' | cut -d. -f1)
fi
[ "${java_major:-0}" -ge 17 ] || missing+=(default-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
# The Celery example's broker; its test starts its own redis-server on a free port.
command -v redis-server >/dev/null || missing+=(redis-server)
# The web console's browser tests (Playwright drives this Chromium; no browser download).
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "    installing: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's postgresql package starts a system cluster on 5432; TITAN runs its own.
  if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters -h 2>/dev/null | awk '$4 == "online" {print $1, $2}' | while read -r v c; do
      $SUDO pg_ctlcluster "$v" "$c" stop || true
    done
  fi
  # Likewise Debian's redis-server starts a system instance on 6379 where an init system runs.
  if [[ " ${missing[*]} " == *" redis-server "* ]] && command -v systemctl >/dev/null \
    && systemctl is-active --quiet redis-server 2>/dev/null; then
    $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
  fi
fi
done_step

step "python packages"
python -m pip install -q -e '.[dev,examples]'
done_step

step "kafka jars and pglite packages"
python -m titan infra fetch
done_step

step "api docs assets (swagger-ui-dist, redoc)"
# Served by every service at /docs and /redoc (shared/runtime/api_docs.py): no CDN.
if [ ! -f deploy/api-docs/node_modules/swagger-ui-dist/swagger-ui-bundle.js ] \
  || [ ! -f deploy/api-docs/node_modules/redoc/bundles/redoc.standalone.js ]; then
  (cd deploy/api-docs && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
fi
done_step

step "console assets (lightweight-charts)"
# Served by the web console itself (services/console/app.py): no CDN.
if [ ! -f deploy/console/node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js ]; then
  (cd deploy/console && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
fi
done_step

step "helm and the manifest validator (Go)"
# deploy/helm: the chart is rendered with helm (v4, built from its Go module) and every
# object checked by titan-validate (deploy/helm/validate), offline; deploy/helm/build-tools.sh
# builds both into ~/.cache/titan/bin when missing or out of date. Only the chart's test needs
# them and the build is minutes of CPU, so it runs in the background (log and pid beside the
# tools) while the tests run; tests/integration/test_helm_chart.py waits for it.
# TITAN_SETUP_TOOLS=foreground builds here and now; =skip leaves them out.
case "${TITAN_SETUP_TOOLS:-background}" in
  skip) echo "    skipped (TITAN_SETUP_TOOLS=skip)" ;;
  foreground) bash deploy/helm/build-tools.sh ;;
  *)
    tools_dir="${TITAN_TOOLS_BIN:-$HOME/.cache/titan/bin}"
    if bash deploy/helm/build-tools.sh --check; then
      echo "    up to date"
    elif [ -f "$tools_dir/build.pid" ] && kill -0 "$(cat "$tools_dir/build.pid")" 2>/dev/null; then
      echo "    a build is already running (log: $tools_dir/build.log)"
    else
      mkdir -p "$tools_dir"
      nohup nice -n 5 bash deploy/helm/build-tools.sh >"$tools_dir/build.log" 2>&1 &
      echo $! >"$tools_dir/build.pid"
      echo "    building in the background (log: $tools_dir/build.log)"
    fi
    ;;
esac
done_step
