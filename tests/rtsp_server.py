"""Real RTSP server on 127.0.0.1 for Vigie tests and benchmarks.

Plain module (no pytest import).  Put ``tests/`` on ``sys.path`` first::

    from rtsp_server import RtspServer, BlackHoleServer, clip_path

    srv = RtspServer().start()                       # free port, waits until listening
    pub = srv.publish("cam1", clip_path("carpark_topdown.mp4"))   # waits until readable
    url = srv.url("cam1")                            # rtsp://127.0.0.1:PORT/cam1 (TCP only)
    srv.kill()                                       # SIGKILL server + publishers
    srv.restart()                                    # same port, re-publishes cam1
    pub.pause(); pub.resume()                        # SIGSTOP/SIGCONT the publisher (stall)
    srv.silent("frozen", clip)                       # RTSP OK, 1 frame, then no packets
    srv.stop()

    with BlackHoleServer() as bh:                    # accepts TCP, never answers
        bh.url("cam")

Implementation: ``scripts/rtsp/gst_rtsp_server.py`` (GStreamer's gst-rtsp-server
run by Debian's /usr/bin/python3; install with ``scripts/rtsp/install.sh``) is a
relay: each path receives H.264/RTP over UDP on 127.0.0.1 from an
``ffmpeg -re -stream_loop -1 ... -f rtp`` publisher and serves it over RTSP
(interleaved TCP only; readers must use ``rtsp_transport=tcp``).
"""

from __future__ import annotations

import atexit
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = REPO_ROOT / "scripts" / "rtsp"
SERVER_SCRIPT = SCRIPTS / "gst_rtsp_server.py"
HOST = "127.0.0.1"
CLIP_DIR = REPO_ROOT.parent / "shared" / "data" / "clips"

_live: set[RtspServer | BlackHoleServer] = set()


class RtspError(RuntimeError):
    pass


def clip_path(name: str = "carpark_topdown.mp4") -> Path:
    """A shared test clip (``<repo>/../shared/data/clips/NAME``; $VIGIE_CLIP_DIR overrides)."""
    return Path(os.environ.get("VIGIE_CLIP_DIR") or CLIP_DIR) / name


def system_python() -> str:
    return os.environ.get("VIGIE_RTSP_PYTHON", "/usr/bin/python3")


def available() -> str | None:
    """None if the server can run here, else a reason (for pytest.skip)."""
    if not shutil.which("ffmpeg"):
        return "ffmpeg not installed (run scripts/rtsp/install.sh)"
    res = subprocess.run(
        [
            system_python(),
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); "
            "from gi.repository import GstRtspServer",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if res.returncode:
        return (
            "GStreamer RTSP server not installed (run scripts/rtsp/install.sh): "
            + res.stderr.strip()[-200:]
        )
    return None


def install(timeout: float = 600) -> None:
    """Run scripts/rtsp/install.sh (idempotent, fast when already installed)."""
    subprocess.run(
        ["bash", str(SCRIPTS / "install.sh")],
        check=True,
        timeout=timeout,
        stdout=subprocess.DEVNULL,
    )


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RtspError(f"nothing listens on {HOST}:{port} after {timeout}s") from None
            time.sleep(0.05)


def _signal(proc: subprocess.Popen[bytes] | None, sig: int) -> None:
    if proc is not None and proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass


def _reap(proc: subprocess.Popen[bytes] | None, timeout: float = 5) -> None:
    if proc is None:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL)
        proc.wait(timeout)


def probe(url: str, timeout: float = 5.0, frames: int = 1) -> None:
    """Open ``url`` over TCP and decode ``frames`` frames; raises on failure.

    Uses PyAV when importable (the venv), else ffprobe."""
    try:
        import av
    except ImportError:
        av = None  # type: ignore[assignment]
    if av is not None:
        with av.open(
            url,
            options={"rtsp_transport": "tcp", "analyzeduration": "500000"},
            timeout=(timeout, timeout),
        ) as c:
            n = 0
            for _ in c.decode(video=0):
                n += 1
                if n >= frames:
                    return
        raise RtspError(f"{url}: stream ended before {frames} frame(s)")
    res = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-timeout",
            str(int(timeout * 1e6)),
            "-select_streams",
            "v:0",
            "-count_packets",
            "-read_intervals",
            f"%+#{frames}",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=timeout * 3 + 5,
    )
    if res.returncode or "h264" not in res.stdout:
        raise RtspError(f"{url}: ffprobe failed: {res.stderr.strip()[-300:]}")


