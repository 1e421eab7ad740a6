#!/usr/bin/env bash
# Debian packages the tests need, installed when missing (idempotent, fast when present):
#   chromium                     browser tests (Playwright drives Debian's Chromium; no download)
#   ffmpeg + GStreamer RTSP      the RTSP test server (scripts/rtsp/install.sh)
#   postgresql                   the alert history's production store; tests start throw-away
#                                clusters from its binaries (tests/postgres_server.py)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PKGS=(chromium fonts-dejavu-core postgresql)
missing=()
for p in "${PKGS[@]}"; do
  [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" == "install ok installed" ]] \
    || missing+=("$p")
done
SUDO=""
[[ $(id -u) == 0 ]] || SUDO="sudo"
if (( ${#missing[@]} )); then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >&2 || {
    $SUDO apt-get update >&2
    $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >&2
  }
fi
"$here/rtsp/install.sh" >/dev/null
