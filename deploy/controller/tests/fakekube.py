"""A stand-in for the Kubernetes API server at the HTTP layer, under the real client.

No API server can run here, so the tests keep the official client whole (CustomObjectsApi builds
the URLs, query strings and patch content types; watch.Watch parses the stream, handles BOOKMARK
and ERROR events) and replace only its REST transport. `FakeApiServer` stores custom objects,
answers list, watch (recorded JSON lines, as the server streams them) and status merge patches,
and records every request.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubernetes import client

FIXTURES = Path(__file__).parent / "fixtures"
PATH = re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)"
                  r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)"
                  r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>status))?$")


class FakeResponse:
    """What the client's RESTClientObject returns: status, headers, data; a stream for watches."""

    def __init__(self, status: int, body: Any = None, lines: list[str] | None = None,
                 idle: threading.Event | None = None) -> None:
        self.status = status
        self._idle = idle  # an empty watch: block like a quiet server until set (or 1 s)
        self.reason = "OK" if status < 400 else "Error"
        self.headers = {"content-type": "application/json"}
        self.data = b"" if body is None else json.dumps(body).encode()
        self._lines = lines or []
        self.response = self  # what _preload_content=False hands to the caller
        self.closed = False

    def read(self) -> bytes:
        return self.data

    def getheaders(self) -> dict[str, str]:
        return self.headers

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def stream(self, amt: int | None = None, decode_content: bool = False) -> Iterator[bytes]:
        for line in self._lines:  # the server sends one JSON event per line
            yield (line.rstrip("\n") + "\n").encode()
        if not self._lines and self._idle is not None:
            self._idle.wait(1.0)

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        pass


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


def merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = deepcopy(value)
    return target


@dataclass
class FakeApiServer:
    """Custom objects by (plural, namespace, name); `watch_lines[plural]` are served to the next
    watch request of that plural (then an empty stream: the watch's timeout)."""

    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    watch_lines: dict[str, list[list[str]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    version: int = 1000
    closed: threading.Event = field(default_factory=threading.Event)

    def next_version(self) -> str:
        self.version += 1
        return str(self.version)

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj = deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        meta.setdefault("uid", f"uid-{meta['namespace']}-{meta['name']}")
        meta.setdefault("generation", 1)
        meta.setdefault("creationTimestamp", "2026-11-30T08:00:00Z")
        meta["resourceVersion"] = self.next_version()
        plural = obj["kind"].lower() + "s"
        self.objects[(plural, meta["namespace"], meta["name"])] = obj
        return obj

    def delete(self, plural: str, namespace: str, name: str) -> None:
        self.objects.pop((plural, namespace, name), None)

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        return self.objects[(plural, namespace, name)]

    def queue_watch(self, plural: str, fixture: str) -> None:
        lines = (FIXTURES / fixture).read_text().splitlines()
        self.watch_lines.setdefault(plural, []).append([ln for ln in lines if ln.strip()])

    # -- the REST transport ----------------------------------------------------------------
    def request(self, method: str, url: str, headers: dict[str, str] | None = None,
                body: Any = None, post_params: Any = None,
                _request_timeout: Any = None) -> FakeResponse:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.requests.append(Request(method, parts.path, query, dict(headers or {}), body))
        match = PATH.match(parts.path)
        if match is None:
            return FakeResponse(404, {"kind": "Status", "code": 404, "message": "no such path"})
        plural, ns, name = match["plural"], match["ns"], match["name"]
        if method == "GET" and name is None and query.get("watch") == ["true"]:
            queued = self.watch_lines.get(plural) or []
            lines = queued.pop(0) if queued else []
            for line in lines:  # what the events say happened, happened
                event = json.loads(line)
                obj, meta = event["object"], event["object"].get("metadata") or {}
                key = (plural, meta.get("namespace", ""), meta.get("name", ""))
                if event["type"] in ("ADDED", "MODIFIED"):
                    self.objects[key] = deepcopy(obj)
                elif event["type"] == "DELETED":
                    self.objects.pop(key, None)
            return FakeResponse(200, lines=lines, idle=self.closed)
        if method == "GET" and name is None:
            items = [deepcopy(o) for (p, n, _), o in sorted(self.objects.items())
                     if p == plural and (ns is None or n == ns)]
            return FakeResponse(200, {"apiVersion": f"{match['group']}/{match['version']}",
                                      "kind": "List", "items": items,
                                      "metadata": {"resourceVersion": str(self.version)}})
        if method == "PATCH" and match["sub"] == "status":
            obj = self.objects.get((plural, ns or "", name or ""))
            if obj is None:
                return FakeResponse(404, {"kind": "Status", "code": 404, "reason": "NotFound",
                                          "message": f"{plural} {name!r} not found"})
            patch = body if isinstance(body, dict) else json.loads(body)
            obj.setdefault("status", {})
            merge(obj, {"status": patch.get("status") or {}})
            obj["metadata"]["resourceVersion"] = self.next_version()
            return FakeResponse(200, deepcopy(obj))
        return FakeResponse(405, {"kind": "Status", "code": 405, "message": "not served"})

    def custom_objects_api(self) -> client.CustomObjectsApi:
        """A real CustomObjectsApi whose HTTP goes to this fake."""
        configuration = client.Configuration(host="https://kubernetes.test")
        api_client = client.ApiClient(configuration)
        api_client.rest_client = self  # type: ignore[assignment]
        return client.CustomObjectsApi(api_client)

    def status_patches(self) -> list[Request]:
        return [r for r in self.requests if r.method == "PATCH"]


class HttpFront:
    """`FakeApiServer` over real HTTP on 127.0.0.1, for a controller *process* (kubeconfig,
    urllib3, its own threads): each request is answered by `FakeApiServer.request`."""

    def __init__(self, api: FakeApiServer) -> None:
        import http.server

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                reply = api.request(self.command, f"http://x{self.path}", dict(self.headers),
                                    body)
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                if reply._lines or (reply._idle is not None and not reply.data):
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for chunk in reply.stream():
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.send_header("Content-Length", str(len(reply.data)))
                self.end_headers()
                self.wfile.write(reply.data)

            do_GET = do_PATCH = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "users": [{"name": "test", "user": {"token": "test-token"}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
        }))
        return path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
