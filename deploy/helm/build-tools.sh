#!/usr/bin/env bash
# Build helm (v4, from its Go module) and titan-validate (deploy/helm/validate) into
# ${TITAN_TOOLS_BIN:-~/.cache/titan/bin}; each is rebuilt only when the wanted helm version or
# the validator's sources change (Go's module and build caches make a rebuild quick).
# `--check`: exit 0 if both are up to date, 1 otherwise, and build nothing.
# Called by deploy/setup.sh (in the background by default).
set -euo pipefail
cd "$(dirname "$0")/../.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
TOOLS_BIN="${TITAN_TOOLS_BIN:-$HOME/.cache/titan/bin}"
HELM_VERSION=v4.3.2
mkdir -p "$TOOLS_BIN"
validator_stamp=$(cat deploy/helm/validate/go.mod deploy/helm/validate/go.sum \
  deploy/helm/validate/*.go deploy/helm/validate/schemas/*.json | sha256sum | cut -c1-16)
need_helm=1 need_validator=1
[ -x "$TOOLS_BIN/helm" ] && [ "$(cat "$TOOLS_BIN/.helm-version" 2>/dev/null)" = "$HELM_VERSION" ] && need_helm=0
[ -x "$TOOLS_BIN/titan-validate" ] \
  && [ "$(cat "$TOOLS_BIN/.titan-validate-stamp" 2>/dev/null)" = "$validator_stamp" ] && need_validator=0
if [ "${1:-}" = "--check" ]; then
  [ "$need_helm" = 0 ] && [ "$need_validator" = 0 ]
  exit
fi
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
echo "helm and titan-validate are in $TOOLS_BIN"
