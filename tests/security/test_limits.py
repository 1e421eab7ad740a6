"""Size limits on every request, and rate limits on the public routes.

HTTP: every route (enumerated) refuses a body larger than it declares, before reading it and
before authentication. gRPC: every service refuses a request message larger than its own
`max_message_bytes`; the process's transport limit is the largest of them."""

from __future__ import annotations

import asyncio

import aiohttp
import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from vigie_core.auth.model import AUTHENTICATED
from vigie_core.auth.rpc import REFUSED_BY, bearer_metadata
from vigie_core.auth.web import routes_of
from vigie_core.bus.memory import MemoryBus
from vigie_core.runtime import start
from vigie_core.settings import CoreSettings

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def status_for_length(port: int, method: str, path: str, length: int) -> int:
    """The status a server answers to headers announcing `length` bytes, sending none."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}"
                     "\r\nContent-Type: application/octet-stream\r\n\r\n".encode())
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
        return int(line.split()[1])
    finally:
        writer.close()


async def test_every_http_route_refuses_a_body_larger_than_it_declares(system):
    problems = []
    port = system.running.http_port
    for route in routes_of(system.running.app):
        if route.method == "HEAD" or route.access is None:
            continue
        path = route.path.replace("{", "").replace("}", "")
        limit = route.access.max_body_bytes
        status = await status_for_length(port, route.method, path, limit + 1)
        if status != 413:
            problems.append(f"{route.method} {route.path} (limit {limit}): {status}")
    assert not problems, "\n".join(problems)


def oversized(method: object, size: int) -> object | None:
    """A request of `method` with a top-level string or bytes field of `size` bytes."""
    cls = message_factory.GetMessageClass(method.input_type)  # type: ignore[attr-defined]
    for field in method.input_type.fields:  # type: ignore[attr-defined]
        if field.is_repeated:
            continue
        if field.type == FieldDescriptor.TYPE_STRING:
            return cls(**{field.name: "x" * size})
        if field.type == FieldDescriptor.TYPE_BYTES:
            return cls(**{field.name: b"x" * size})
    return None


async def test_every_grpc_service_refuses_messages_above_its_own_limit(system):
    pool = descriptor_pool.Default()
    checked, problems = [], []
    async with grpc.aio.insecure_channel(system.grpc, options=[
            ("grpc.max_send_message_length", 64 * 1024 * 1024)]) as channel:
        for binding in system.running.bindings:
            service = pool.FindServiceByName(binding.service_name)
            method = next(m for m in service.methods if not m.client_streaming
                          and oversized(m, 1) is not None)
            request = oversized(method, binding.max_message_bytes + 1)
            roles = sorted(binding.roles[method.name] - {AUTHENTICATED})
            call = (channel.unary_stream if method.server_streaming else channel.unary_unary)(
                f"/{service.full_name}/{method.name}",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=lambda b: b)
            try:
                result = call(request, metadata=bearer_metadata(system.token(*roles)),
                              timeout=10)
                if method.server_streaming:
                    async for _ in result:
                        pass
                else:
                    await result
                problems.append(f"{method.full_name}: accepted")
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED \
                        or REFUSED_BY not in tuple(exc.trailing_metadata() or ()):
                    problems.append(f"{method.full_name}: {exc.code().name} {exc.details()}")
            checked.append(f"{binding.service_name} <= {binding.max_message_bytes} bytes")
    print("\n".join(checked))
    assert not problems, "\n".join(problems)
    assert len(checked) == len(system.running.bindings) >= 6


async def test_the_transport_refuses_what_no_service_would_take(system):
    largest = max(b.max_message_bytes for b in system.running.bindings)
    request = oversized(descriptor_pool.Default().FindMethodByName(
        "vigie.rules.v1.RulesService.ListRules"), largest + 128 * 1024)
    async with grpc.aio.insecure_channel(system.grpc, options=[
            ("grpc.max_send_message_length", 64 * 1024 * 1024)]) as channel:
        call = channel.unary_unary("/vigie.rules.v1.RulesService/ListRules",
                                   request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=lambda b: b)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(request, timeout=10)  # no credential even needed to be refused
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_public_routes_are_rate_limited_per_address_probes_are_not(tmp_path):
    running = await start(["ingest"], CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path,
                                                   http_public_rate_per_minute=5),
                          MemoryBus("limits"))
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{running.http_port}") as http:
            statuses = []
            for _ in range(7):
                async with http.get("/ingest/citizen") as r:
                    statuses.append(r.status)
                    retry = r.headers.get("Retry-After")
            assert statuses == [200] * 5 + [429] * 2 and retry and int(retry) >= 1
            async with http.get("/ingest/citizen.js") as r:
                assert r.status == 200  # each route its own bucket
            for _ in range(10):
                async with http.get("/readyz") as r:
                    assert r.status in (200, 503)
    finally:
        await running.stop()
