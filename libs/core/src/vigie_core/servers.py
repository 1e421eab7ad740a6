"""The two servers every process runs: HTTP (/healthz, /readyz, /metrics, /status) and gRPC
(with the standard health and reflection services), both behind authentication.

TLS: a server with VIGIE_TLS_CERT_FILE/KEY_FILE serves TLS (1.2+) wherever it listens, and a
server without them may only listen on loopback (checked at start). With
VIGIE_TLS_CLIENT_CA_FILE the gRPC server requires a client certificate from that CA (mutual
TLS) and the HTTP server verifies one when presented (browsers, the kubelet's probes and
citizens have none: HTTP routes then authenticate by token or session instead).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from vigie_core.auth.authenticator import Authenticator
from vigie_core.auth.model import Role, allow, public
from vigie_core.auth.rpc import AuthInterceptor, method_rules, undeclared_methods
from vigie_core.auth.web import declare, middleware, routes_of
from vigie_core.service import GrpcBinding, Health
from vigie_core.settings import CoreSettings

log = logging.getLogger(__name__)

PROBES = public("liveness and readiness probes", rate_limited=False)
SCRAPE = allow(Role.METRICS, Role.ADMIN)


def http_app(health_state: Health, status: Callable[[], dict[str, Any]],
             auth: Authenticator | None = None, *, public_metrics: bool = False,
             public_rate_per_minute: int = 30) -> web.Application:
    """The process's HTTP application. Without `auth`, nothing but the probes is reachable (no
    credential is accepted)."""
    auth = auth or Authenticator.closed()

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    async def readyz(_: web.Request) -> web.Response:
        return web.json_response({"ready": health_state.ready, "components": health_state.report()},
                                 status=200 if health_state.ready else 503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def status_view(_: web.Request) -> web.Response:
        return web.json_response(status(), dumps=lambda o: json.dumps(o, default=str))

    app = web.Application(client_max_size=1024 * 1024,
                          middlewares=[middleware(auth, public_rate_per_minute)])  # type: ignore[list-item]
    scrape = public("metrics without authentication (VIGIE_AUTH_PUBLIC_METRICS)",
                    rate_limited=False) if public_metrics else SCRAPE
    app.add_routes([declare(web.get("/healthz", healthz), PROBES),
                    declare(web.get("/readyz", readyz), PROBES),
                    declare(web.get("/metrics", metrics), scrape),
                    declare(web.get("/status", status_view), SCRAPE)])
    return app


def undeclared_routes(app: web.Application) -> list[str]:
    return [f"{r.method} {r.path}" for r in routes_of(app) if r.access is None]


def server_ssl_context(settings: CoreSettings) -> ssl.SSLContext | None:
    if not (settings.tls_cert_file and settings.tls_key_file):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(settings.tls_cert_file), str(settings.tls_key_file))
    if settings.tls_client_ca_file:
        context.load_verify_locations(str(settings.tls_client_ca_file))
        context.verify_mode = ssl.CERT_OPTIONAL  # verified when given; routes decide
    return context


async def start_http(app: web.Application, settings: CoreSettings) -> tuple[web.AppRunner, int]:
    if undeclared := undeclared_routes(app):
        log.error("HTTP routes without an access declaration, refused to everyone: %s",
                  ", ".join(undeclared))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port,
                       ssl_context=server_ssl_context(settings))
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


def server_credentials(settings: CoreSettings) -> grpc.ServerCredentials | None:
    if not (settings.tls_cert_file and settings.tls_key_file):
        return None
    client_ca = settings.tls_client_ca_file.read_bytes() if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())],
        root_certificates=client_ca, require_client_auth=client_ca is not None)


async def start_grpc(
    bindings: Sequence[GrpcBinding], health_state: Health, settings: CoreSettings,
    auth: Authenticator | None = None,
) -> tuple[grpc.aio.Server, int]:
    """A grpc.aio server: every service NOT_SERVING until the runtime marks it ready, every
    call authenticated and authorised (health excepted). Without `auth` no credential is
    accepted."""
    auth = auth or Authenticator.closed()
    if undeclared := undeclared_methods(bindings):
        log.error("gRPC methods without an access declaration, refused to everyone: %s",
                  ", ".join(undeclared))
    # The transport's cap (memory per message) sits just above the largest service's own limit,
    # which the interceptor enforces per service with a clear message.
    largest = max([b.max_message_bytes for b in bindings] or [64 * 1024]) + 64 * 1024
    server = grpc.aio.server(
        interceptors=[AuthInterceptor(auth, method_rules(bindings))],
        options=[("grpc.max_receive_message_length", largest),
                 ("grpc.max_metadata_size", 16 * 1024)])
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [b.service_name for b in bindings]
    for binding in bindings:
        binding.add_to_server(binding.servicer, server)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME],
                                        server)
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    credentials = server_credentials(settings)
    if credentials is None:
        port = server.add_insecure_port(address)
    else:
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
