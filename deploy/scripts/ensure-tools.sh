#!/usr/bin/env bash
# Deployment tools the chart checks need, built from the Go module proxy into $TOOLS/bin (Debian
# packages none of them): helm (helm lint / helm template), grpc-health-probe (the probe command
# the images ship, tested against a real Vigie server) and vigie-crdcheck (deploy/tools/crdcheck:
# the API server's CRD and custom-resource validation, CEL rules included). Idempotent: a tool
# already at its pinned version is left alone, so a second run takes well under a second.
#
#   deploy/scripts/ensure-tools.sh          # all three
#   deploy/scripts/ensure-tools.sh helm     # one
set -euo pipefail

TOOLS=${TOOLS:-$HOME/.cache/vigie/tools}
HELM_VERSION=v3.22.0
HELM_K8S=1.37  # Kubernetes minor of helm v3.22's client-go (v0.37)
PROBE_VERSION=v0.4.62
BIN="$TOOLS/bin"

go_cmd() {
  if command -v go >/dev/null 2>&1; then command -v go
  elif [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go
  else echo "ensure-tools: Go is needed to build helm (https://go.dev/doc/install)" >&2; exit 1
  fi
}

build() {  # build MODULE@VERSION with extra go-install flags
  local module=$1 version=$2; shift 2
  local go; go=$(go_cmd)
  mkdir -p "$BIN"
  echo "ensure-tools: building $module@$version (once; helm takes about 2-3 minutes)" >&2
  GOFLAGS=-mod=mod GOPROXY=${GOPROXY:-https://proxy.golang.org} GOBIN="$BIN" \
    "$go" install -trimpath "$@" "$module@$version"
}

helm_tool() {
  local stamp="$BIN/.helm-$HELM_VERSION-k8s$HELM_K8S"
  if [ -x "$BIN/helm" ] && [ -e "$stamp" ]; then
    return 0
  fi
  # What helm's release build stamps with -ldflags, go install must be told: its version, and the
  # Kubernetes version `helm template` and `helm lint` assume (its client-go's, v0.37 -> 1.37;
  # unstamped, helm assumes 1.20).
  local major=${HELM_K8S%%.*} minor=${HELM_K8S#*.}
  build helm.sh/helm/v3/cmd/helm "$HELM_VERSION" -ldflags "-s -w \
    -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$major \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$major \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
  rm -f "$BIN"/.helm-*
  touch "$stamp"
  "$BIN/helm" version --template 'ensure-tools: helm {{.Version}} ({{.GoVersion}})
' >&2
}

probe_tool() {
  local stamp="$BIN/.grpc-health-probe-$PROBE_VERSION"
  if [ -x "$BIN/grpc-health-probe" ] && [ -e "$stamp" ]; then
    return 0
  fi
  build github.com/grpc-ecosystem/grpc-health-probe "$PROBE_VERSION" -ldflags "-s -w"
  rm -f "$BIN"/.grpc-health-probe-*
  touch "$stamp"
}

crdcheck_tool() {
  # Ours (deploy/tools/crdcheck): CRDs and resources checked by the API server's own validation
  # code. Rebuilt whenever its sources change.
  local src; src="$(cd "$(dirname "$0")/../tools/crdcheck" && pwd)"
  local sum; sum=$(cat "$src/main.go" "$src/go.mod" "$src/go.sum" | sha256sum | cut -c1-16)
  local stamp="$BIN/.vigie-crdcheck-$sum"
  if [ -x "$BIN/vigie-crdcheck" ] && [ -e "$stamp" ]; then
    return 0
  fi
  local go; go=$(go_cmd)
  mkdir -p "$BIN"
  echo "ensure-tools: building vigie-crdcheck (once; about a minute)" >&2
  (cd "$src" && GOFLAGS=-mod=mod GOPROXY=${GOPROXY:-https://proxy.golang.org} \
     "$go" build -trimpath -ldflags "-s -w" -o "$BIN/vigie-crdcheck" .)
  rm -f "$BIN"/.vigie-crdcheck-*
  touch "$stamp"
}

case "${1:-all}" in
  helm) helm_tool ;;
  grpc-health-probe) probe_tool ;;
  crdcheck) crdcheck_tool ;;
  all) helm_tool; probe_tool; crdcheck_tool ;;
  *) echo "usage: $0 [helm|grpc-health-probe|crdcheck|all]" >&2; exit 2 ;;
esac