@dataclass
class Publisher:
    """One ffmpeg process feeding a path of an RtspServer."""

    server: RtspServer
    path: str
    clip: Path
    loop: bool
    codec: str
    gop: int
    udp_port: int
    # An ffmpeg bitstream filter applied to the encoded video, e.g. "noise=amount=500" to damage
    # packets (corrupt camera streams); None sends the stream intact.
    bsf: str | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.server.url(self.path)

    def cmd(self) -> list[str]:
        c = [
            os.environ.get("VIGIE_FFMPEG", "ffmpeg"),
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
        ]
        if self.loop:
            c += ["-stream_loop", "-1"]
        c += ["-i", str(self.clip), "-an", "-sn", "-dn"]
        if self.codec == "copy":
            # SPS/PPS in-band before every IDR (the RTP muxer would otherwise only
            # put them in an SDP that nobody reads).
            c += ["-c:v", "copy", "-bsf:v", "h264_mp4toannexb"]
        else:
            c += [
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
                "-g",
                str(self.gop),
                "-pix_fmt",
                "yuv420p",
            ]
        if self.bsf:
            c += ["-bsf:v", self.bsf]
        c += [
            "-f",
            "rtp",
            "-payload_type",
            "96",
            f"rtp://{HOST}:{self.udp_port}?pkt_size=1200&rtcpport={self.udp_port + 1}",
        ]
        return c

    def start(self) -> Publisher:
        log = open(self.server.run_dir / f"publish-{self.path.replace('/', '_')}.log", "ab")
        try:
            # stdout: the RTP muxer prints an SDP there, which nobody needs.
            self.proc = subprocess.Popen(
                self.cmd(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pause(self) -> None:
        """SIGSTOP the publisher: RTSP sessions stay up, RTP stops (a stalled camera)."""
        _signal(self.proc, signal.SIGSTOP)

    def resume(self) -> None:
        _signal(self.proc, signal.SIGCONT)

    def kill(self) -> None:
        _signal(self.proc, signal.SIGCONT)
        _signal(self.proc, signal.SIGKILL)
        _reap(self.proc)

    def stop(self) -> None:
        _signal(self.proc, signal.SIGCONT)
        _signal(self.proc, signal.SIGTERM)
        _reap(self.proc)


class RtspServer:
    """GStreamer RTSP relay on 127.0.0.1 with ffmpeg publishers.  See module doc."""

    def __init__(self, run_dir: str | os.PathLike[str] | None = None) -> None:
        """``run_dir`` holds server.log and publish-PATH.log (nothing else is
        written); by default a fresh temp dir, removed by stop() unless
        $VIGIE_RTSP_KEEP_LOGS is set."""
        self._own_dir = run_dir is None
        self.run_dir = Path(run_dir or tempfile.mkdtemp(prefix="vigie-rtsp-"))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.publishers: dict[str, Publisher] = {}
        self.silent_paths: dict[str, Path] = {}
        self._lock = threading.Lock()

    # -- server process ------------------------------------------------------
    def start(self, port: int | None = None, timeout: float = 20) -> RtspServer:
        if self.proc is not None and self.proc.poll() is None:
            raise RtspError("already running")
        port = port if port is not None else (self.port or 0)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.run_dir / "server.log", "ab")
        try:
            self.proc = subprocess.Popen(
                [system_python(), str(SERVER_SCRIPT), "--port", str(port)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                cwd=self.run_dir,
            )
        finally:
            log.close()
        line = self._readline(timeout)
        if not line.startswith("READY "):
            self.kill_server()
            raise RtspError(f"server did not start ({line!r}); see {self.run_dir / 'server.log'}")
        self.port = int(line.split()[1])
        _wait_port(self.port, timeout)
        _live.add(self)
        return self

    def _readline(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout
        if not select.select([fd], [], [], timeout)[0]:
            return ""
        return str(fd.readline().decode(errors="replace")).strip()

    def _command(self, line: str, timeout: float = 10) -> None:
        with self._lock:
            if self.proc is None or self.proc.poll() is not None:
                raise RtspError("server is not running")
            assert self.proc.stdin is not None
            self.proc.stdin.write((line + "\n").encode())
            self.proc.stdin.flush()
            reply = self._readline(timeout)
        if not reply.startswith("ok "):
            raise RtspError(f"server refused {line!r}: {reply!r}")

    def url(self, path: str) -> str:
        if self.port is None:
            raise RtspError("server not started")
        return f"rtsp://{HOST}:{self.port}/{path.strip('/')}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- paths -----------------------------------------------------------------
    def publish(
        self,
        path: str,
        clip: str | os.PathLike[str],
        loop: bool = True,
        codec: str = "h264",
        gop: int = 10,
        wait: bool = True,
        timeout: float = 20,
        bsf: str | None = None,
    ) -> Publisher:
        """Publish ``clip`` (any file ffmpeg reads) on ``path``.

        codec="h264" re-encodes with libx264 ultrafast/zerolatency, keyframe every
        ``gop`` frames, so a reader joining mid-stream gets a picture fast.
        codec="copy" sends the clip's H.264 as is (clip must be H.264; the shared
        clips have keyframes only every 3-10 s, which is how long a new reader waits).
        wait=True returns once a reader can decode a frame from the path. ``bsf``: a bitstream
        filter on the encoded video (``noise=...`` corrupts or drops packets)."""
        path = path.strip("/")
        clip = Path(clip)
        if not clip.is_file():
            raise FileNotFoundError(clip)
        old = self.publishers.pop(path, None)
        if old is not None:
            old.kill()
        udp = self._free_udp_pair()
        self._command(f"relay {path} {udp}")
        pub = Publisher(self, path, clip, loop, codec, gop, udp, bsf).start()
        self.publishers[path] = pub
        if wait:
            self.wait_readable(path, timeout)
        return pub

    def silent(self, path: str, clip: str | os.PathLike[str] | None = None) -> str:
        """A path whose DESCRIBE/SETUP/PLAY succeed (valid H.264 SDP) but which,
        after the first access unit, sends no RTP at all.  Returns its URL."""
        path = path.strip("/")
        clip = Path(clip or clip_path())
        self._command(f"silent {path} {clip.resolve()}")
        self.silent_paths[path] = clip
        return self.url(path)

    def unpublish(self, path: str) -> None:
        path = path.strip("/")
        pub = self.publishers.pop(path, None)
        if pub is not None:
            pub.kill()
        self.silent_paths.pop(path, None)
        if self.alive:
            self._command(f"remove {path}")

    def wait_readable(self, path: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        for _ in range(100):  # bounded in count and time
            left = deadline - time.monotonic()
            if left <= 0:
                break
            pub = self.publishers.get(path.strip("/"))
            if pub is not None and pub.proc is not None and pub.proc.poll() is not None:
                raise RtspError(
                    f"publisher for {path} exited with {pub.proc.returncode}; "
                    f"see {self.run_dir}/publish-*.log"
                )
            try:
                probe(self.url(path), timeout=min(5.0, max(1.0, left)))
                return
            except Exception as exc:
                last = exc
                time.sleep(0.2)
        raise RtspError(f"{self.url(path)} not readable after {timeout}s: {last!r}")

    def _free_udp_pair(self) -> int:
        used = {p.udp_port for p in self.publishers.values()}
        for _ in range(50):
            port = free_port(socket.SOCK_DGRAM)
            if port < 65535 and port not in used and port + 1 not in used:
                return port
        raise RtspError("no free UDP port")

    # -- lifecycle -------------------------------------------------------------
    def kill_server(self) -> None:
        """SIGKILL only the RTSP server (publishers keep sending into the void)."""
        _signal(self.proc, signal.SIGKILL)
        _reap(self.proc)

    def kill(self) -> None:
        """SIGKILL the server and all publishers (paths are remembered for restart())."""
        self.kill_server()
        for pub in self.publishers.values():
            pub.kill()

    def restart(self, timeout: float = 30, wait: bool = True) -> RtspServer:
        """(Re)start on the same port and re-publish every previous path."""
        if self.alive:
            self.kill()
        self.start(self.port, timeout=timeout)
        for path, clip in self.silent_paths.items():
            self._command(f"silent {path} {Path(clip).resolve()}")
        for path, pub in self.publishers.items():
            pub.kill()
            self._command(f"relay {path} {pub.udp_port}")
            pub.start()
        if wait:
            for path in self.publishers:
                self.wait_readable(path, timeout)
        return self

    def stop(self) -> None:
        for pub in self.publishers.values():
            pub.stop()
        if self.proc is not None:
            if self.proc.stdin is not None:
                try:
                    self.proc.stdin.close()  # the server exits on stdin EOF
                except OSError:
                    pass
            _signal(self.proc, signal.SIGTERM)
            _reap(self.proc)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        _live.discard(self)
        if self._own_dir and not os.environ.get("VIGIE_RTSP_KEEP_LOGS"):
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> RtspServer:
        if not self.alive:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class BlackHoleServer:
    """TCP listener on 127.0.0.1 that accepts connections and never sends a byte
    (nor reads: the client's RTSP request just sits in the socket buffer)."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.port: int | None = None
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, port: int | None = None) -> BlackHoleServer:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((HOST, port or 0))
        s.listen(64)
        s.settimeout(0.2)
        self.sock, self.port = s, s.getsockname()[1]
        self._stop.clear()
        self._thread = threading.Thread(target=self._accept, name="rtsp-blackhole", daemon=True)
        self._thread.start()
        _live.add(self)
        return self

    def _accept(self) -> None:
        sock = self.sock
        assert sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(conn)
            if len(self.connections) > 1000:  # bounded
                self.connections.pop(0).close()

    @property
    def accepted(self) -> int:
        return len(self.connections)

    def url(self, path: str = "cam") -> str:
        return f"rtsp://{HOST}:{self.port}/{path.strip('/')}"

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        for c in self.connections:
            c.close()
        self.connections.clear()
        if self.sock is not None:
            self.sock.close()
        _live.discard(self)

    def __enter__(self) -> BlackHoleServer:
        if self.sock is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@atexit.register
def _cleanup() -> None:
    for obj in list(_live):
        try:
            obj.stop()
        except Exception:
            pass


if __name__ == "__main__":  # manual smoke run: python tests/rtsp_server.py [clip]
    clip = Path(sys.argv[1]) if len(sys.argv) > 1 else clip_path()
    with RtspServer() as srv:
        t = time.monotonic()
        srv.publish("cam1", clip)
        print(f"{srv.url('cam1')} readable after {time.monotonic() - t:.2f}s")
