#!/usr/bin/env bash
# deploy/k8s/titan.yaml and keda.yaml are the chart rendered with deploy/helm/k8s-values.yaml
# (tests/integration/test_helm_chart.py fails when they drift): edit the chart, then run
# this. deploy/k8s/topics.yaml comes from the topic registry (python -m shared.topics_strimzi).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-deploy/k8s}"  # the test renders elsewhere and compares
HELM="${HELM:-${TITAN_TOOLS_BIN:-$HOME/.cache/titan/bin}/helm}"
render() {
  local header=$1
  shift
  {
    printf '%s\n' "$header"
    "$HELM" template titan deploy/helm/titan -f deploy/helm/k8s-values.yaml "$@"
  }
}
render "# Rendered from deploy/helm/titan with deploy/helm/k8s-values.yaml by deploy/helm/render-k8s.sh:
# edit the chart and rerun the script. One image, one Deployment per service. Secrets are
# referenced, never inlined (deploy/helm/titan/values.yaml lists them). Apply with
#   kubectl apply -f deploy/k8s/topics.yaml -f deploy/k8s/titan.yaml
# The services apply their schema migrations at start-up (the chart's migrations Job is a
# helm hook and is not part of this file)." \
  --show-only templates/configmap.yaml --show-only templates/services.yaml \
  --show-only templates/console.yaml \
  > "$OUT/titan.yaml"
render "# Rendered from deploy/helm/titan with deploy/helm/k8s-values.yaml by deploy/helm/render-k8s.sh.
# Autoscaling on consumer lag with KEDA 2.x, applied after titan.yaml; kept apart so a
# cluster without KEDA's CRDs can still apply the rest:
#   kubectl apply -f deploy/k8s/keda.yaml" \
  --show-only templates/keda.yaml > "$OUT/keda.yaml"
