"""The two servers every process runs: HTTP (/healthz, /readyz, /metrics, /status) and gRPC
(with the standard health and reflection services)."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from vigie_core.service import GrpcBinding, Health
from vigie_core.settings import CoreSettings, is_loopback


def http_app(health_state: Health, status: Callable[[], dict[str, Any]]) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    async def readyz(_: web.Request) -> web.Response:
        return web.json_response({"ready": health_state.ready, "components": health_state.report()},
                                 status=200 if health_state.ready else 503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def status_view(_: web.Request) -> web.Response:
        return web.json_response(status(), dumps=lambda o: json.dumps(o, default=str))

    app = web.Application(client_max_size=1024 * 1024)
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz),
                    web.get("/metrics", metrics), web.get("/status", status_view)])
    return app


async def start_http(app: web.Application, settings: CoreSettings) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    ssl_context = None
    if not is_loopback(settings.http_host):
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(str(settings.tls_cert_file), str(settings.tls_key_file))
    site = web.TCPSite(runner, settings.http_host, settings.http_port, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


async def start_grpc(
    bindings: Sequence[GrpcBinding], health_state: Health, settings: CoreSettings
) -> tuple[grpc.aio.Server, int]:
    """A grpc.aio server: every service NOT_SERVING until the runtime marks it ready."""
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 16 * 1024 * 1024)])
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [b.service_name for b in bindings]
    for binding in bindings:
        binding.add_to_server(binding.servicer, server)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME],
                                        server)
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    if is_loopback(settings.grpc_host):
        port = server.add_insecure_port(address)
    else:
        credentials = grpc.ssl_server_credentials([(
            settings.tls_key_file.read_bytes(),  # type: ignore[union-attr]
            settings.tls_cert_file.read_bytes(),  # type: ignore[union-attr]
        )])
        port = server.add_secure_port(address, credentials)
    for name in [*names, ""]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    await server.start()

    def follow(_: str, __: bool) -> None:
        state = (health_pb2.HealthCheckResponse.SERVING if health_state.ready
                 else health_pb2.HealthCheckResponse.NOT_SERVING)
        for name in [*names, ""]:
            # set() is a coroutine on the aio servicer; schedule it on the running loop.
            asyncio.get_running_loop().create_task(health_servicer.set(name, state))

    health_state.listeners.append(follow)
    return server, port
