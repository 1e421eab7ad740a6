#!/usr/bin/env bash
# Install what the RTSP test server (tests/rtsp_server.py) needs.  Idempotent;
# ~0.1 s when everything is already there.
#
#   scripts/rtsp/install.sh        # prints the server command's path on the last stdout line
#
# Installs from Debian:
#   ffmpeg                               publishers (ffmpeg -re ... -f rtp)
#   gir1.2-gst-rtsp-server-1.0           GStreamer's RTSP server library, through
#   python3-gst-1.0 (+ python3-gi)       Debian's /usr/bin/python3 (NOT the venv)
#   gstreamer1.0-plugins-{base,good,bad} udpsrc, rtph264depay/pay, h264parse, qtdemux
#
# Why not mediamtx: the Go module proxy reachable here answers
# "403 Forbidden: This module version is not available" for
# github.com/bluenviron/mediamtx (every version, also the old
# github.com/aler9/rtsp-simple-server name and gortsplib), so it cannot be
# built.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SERVER="$HERE/gst_rtsp_server.py"
PKGS=(ffmpeg python3-gi python3-gst-1.0 gir1.2-gst-rtsp-server-1.0
      gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)

missing=()
for p in "${PKGS[@]}"; do
  st="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [[ "$st" == "install ok installed" ]] || missing+=("$p")
done

SUDO=""
[[ $(id -u) == 0 ]] || SUDO="sudo"

if (( ${#missing[@]} )); then
  echo "rtsp/install.sh: installing ${missing[*]}" >&2
  t0=$SECONDS
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
    echo "rtsp/install.sh: apt-get install failed; running apt-get update and retrying" >&2
    $SUDO apt-get update >&2
    $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >&2
  fi
  echo "rtsp/install.sh: apt done in $((SECONDS - t0)) s" >&2
fi

# Sanity: the GStreamer bits the server uses are loadable from system python.
/usr/bin/python3 - <<'EOF' >&2
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer  # noqa: F401
Gst.init(None)
missing = [e for e in ("udpsrc", "rtph264depay", "rtph264pay", "h264parse", "qtdemux", "filesrc", "identity")
           if Gst.ElementFactory.find(e) is None]
if missing:
    raise SystemExit(f"rtsp/install.sh: GStreamer elements missing: {missing}")
EOF
command -v ffmpeg >/dev/null || { echo "rtsp/install.sh: ffmpeg not on PATH" >&2; exit 1; }

echo "$SERVER"
