#!/usr/bin/env bash
# Install everything TITAN needs on a fresh Debian machine (idempotent; as root or with sudo):
# PostgreSQL, Java 17+, Maven, Node.js, Redis (only what is missing), the Python package with
# its dev tools and the examples' packages, the Kafka jars (Maven), the PGlite packages and
# the Swagger UI / ReDoc assets (npm), helm and the manifest validator (Go; Debian's golang-go
# when no Go is installed). Prints step timings.
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

step "helm and the manifest validator (Go)"
# deploy/helm: the chart is rendered with helm (v4, built from its Go module) and every
# object checked by titan-validate (deploy/helm/validate: strict decoding into the
# k8s.io/api types, JSON schemas for the CRDs), offline. Both are built once into
# ~/.cache/titan/bin (Go's module and build caches make a rebuild quick) and rebuilt only
# when the wanted helm version or the validator's sources change.
TOOLS_BIN="${TITAN_TOOLS_BIN:-$HOME/.cache/titan/bin}"
HELM_VERSION=v4.3.2
mkdir -p "$TOOLS_BIN"
validator_stamp=$(cat deploy/helm/validate/go.mod deploy/helm/validate/go.sum \
  deploy/helm/validate/*.go deploy/helm/validate/schemas/*.json | sha256sum | cut -c1-16)
need_helm=1 need_validator=1
[ -x "$TOOLS_BIN/helm" ] && [ "$(cat "$TOOLS_BIN/.helm-version" 2>/dev/null)" = "$HELM_VERSION" ] && need_helm=0
[ -x "$TOOLS_BIN/titan-validate" ] \
  && [ "$(cat "$TOOLS_BIN/.titan-validate-stamp" 2>/dev/null)" = "$validator_stamp" ] && need_validator=0
if [ "$need_helm" = 1 ] || [ "$need_validator" = 1 ]; then
  GO=$(command -v go || true)
  [ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; } || true
  if [ -z "$GO" ]; then
    echo "    installing: golang-go"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends golang-go >/dev/null
    GO=$(command -v go)
  fi
  # helm v4.3 and k8s.io/api v0.37 need Go 1.26. An older Go takes the approved newer
  # toolchain, go1.27.3, from the Go module proxy: Go 1.21+ by itself when GOTOOLCHAIN
  # names it; an older one (Debian 12's golang-go is 1.19) downloads the same toolchain
  # module and runs its go (module zips carry no exec bits, hence the chmod).
  go_minor=$("$GO" version | sed -E 's/.* go1\.([0-9]+).*/\1/')
  if [ "${go_minor:-0}" -lt 26 ]; then
    if [ "${go_minor:-0}" -ge 21 ]; then
      export GOTOOLCHAIN=go1.27.3
    else
      go_arch=$("$GO" env GOARCH)
      go_dir=$(cd / && GOFLAGS=-modcacherw "$GO" mod download -json \
        "golang.org/toolchain@v0.0.1-go1.27.3.linux-$go_arch" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
      chmod +x "$go_dir"/bin/* "$go_dir"/pkg/tool/*/*
      GO="$go_dir/bin/go"
      export GOTOOLCHAIN=local
    fi
  fi
  if [ "$need_helm" = 1 ]; then
    GOBIN="$TOOLS_BIN" "$GO" install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
    echo "$HELM_VERSION" > "$TOOLS_BIN/.helm-version"
  fi
  if [ "$need_validator" = 1 ]; then
    (cd deploy/helm/validate && "$GO" build -buildvcs=false -o "$TOOLS_BIN/titan-validate" .)
    echo "$validator_stamp" > "$TOOLS_BIN/.titan-validate-stamp"
  fi
fi
done_step
