"""Every gRPC method and every HTTP route of every installed service, enumerated from the running
system (not from a list kept by hand), called three ways: without credentials (refused), with a
token holding every role except the ones the endpoint declares (refused), and with the declared
roles (let through by the auth layer, whatever the endpoint then answers).

A new RPC or route without an access declaration fails here (and is refused at run time). Making
an endpoint public means adding it to PUBLIC_* below, where a reviewer sees it.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from vigie_core.auth.model import AUTHENTICATED, ROLES
from vigie_core.auth.rpc import REFUSED_BY, bearer_metadata, method_rules
from vigie_core.auth.web import REFUSED_HEADER, routes_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Open by nature, and nothing else: health probes, the citizen endpoints, the console's page
# and its sign-in. Each is rate-limited (probes excepted) and size-capped (test_limits.py).
PUBLIC_GRPC = {"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"}
PUBLIC_HTTP = {
    ("GET", "/healthz"), ("GET", "/readyz"),
    ("POST", "/ingest/uploads"), ("POST", "/ingest/whip"),
    ("DELETE", "/ingest/whip/{session_id}"),
    ("GET", "/ingest/citizen"), ("GET", "/ingest/citizen.js"), ("GET", "/ingest/citizen.css"),
    ("GET", "/alerts/"), ("GET", "/alerts/console"), ("GET", "/alerts/console.js"),
    ("GET", "/alerts/console.css"), ("POST", "/alerts/api/session"),
}
# Media: images of people, always behind a role that may see them.
MEDIA = {"/alerts/api/alerts/{alert_id}/snapshot.jpg", "/alerts/api/cameras/{camera_id}/frame.jpg"}


def grpc_methods(system: Any) -> dict[str, Any]:
    """Full method path -> (descriptor, rule) for every method the server registered."""
    pool = descriptor_pool.Default()
    rules = method_rules(system.running.bindings)
    out = {}
    names = [b.service_name for b in system.running.bindings] + [
        "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"]
    for name in names:
        for method in pool.FindServiceByName(name).methods:
            path = f"/{name}/{method.name}"
            out[path] = (method, rules.get(path))
    return out


async def call(target: str, method: Any, metadata: tuple[tuple[str, str], ...]
               ) -> tuple[grpc.StatusCode, bool]:
    """(status, refused by the auth layer) of one call with an empty request."""
    request = message_factory.GetMessageClass(method.input_type)()
    reply = message_factory.GetMessageClass(method.output_type)
    path = f"/{method.containing_service.full_name}/{method.name}"
    kwargs = {"request_serializer": lambda m: m.SerializeToString(),
              "response_deserializer": reply.FromString}
    async with grpc.aio.insecure_channel(target) as channel:
        try:
            if method.client_streaming and method.server_streaming:
                stream = channel.stream_stream(path, **kwargs)(iter([request]), metadata=metadata,
                                                               timeout=3)
                async for _ in stream:
                    pass
            elif method.client_streaming:
                await channel.stream_unary(path, **kwargs)(iter([request]), metadata=metadata,
                                                           timeout=3)
            elif method.server_streaming:
                async for _ in channel.unary_stream(path, **kwargs)(request, metadata=metadata,
                                                                    timeout=3):
                    pass
            else:
                await channel.unary_unary(path, **kwargs)(request, metadata=metadata, timeout=3)
        except grpc.aio.AioRpcError as exc:
            trailing = tuple(exc.trailing_metadata() or ())
            return exc.code(), REFUSED_BY in trailing
    return grpc.StatusCode.OK, False


def others(allowed: frozenset[str]) -> list[str]:
    return sorted(ROLES - allowed)


async def test_reflection_lists_exactly_the_services_the_table_covers(system):
    async with grpc.aio.insecure_channel(system.grpc) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        listed = set()
        async for reply in stub.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                metadata=bearer_metadata(system.token("auditor"))):
            listed = {s.name for s in reply.list_services_response.service}
    covered = {path.split("/")[1] for path in grpc_methods(system)}
    assert listed == covered
    assert {"vigie.ingest.v1.IngestService", "vigie.detect.v1.DetectService",
            "vigie.face.v1.FaceService", "vigie.rules.v1.RulesService",
            "vigie.alerts.v1.AlertsService", "vigie.audit.v1.AuditService"} <= listed


async def test_every_grpc_method_refuses_the_unauthenticated_and_the_wrong_roles(system):
    problems, table = [], []
    for path, (method, rule) in sorted(grpc_methods(system).items()):
        if rule is None:
            problems.append(f"{path}: no access declaration")
            continue
        table.append(f"{path:62} {rule.access.describe()}")
        if rule.access.public:
            if path not in PUBLIC_GRPC:
                problems.append(f"{path}: public but not in PUBLIC_GRPC")
            code, refused = await call(system.grpc, method, ())
            if refused:
                problems.append(f"{path}: public, yet refused ({code.name})")
            continue
        if path in PUBLIC_GRPC:
            problems.append(f"{path}: expected public")
        code, refused = await call(system.grpc, method, ())
        if not (refused and code == grpc.StatusCode.UNAUTHENTICATED):
            problems.append(f"{path}: without credentials -> {code.name}")
        code, refused = await call(system.grpc, method, bearer_metadata("vgc_" + "x" * 43))
        if not (refused and code == grpc.StatusCode.UNAUTHENTICATED):
            problems.append(f"{path}: with an unknown token -> {code.name}")
        if AUTHENTICATED not in rule.access.roles:
            wrong = others(rule.access.roles)
            code, refused = await call(system.grpc, method,
                                       bearer_metadata(system.token(*wrong)))
            if not (refused and code == grpc.StatusCode.PERMISSION_DENIED):
                problems.append(f"{path}: roles {wrong} -> {code.name}")
        right = sorted(rule.access.roles - {AUTHENTICATED}) or ["auditor"]
        code, refused = await call(system.grpc, method, bearer_metadata(system.token(*right)))
        if refused:
            problems.append(f"{path}: roles {right} refused by the auth layer ({code.name})")
    print("\n".join(table))
    assert not problems, "\n".join(problems)
    assert len(table) >= 22  # every service's RPCs were enumerated, not just health


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


async def request(http: aiohttp.ClientSession, method: str, url: str,
                  headers: dict[str, str]) -> tuple[int, bool]:
    async with http.request(method, url, headers=headers, allow_redirects=False) as r:
        return r.status, r.headers.get(REFUSED_HEADER) == "auth"


async def test_every_http_route_refuses_the_unauthenticated_and_the_wrong_roles(system):
    problems, table = [], []
    routes = list(routes_of(system.running.app))  # HEAD too (aiohttp adds it to GETs)
    async with aiohttp.ClientSession() as http:
        for route in sorted(routes, key=lambda r: (r.path, r.method)):
            key = ("GET" if route.method == "HEAD" else route.method, route.path)
            url = system.http + concrete(route.path)
            if route.access is None:
                problems.append(f"{route.method} {route.path}: no access declaration")
                status, refused = await request(http, route.method, url, {})
                if not (refused and status == 403):
                    problems.append(f"{route.method} {route.path}: undeclared yet {status}")
                continue
            table.append(f"{route.method:6} {route.path:48} {route.access.describe()}")
            if route.access.public:
                if key not in PUBLIC_HTTP:
                    problems.append(f"{route.method} {route.path}: public, not in PUBLIC_HTTP")
                if route.path in MEDIA:
                    problems.append(f"{route.path}: media must never be public")
                continue
            if key in PUBLIC_HTTP:
                problems.append(f"{route.method} {route.path}: expected public")
            status, refused = await request(http, route.method, url, {})
            if not (refused and status == 401):
                problems.append(f"{route.method} {route.path}: without credentials -> {status}")
            bad = {"Authorization": "Bearer vgc_" + "x" * 43}
            status, refused = await request(http, route.method, url, bad)
            if not (refused and status == 401):
                problems.append(f"{route.method} {route.path}: unknown token -> {status}")
            if AUTHENTICATED not in route.access.roles:
                wrong = others(route.access.roles)
                status, refused = await request(http, route.method, url, {
                    "Authorization": f"Bearer {system.token(*wrong)}"})
                if not (refused and status == 403):
                    problems.append(f"{route.method} {route.path}: roles {wrong} -> {status}")
            right = sorted(route.access.roles - {AUTHENTICATED}) or ["auditor"]
            status, refused = await request(http, route.method, url, {
                "Authorization": f"Bearer {system.token(*right)}"})
            if refused:
                problems.append(f"{route.method} {route.path}: roles {right} refused ({status})")
    print("\n".join(table))
    assert not problems, "\n".join(problems)
    paths = {line.split()[1] for line in table}
    assert {"GET", "HEAD", "POST", "DELETE"} == {line.split()[0] for line in table}
    assert MEDIA <= paths and {"/metrics", "/status", "/alerts/api/users"} <= paths


async def test_media_paths_need_a_role_that_may_see_images(system):
    """Snapshots and camera frames: operators and supervisors only; auditors, administrators,
    integrators and scrapers are refused (faces, even blurred, are personal data)."""
    by_path = {r.path: r.access for r in routes_of(system.running.app) if r.method == "GET"}
    for path in MEDIA:
        assert by_path[path] is not None
        assert by_path[path].roles == {"operator", "supervisor"}, path
