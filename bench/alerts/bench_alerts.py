"""Alerts service fan-out throughput and alert-to-browser latency, against bare references.

    ~/.cache/vigie/venv/bin/python bench/alerts/bench_alerts.py [--quick] [--postgres]

Everything runs in this process on a MemoryBus (the embedded runtime), servers on 127.0.0.1.
The alerts service runs with its real stores (SQLite under a temporary directory, or PostgreSQL
with --postgres: a throw-away cluster from tests/postgres_server.py), one console WebSocket client
signed in as an operator, and a routing policy with one `trigger: raised` webhook route to a local
receiver (signed, idempotency key), so every alert is stored, fanned out to the console and
dispatched outside. Alerts carry no frame (no snapshot: that is the face blurrer's cost, not
fan-out's).

Throughput, alerts/s (N alerts published at once, timed from the first publish):

  bare-consume   reference: a bare consumer loop on the same bus (poll + AlertRaised decode +
                 store offset), to the N-th record
  console-only   the alerts service without routing policy (history + live feed only), to the
                 N-th alert received by the console WebSocket
  service-ws     the alerts service with the webhook route, to the N-th alert on the WebSocket
  service-hook   the same run, to the N-th webhook accepted by the receiver

Latency, alerts topic -> WebSocket client (M alerts published at a steady --rate, each stamped
with its publish time; latency = receive time - publish time, one clock, one process):

  bare-ws        reference: a bare pipeline, a consumer loop that forwards each decoded alert as
                 JSON over an aiohttp WebSocket to one client (what any fan-out must at least do)
  service-ws     the alerts service's live feed (store, fold, feed sequence, JSON, WebSocket)

Modes run interleaved in rounds (the order rotates), ratios are computed within a round and the
table shows medians and ranges; JSON goes to bench/results/alerts-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "services" / "alerts" / "tests"))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from alerts_fakes import WebhookReceiver  # noqa: E402
from vigie.alerts.v1.alert_pb2 import AlertRaised  # noqa: E402
from vigie.rules.v1.rule_pb2 import RuleKind, Severity  # noqa: E402
from vigie_alerts.adapters import auth  # noqa: E402
from vigie_core.bus.memory import MemoryBus  # noqa: E402
from vigie_core.codec import decode  # noqa: E402
from vigie_core.runtime import start  # noqa: E402
from vigie_core.settings import CoreSettings  # noqa: E402
from vigie_core.topics import ALERTS  # noqa: E402

SECRET = b"bench-webhook-secret"
PASSWORD = "bench-operator-password"
COOKIE = "__Host-vigie-session"


def alert(i: int, tag: str, stamp_ns: int | None = None) -> AlertRaised:
    a = AlertRaised(alert_id=f"{tag}-{i:06d}", rule_id=f"r{i % 7}",
                    rule_kind=RuleKind.RULE_KIND_ZONE_INTRUSION, camera_id=f"cam-{i % 24}",
                    severity=Severity.SEVERITY_HIGH, title="Zone intrusion - bench",
                    track_ids=[i], frame_id="")
    a.raised_at.GetCurrentTime()
    a.started_at.CopyFrom(a.raised_at)
    if stamp_ns is not None:
        a.attributes["published_ns"] = str(stamp_ns)
    return a


@dataclass
class Run:
    mode: str
    n: int
    wall_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.n / self.wall_s if self.wall_s else 0.0

    def pct(self, q: float) -> float:
        values = sorted(self.latencies_ms)
        return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "n": self.n, **self.extra}
        if self.wall_s:
            out.update(wall_s=round(self.wall_s, 4), per_s=round(self.rate, 1))
        if self.latencies_ms:
            out.update(p50_ms=round(self.pct(0.5), 3), p99_ms=round(self.pct(0.99), 3),
                       max_ms=round(max(self.latencies_ms), 3))
        return out


# ---------------------------------------------------------------------------------- references
async def bare_consume(n: int) -> Run:
    bus = MemoryBus("bench-bare", max_backlog=max(1000, n + 1), retain_records=n + 10)
    await bus.ensure_topics([ALERTS])
    consumer = bus.consumer("bench-bare", [ALERTS.name])
    got = 0
    started = time.perf_counter()

    async def produce() -> None:
        for i in range(n):
            a = alert(i, "bare")
            await bus.publish(ALERTS, a.camera_id, a, event_id=a.alert_id)

    producer = asyncio.ensure_future(produce())
    while got < n:
        record = await consumer.poll(1.0)
        if record is None:
            continue
        decode(ALERTS, record.key, record.value, record.headers)
        consumer.store(record)
        got += 1
    wall = time.perf_counter() - started
    await producer
    await consumer.close()
    await bus.close()
    return Run("bare-consume", n, wall)


async def bare_ws_latency(m: int, rate: float) -> Run:
    """Bus -> consumer loop -> JSON -> aiohttp WebSocket -> client."""
    bus = MemoryBus("bench-bare-ws")
    await bus.ensure_topics([ALERTS])
    sockets: list[web.WebSocketResponse] = []
    ready = asyncio.Event()

    async def live(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sockets.append(ws)
        ready.set()
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.add_routes([web.get("/live", live)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    stop = asyncio.Event()

    async def forward() -> None:
        consumer = bus.consumer("bench-forward", [ALERTS.name])
        while not stop.is_set():
            record = await consumer.poll(0.2)
            if record is None:
                continue
            a = decode(ALERTS, record.key, record.value, record.headers).message
            assert isinstance(a, AlertRaised)
            body = json.dumps({"type": "alert", "alert": {
                "alert_id": a.alert_id, "camera_id": a.camera_id, "title": a.title,
                "attributes": dict(a.attributes)}})
            for ws in sockets:
                await ws.send_str(body)
            consumer.store(record)
        await consumer.close()

    forwarder = asyncio.ensure_future(forward())
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"http://127.0.0.1:{port}/live") as ws:
            await ready.wait()
            run = await _latency_run("bare-ws", bus, ws, m, rate, expect_hello=False)
    stop.set()
    await forwarder
    await runner.cleanup()
    await bus.close()
    return run


async def _latency_run(mode: str, bus: MemoryBus, ws: aiohttp.ClientWebSocketResponse,
                       m: int, rate: float, expect_hello: bool) -> Run:
    latencies: list[float] = []
    if expect_hello:
        await ws.receive_json(timeout=10)

    async def receive() -> None:
        while len(latencies) < m:
            msg = await ws.receive_json(timeout=30)
            if msg.get("type") != "alert":
                continue
            stamp = int(msg["alert"]["attributes"]["published_ns"])
            latencies.append((time.perf_counter_ns() - stamp) / 1e6)

    receiver = asyncio.ensure_future(receive())
    interval = 1.0 / rate
    t0 = time.perf_counter()
    for i in range(m):
        delay = t0 + i * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        a = alert(i, f"{mode}-{int(t0 * 1000)}", time.perf_counter_ns())
        await bus.publish(ALERTS, a.camera_id, a, event_id=a.alert_id)
    await asyncio.wait_for(receiver, 60)
    return Run(mode, m, 0.0, latencies, {"rate_per_s": rate})


# -------------------------------------------------------------------------------- the service
class Service:
    """The alerts service running, a signed-in console WebSocket, a webhook receiver."""

    def __init__(self, database_url: Callable[[], str], tmp: Path, routes: bool = True) -> None:
        self.database_url, self.tmp, self.with_routes = database_url, tmp, routes

    async def __aenter__(self) -> Service:
        os.environ["BENCH_HOOK_KEY"] = SECRET.decode()
        self.hook = WebhookReceiver(SECRET)
        url = await self.hook.start()
        routes = self.tmp / "routes.json"
        routes.write_text(json.dumps({
            "channels": {"hook": {"kind": "webhook", "url": f"{url}/hook",
                                  "secret_env": "BENCH_HOOK_KEY"}},
            "routes": [{"name": "all", "channels": ["hook"], "trigger": "raised"}]
            if self.with_routes else []}))
        self.bus = MemoryBus("bench-service", max_backlog=100_000, retain_records=100_000)
        data_dir = Path(tempfile.mkdtemp(dir=self.tmp))
        self.running = await start(
            ["alerts"], CoreSettings(http_port=0, grpc_port=0, data_dir=data_dir,
                                     log_level="WARNING"), self.bus,
            {"alerts": {"database_url": self.database_url(), "routes_file": routes,
                        "dispatch_interval_s": 0.05, "dispatch_concurrency": 16,
                        "live_queue_max": 100_000}})
        service = self.running.services[0]
        await service.db(auth.create_user, service.store.accounts, "bench", "operator",  # type: ignore[attr-defined]
                         PASSWORD, "bench", 12)
        base = f"http://127.0.0.1:{self.running.http_port}"
        self.http = aiohttp.ClientSession()
        r = await self.http.post(f"{base}/alerts/api/session",
                                 json={"login": "bench", "password": PASSWORD})
        jar = SimpleCookie()
        jar.load(r.headers["Set-Cookie"])
        self.ws = await self.http.ws_connect(f"{base}/alerts/api/live", max_msg_size=0,
                                             headers={"Cookie": f"{COOKIE}={jar[COOKIE].value}",
                                                      "Origin": base})
        await self.ws.receive_json(timeout=10)  # hello
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()
        await self.http.close()
        await self.running.stop()
        await self.hook.stop()


async def service_throughput(n: int, service: Service) -> tuple[Run, Run]:
    ws_times: list[float] = []

    async def receive() -> None:
        while len(ws_times) < n:
            msg = await service.ws.receive_json(timeout=60)
            if msg.get("type") == "alert":
                ws_times.append(time.perf_counter())

    receiver = asyncio.ensure_future(receive())
    tag = f"tp-{time.time_ns()}"
    hooks_before = len(service.hook.accepted)
    started = time.perf_counter()
    for i in range(n):
        a = alert(i, tag)
        await service.bus.publish(ALERTS, a.camera_id, a, event_id=a.alert_id)
    await asyncio.wait_for(receiver, 120)
    if service.with_routes:
        await service.hook.wait_accepted(hooks_before + n, 120)
    hook_done = time.perf_counter()
    delivered = len(service.hook.accepted) - hooks_before
    return (Run("service-ws", n, ws_times[-1] - started),
            Run("service-hook", delivered, hook_done - started, extra={"expected": n}))


async def service_latency(m: int, rate: float, service: Service) -> Run:
    return await _latency_run("service-ws", service.bus, service.ws, m, rate,
                              expect_hello=False)


# ------------------------------------------------------------------------------------ report
def spread(values: list[float], digits: int = 2) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    return f"{med:9.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


async def main_async(args: argparse.Namespace) -> int:
    rounds = args.rounds or (1 if args.quick else 3)
    n = args.alerts or (300 if args.quick else 1000)
    m = args.latency_alerts or (100 if args.quick else 300)
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("vigie_alerts").setLevel(logging.ERROR)
    tmp = Path(tempfile.mkdtemp(prefix="vigie-bench-alerts-"))
    pg = None
    if args.postgres:
        from postgres_server import PostgresServer

        pg = PostgresServer.start()
        database_url: Callable[[], str] = lambda: pg.new_database("bench")  # noqa: E731
        store_name = "postgresql"
    else:
        counter = iter(range(1000))
        database_url = lambda: f"sqlite:///{tmp / f'alerts-{next(counter)}.db'}"  # noqa: E731
        store_name = "sqlite"
    print(f"alerts bench: {n} alerts for throughput, {m} at {args.rate:g}/s for latency, "
          f"{rounds} round(s), history on {store_name}; loadavg {os.getloadavg()[0]:.2f}")
    runs: dict[str, list[Run]] = {k: [] for k in ("bare-consume", "console-only", "service-ws",
                                                   "service-hook", "bare-ws",
                                                   "service-ws-latency")}
    try:
        # warm-up: imports, first connections, first SQL statements
        await bare_consume(50)
        async with Service(database_url, tmp) as s:
            await service_throughput(20, s)
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = []

        async def tp_bare() -> None:
            runs["bare-consume"].append(await bare_consume(n))

        async def tp_service() -> None:
            async with Service(database_url, tmp) as s:
                ws_run, hook_run = await service_throughput(n, s)
                runs["service-ws"].append(ws_run)
                runs["service-hook"].append(hook_run)

        async def tp_console() -> None:
            async with Service(database_url, tmp, routes=False) as s:
                ws_run, _ = await service_throughput(n, s)
                ws_run.mode = "console-only"
                runs["console-only"].append(ws_run)

        async def lat_bare() -> None:
            runs["bare-ws"].append(await bare_ws_latency(m, args.rate))

        async def lat_service() -> None:
            async with Service(database_url, tmp) as s:
                run = await service_latency(m, args.rate, s)
                run.mode = "service-ws-latency"
                runs["service-ws-latency"].append(run)

        steps = [("bare-consume", tp_bare), ("console only", tp_console),
                 ("service fan-out", tp_service),
                 ("bare-ws latency", lat_bare), ("service-ws latency", lat_service)]
        for r in range(rounds):
            order = steps[r % len(steps):] + steps[:r % len(steps)]
            for name, step in order:
                await step()
                print(f"  round {r + 1}/{rounds} {name} done (loadavg "
                      f"{os.getloadavg()[0]:.2f})", flush=True)
    finally:
        if pg is not None:
            pg.stop()

    tp_ratio_console = [s.rate / b.rate for s, b in zip(runs["console-only"],
                                                         runs["bare-consume"], strict=True)]
    tp_ratio_ws = [s.rate / b.rate for s, b in zip(runs["service-ws"], runs["bare-consume"],
                                                    strict=True)]
    tp_ratio_hook = [s.rate / b.rate for s, b in zip(runs["service-hook"], runs["bare-consume"],
                                                      strict=True)]
    p99_ratio = [s.pct(0.99) / b.pct(0.99) for s, b in zip(runs["service-ws-latency"],
                                                           runs["bare-ws"], strict=True)]
    p50_ratio = [s.pct(0.5) / b.pct(0.5) for s, b in zip(runs["service-ws-latency"],
                                                         runs["bare-ws"], strict=True)]
    print()
    print(f"Alerts fan-out on MemoryBus, history on {store_name}, {os.cpu_count()} cores, "
          f"{rounds} round(s) (median (min-max))")
    print(f"{'throughput':<34}{'alerts/s':>24}{'ratio to bare-consume':>28}")
    print(f"{'bare-consume (reference)':<34}"
          f"{spread([r.rate for r in runs['bare-consume']]):>24}{'1':>28}")
    print(f"{'console only -> WebSocket':<34}"
          f"{spread([r.rate for r in runs['console-only']]):>24}"
          f"{spread(tp_ratio_console, 4):>28}")
    print(f"{'service -> console WebSocket':<34}"
          f"{spread([r.rate for r in runs['service-ws']]):>24}{spread(tp_ratio_ws, 4):>28}")
    print(f"{'service -> signed webhook':<34}"
          f"{spread([r.rate for r in runs['service-hook']]):>24}{spread(tp_ratio_hook, 4):>28}")
    print(f"{'latency alerts topic -> WS':<34}{'p50 ms':>16}{'p99 ms':>16}{'p99 ratio':>20}")
    print(f"{'bare-ws (reference)':<34}{spread([r.pct(.5) for r in runs['bare-ws']]):>16}"
          f"{spread([r.pct(.99) for r in runs['bare-ws']]):>16}{'1':>20}")
    svc = runs["service-ws-latency"]
    print(f"{'service live feed':<34}{spread([r.pct(.5) for r in svc]):>16}"
          f"{spread([r.pct(.99) for r in svc]):>16}{spread(p99_ratio):>20}")
    print(f"(p50 ratio {spread(p50_ratio).strip()}; webhooks accepted "
          f"{[r.n for r in runs['service-hook']]} of {n} per round)")

    stamp = datetime.now().strftime("%Y-%m-%d-%H%M%S")
    out = args.out or RESULTS / f"alerts-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "bench": "alerts", "date": datetime.now(UTC).isoformat(), "store": store_name,
        "alerts": n, "latency_alerts": m, "rate_per_s": args.rate, "rounds": rounds,
        "ratios": {"console_only_throughput": tp_ratio_console,
                   "service_ws_throughput": tp_ratio_ws,
                   "service_webhook_throughput": tp_ratio_hook,
                   "service_ws_p99_latency": p99_ratio, "service_ws_p50_latency": p50_ratio},
        "runs": {k: [r.row() for r in v] for k, v in runs.items()},
        "environment": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "machine": platform.machine(), "loadavg_end": os.getloadavg()[0]},
    }, indent=2))
    print(f"results: {out}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round, 300 + 100 alerts")
    parser.add_argument("--rounds", type=int, help="timed rounds (default 3, --quick 1)")
    parser.add_argument("--alerts", type=int, help="alerts per throughput run (default 1000)")
    parser.add_argument("--latency-alerts", type=int, help="alerts per latency run (300)")
    parser.add_argument("--rate", type=float, default=50.0, help="latency publish rate, /s")
    parser.add_argument("--postgres", action="store_true",
                        help="history on a throw-away PostgreSQL instead of SQLite")
    parser.add_argument("--out", type=Path)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
