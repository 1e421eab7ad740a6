#!/usr/bin/python3
"""Tiny RTSP relay server for Vigie tests, built on GStreamer's gst-rtsp-server.

Runs under Debian's *system* python3 (needs python3-gi, gir1.2-gst-rtsp-server-1.0,
gstreamer1.0-plugins-{base,good,bad}); install them with scripts/rtsp/install.sh.
It is a fallback for mediamtx, which the Go module proxy refuses to serve here.

RTSP is served on 127.0.0.1:PORT over TCP (interleaved) only.  Each mount is one
of:

relay   PATH <- H.264/RTP (payload type 96) over UDP on 127.0.0.1:UDPPORT (what
        ``ffmpeg ... -f rtp rtp://127.0.0.1:UDPPORT`` sends; SPS/PPS must be
        in-band, before each keyframe), re-payloaded as H.264/RTP.  Shared
        between readers; the GStreamer pipeline (and its UDP socket) only exists
        while at least one reader is connected, so a reader joining mid-stream
        waits for the next H.264 keyframe.
silent  PATH <- CLIP (an .mp4 with H.264): the server answers DESCRIBE/SETUP/PLAY
        with a valid SDP, lets the first access unit through (needed for
        gst-rtsp-server to preroll and build the SDP) and then drops every
        buffer and EOS: the session stays up but no more RTP arrives.

Usage::

    gst_rtsp_server.py [--port 0] [--relay PATH=UDPPORT ...] [--silent PATH=CLIP ...]

Prints ``READY <port>`` on stdout once listening (port 0 = pick a free one).
Then reads commands on stdin, one per line, answering ``ok ...`` / ``err ...``:

    relay PATH UDPPORT
    silent PATH CLIP
    remove PATH

Exits when stdin reaches EOF (so it never outlives the process that started it
with a pipe), or on SIGTERM/SIGINT/SIGKILL.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

HOST = "127.0.0.1"


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _norm(path: str) -> str:
    return "/" + path.strip("/")


def _factory(launch: str) -> GstRtspServer.RTSPMediaFactory:
    f = GstRtspServer.RTSPMediaFactory()
    f.set_launch(launch)
    f.set_shared(True)
    f.set_protocols(GstRtsp.RTSPLowerTrans.TCP)  # no UDP/multicast transports
    return f


def relay_factory(udp_port: int) -> GstRtspServer.RTSPMediaFactory:
    caps = "application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96"
    return _factory(
        f'( udpsrc address={HOST} port={int(udp_port)} caps="{caps}" '
        "buffer-size=4194304 ! rtph264depay ! h264parse config-interval=-1 "
        "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )


def silent_factory(clip: str) -> GstRtspServer.RTSPMediaFactory:
    loc = clip.replace("\\", "\\\\").replace('"', '\\"')
    f = _factory(
        f'( filesrc location="{loc}" ! qtdemux ! h264parse config-interval=-1 '
        "! identity name=gate ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )

    def on_configure(_factory, media):
        gate = media.get_element().get_by_name("gate")
        state = {"passed": 0}

        def probe(_pad, info):
            if info.type & Gst.PadProbeType.BUFFER:
                if state["passed"] >= 1:
                    return Gst.PadProbeReturn.DROP
                state["passed"] += 1
                return Gst.PadProbeReturn.OK
            ev = info.get_event()
            if ev is not None and ev.type == Gst.EventType.EOS:
                return Gst.PadProbeReturn.DROP
            return Gst.PadProbeReturn.OK

        gate.get_static_pad("src").add_probe(
            Gst.PadProbeType.BUFFER | Gst.PadProbeType.EVENT_DOWNSTREAM, probe
        )

    f.connect("media-configure", on_configure)
    return f


class Server:
    def __init__(self, port: int) -> None:
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address(HOST)
        self.server.set_service(str(port))
        self.mounts = self.server.get_mount_points()
        self.loop = GLib.MainLoop()

    def start(self) -> int:
        if self.server.attach(None) == 0:
            raise SystemExit(
                f"gst_rtsp_server: cannot listen on {HOST}:{self.server.get_service()}"
            )
        return self.server.get_bound_port()

    def command(self, line: str) -> str:
        parts = line.split(maxsplit=2)
        if not parts:
            return "err empty"
        cmd, args = parts[0], parts[1:]
        try:
            if cmd == "relay" and len(args) == 2:
                self.mounts.add_factory(_norm(args[0]), relay_factory(int(args[1])))
            elif cmd == "silent" and len(args) == 2:
                if not os.path.isfile(args[1]):
                    return f"err no such clip {args[1]}"
                self.mounts.add_factory(_norm(args[0]), silent_factory(args[1]))
            elif cmd == "remove" and len(args) == 1:
                self.mounts.remove_factory(_norm(args[0]))
            else:
                return f"err bad command {line!r}"
        except Exception as exc:  # pragma: no cover - defensive
            return f"err {exc}"
        return f"ok {line}"

    def watch_stdin(self) -> None:
        chan = GLib.IOChannel.unix_new(sys.stdin.fileno())

        def on_input(_chan, cond):
            if cond & (GLib.IOCondition.HUP | GLib.IOCondition.ERR):
                line = ""
            else:
                line = sys.stdin.readline()
            if not line:  # EOF: the parent went away
                self.loop.quit()
                return False
            line = line.strip()
            if line:
                _out(self.command(line))
            return True

        GLib.io_add_watch(
            chan,
            GLib.PRIORITY_DEFAULT,
            GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
            on_input,
        )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--relay", action="append", default=[], metavar="PATH=UDPPORT")
    ap.add_argument("--silent", action="append", default=[], metavar="PATH=CLIP")
    ap.add_argument(
        "--no-stdin", action="store_true", help="do not read commands / exit on stdin EOF"
    )
    a = ap.parse_args()

    Gst.init(None)
    srv = Server(a.port)
    for spec in a.relay:
        path, _, udp = spec.partition("=")
        _out(srv.command(f"relay {path} {udp}"))
    for spec in a.silent:
        path, _, clip = spec.partition("=")
        _out(srv.command(f"silent {path} {clip}"))
    port = srv.start()
    if not a.no_stdin:
        srv.watch_stdin()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, lambda *_: (srv.loop.quit(), False)[1])
    _out(f"READY {port}")
    srv.loop.run()


if __name__ == "__main__":
    main()
