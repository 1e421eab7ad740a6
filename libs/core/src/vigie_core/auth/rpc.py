"""gRPC: the server interceptor that authenticates and authorises every call, and the client
side (channels with TLS, a client certificate and a bearer token).

Each service's `GrpcBinding` declares the roles of each of its methods; the standard health
service is public (probes), server reflection needs any authenticated caller, and a method
with no declaration is refused (PERMISSION_DENIED), so a new RPC cannot be served by accident.
Refusals by this layer carry the trailing metadata `vigie-refused-by: auth`. Request messages
larger than the binding's `max_message_bytes` are refused with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health
from grpc_reflection.v1alpha import reflection

from vigie_core.auth.authenticator import ACCEPTED, REFUSED, Authenticator, bearer
from vigie_core.auth.certs import identity_from_pem
from vigie_core.auth.model import (
    AUTHENTICATED,
    OPERATOR_METADATA,
    Access,
    Actor,
    Identity,
    actor_of,
    public,
)
from vigie_core.settings import CoreSettings, is_loopback

log = logging.getLogger(__name__)

REFUSED_BY = ("vigie-refused-by", "auth")
_CURRENT: contextvars.ContextVar[Identity | None] = contextvars.ContextVar(
    "vigie_grpc_identity", default=None)

HEALTH_ACCESS = public("health probes (grpc.health.v1)", rate_limited=False)
REFLECTION_ACCESS = Access(roles=frozenset({AUTHENTICATED}))


@dataclass(frozen=True)
class MethodRule:
    access: Access
    max_message_bytes: int


def method_rules(bindings: Sequence[Any]) -> dict[str, MethodRule]:
    """Full method path -> rule, for every method of every binding (undeclared methods get no
    rule and are refused), plus health and reflection."""
    from google.protobuf import descriptor_pool

    rules: dict[str, MethodRule] = {}
    pool = descriptor_pool.Default()
    for binding in bindings:
        service = pool.FindServiceByName(binding.service_name)
        for method in service.methods:
            allowed = binding.roles.get(method.name)
            if allowed:
                rules[f"/{service.full_name}/{method.name}"] = MethodRule(
                    Access(roles=frozenset(allowed)), binding.max_message_bytes)
    for name in ("Check", "Watch"):
        rules[f"/{health.SERVICE_NAME}/{name}"] = MethodRule(HEALTH_ACCESS, 4096)
    # List (every service's status at once) is for callers who authenticated, as reflection.
    rules[f"/{health.SERVICE_NAME}/List"] = MethodRule(REFLECTION_ACCESS, 4096)
    rules[f"/{reflection.SERVICE_NAME}/ServerReflectionInfo"] = MethodRule(
        REFLECTION_ACCESS, 64 * 1024)
    return rules


def undeclared_methods(bindings: Sequence[Any]) -> list[str]:
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.Default()
    return [f"{b.service_name}/{m.name}" for b in bindings
            for m in pool.FindServiceByName(b.service_name).methods if not b.roles.get(m.name)]


def current_identity() -> Identity | None:
    """The caller of the RPC being handled (set by the interceptor)."""
    return _CURRENT.get()


def declared_operator(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key in OPERATOR_METADATA:
            return (value.decode(errors="replace") if isinstance(value, bytes)
                    else str(value)).strip()
    return ""


def caller(context: grpc.aio.ServicerContext) -> Actor | None:
    """Who the call acts for: the person calling, or the person a machine names in
    `x-vigie-operator` (then `via` is the machine), or the machine itself. None when a person
    names someone else or the name is malformed."""
    return actor_of(current_identity(), declared_operator(context))


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, authenticator: Authenticator, rules: Mapping[str, MethodRule]) -> None:
        self.authenticator = authenticator
        self.rules = rules

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler  # unknown method: UNIMPLEMENTED
        method = handler_call_details.method
        return _wrap(handler, self, method, self.rules.get(method))

    async def admit(self, context: grpc.aio.ServicerContext, method: str,
                    rule: MethodRule | None) -> Identity | None:
        if rule is None:
            await self._refuse(context, "undeclared", grpc.StatusCode.PERMISSION_DENIED,
                               f"{method} declares no access: refused")
        assert rule is not None
        if rule.access.public:
            return None
        identity = await self.identify(context)
        if not identity.may(rule.access.roles):
            have = ", ".join(sorted(identity.roles)) or "no role"
            await self._refuse(context, "forbidden", grpc.StatusCode.PERMISSION_DENIED,
                               f"{identity.name} ({have}) may not call {method}: needs "
                               f"{rule.access.describe()}")
        ACCEPTED.labels("grpc", identity.kind).inc()
        return identity

    async def identify(self, context: grpc.aio.ServicerContext) -> Identity:
        values = [v for k, v in context.invocation_metadata() or () if k == "authorization"]
        token = bearer(str(values[-1])) if values else None
        if token is not None:
            identity = await self.authenticator.from_token(token)
            if identity is None:
                await self._refuse(context, "bad_token", grpc.StatusCode.UNAUTHENTICATED,
                                   "unknown, expired or revoked token")
            assert identity is not None
            return identity
        auth = context.auth_context() or {}
        pems = auth.get("x509_pem_cert") or []
        if pems:
            return identity_from_pem(bytes(pems[0]))
        await self._refuse(context, "unauthenticated", grpc.StatusCode.UNAUTHENTICATED,
                           "authenticate: 'authorization: Bearer <token>' metadata "
                           "(vigie tokens create) or a client certificate")
        raise AssertionError("unreachable")

    async def _refuse(self, context: grpc.aio.ServicerContext, reason: str,
                      code: grpc.StatusCode, message: str) -> None:
        REFUSED.labels("grpc", reason).inc()
        await context.abort(code, message, trailing_metadata=(REFUSED_BY,))

    async def too_large(self, context: grpc.aio.ServicerContext, size: int,
                        limit: int) -> None:
        REFUSED.labels("grpc", "too_large").inc()
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                            f"request message of {size} bytes; at most {limit}",
                            trailing_metadata=(REFUSED_BY,))


def _size(message: Any) -> int:
    return int(message.ByteSize()) if hasattr(message, "ByteSize") else 0


def _wrap(handler: grpc.RpcMethodHandler, guard: AuthInterceptor, method: str,
          rule: MethodRule | None) -> grpc.RpcMethodHandler:
    limit = rule.max_message_bytes if rule else 0

    async def admit(context: grpc.aio.ServicerContext) -> None:
        _CURRENT.set(await guard.admit(context, method, rule))

    async def checked(message: Any, context: grpc.aio.ServicerContext) -> None:
        if limit and (size := _size(message)) > limit:
            await guard.too_large(context, size, limit)

    async def limited(iterator: AsyncIterator[Any], context: grpc.aio.ServicerContext
                      ) -> AsyncIterator[Any]:
        async for message in iterator:
            await checked(message, context)
            yield message

    kwargs = {"request_deserializer": handler.request_deserializer,
              "response_serializer": handler.response_serializer}
    if handler.unary_unary:
        inner_uu = handler.unary_unary

        async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await admit(context)
            await checked(request, context)
            return await inner_uu(request, context)
        return grpc.unary_unary_rpc_method_handler(unary_unary, **kwargs)
    if handler.unary_stream:
        inner_us = handler.unary_stream

        async def unary_stream(request: Any, context: grpc.aio.ServicerContext
                               ) -> AsyncIterator[Any]:
            await admit(context)
            await checked(request, context)
            async for response in inner_us(request, context):
                yield response

        async def unary_stream_writes(request: Any, context: grpc.aio.ServicerContext) -> None:
            await admit(context)  # a handler that answers with context.write()
            await checked(request, context)
            await inner_us(request, context)
        return grpc.unary_stream_rpc_method_handler(
            unary_stream if inspect.isasyncgenfunction(inner_us) else unary_stream_writes,
            **kwargs)
    if handler.stream_unary:
        inner_su = handler.stream_unary

        async def stream_unary(requests: AsyncIterator[Any],
                               context: grpc.aio.ServicerContext) -> Any:
            await admit(context)
            return await inner_su(limited(requests, context), context)
        return grpc.stream_unary_rpc_method_handler(stream_unary, **kwargs)
    inner_ss = handler.stream_stream

    async def stream_stream(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
                            ) -> AsyncIterator[Any]:
        await admit(context)
        async for response in inner_ss(limited(requests, context), context):
            yield response

    async def stream_stream_writes(requests: AsyncIterator[Any],
                                   context: grpc.aio.ServicerContext) -> None:
        await admit(context)
        await inner_ss(limited(requests, context), context)
    return grpc.stream_stream_rpc_method_handler(
        stream_stream if inspect.isasyncgenfunction(inner_ss) else stream_stream_writes,
        **kwargs)


# -- client side ----------------------------------------------------------------------------------
class _Metadata:
    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.pairs = tuple(pairs)

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*tuple(details.metadata or ()))
        present = {k for k, _ in metadata}
        for key, value in self.pairs:
            if key not in present:
                metadata.add(key, value)
        return details._replace(metadata=metadata)


class _UnaryUnary(_Metadata, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any,
                                    request: Any) -> Any:
        return await continuation(self._details(client_call_details), request)


class _UnaryStream(_Metadata, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any,
                                     request: Any) -> Any:
        return await continuation(self._details(client_call_details), request)


class _StreamUnary(_Metadata, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_unary(self, continuation: Any, client_call_details: Any,
                                     request_iterator: Any) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


class _StreamStream(_Metadata, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_stream(self, continuation: Any, client_call_details: Any,
                                      request_iterator: Any) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


def metadata_interceptors(pairs: Sequence[tuple[str, str]]) -> list[grpc.aio.ClientInterceptor]:
    """Client interceptors adding `pairs` to every call of a grpc.aio channel (unless the call
    sets the key itself)."""
    return [cls(pairs) for cls in (_UnaryUnary, _UnaryStream, _StreamUnary, _StreamStream)]


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def read_token(core: CoreSettings) -> str | None:
    """The token this process presents: VIGIE_AUTH_TOKEN_FILE, else the embedded runtime's
    local token when it exists and is readable."""
    path = core.local_token_file if core.auth_token_file is None else core.auth_token_file
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        if core.auth_token_file is not None:
            raise
        return None


def _host(target: str) -> str:
    host = target.rsplit(":", 1)[0] if ":" in target else target
    return host.removeprefix("dns:///").strip("[]")


@dataclass(frozen=True)
class ClientTls:
    root: bytes | None
    key: bytes | None
    chain: bytes | None

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.root, self.key, self.chain)


def client_tls(core: CoreSettings, target: str, *, own_server: bool = False) -> ClientTls | None:
    """TLS settings to reach `target`, or None for plaintext (loopback targets without a
    configured CA; `own_server`: this process's own server, TLS iff it serves TLS)."""
    roots: Path | None
    cert: Path | None
    key: Path | None
    if own_server:
        if not core.tls_cert_file:
            return None
        roots = core.tls_ca_file or core.tls_client_ca_file
        cert, key = (core.tls_client_cert_file or core.tls_cert_file,
                     core.tls_client_key_file or core.tls_key_file)
    else:
        if is_loopback(_host(target)) and not (core.tls_ca_file or core.tls_client_cert_file):
            return None
        roots, cert, key = core.tls_ca_file, core.tls_client_cert_file, core.tls_client_key_file

    def read(path: Path | None) -> bytes | None:
        return path.read_bytes() if path else None
    return ClientTls(read(roots), read(key), read(cert))


def channel(target: str, core: CoreSettings, *, token: str | None = None,
            own_server: bool = False,
            options: Sequence[tuple[str, Any]] = ()) -> grpc.aio.Channel:
    """A grpc.aio channel to another Vigie service: TLS (and the client certificate) as
    configured, and the bearer token (`token`, else VIGIE_AUTH_TOKEN_FILE) on every call."""
    token = token if token is not None else read_token(core)
    interceptors = metadata_interceptors(bearer_metadata(token)) if token else None
    tls = client_tls(core, target, own_server=own_server)
    if tls is None:
        return grpc.aio.insecure_channel(target, options=list(options),
                                         interceptors=interceptors)
    return grpc.aio.secure_channel(target, tls.credentials(), options=list(options),
                                   interceptors=interceptors)


def sync_channel(target: str, core: CoreSettings) -> grpc.Channel:
    """The same for the blocking client of the vigie commands (they pass `call_metadata`)."""
    tls = client_tls(core, target)
    if tls is None:
        return grpc.insecure_channel(target)
    return grpc.secure_channel(target, tls.credentials())


def call_metadata(core: CoreSettings) -> tuple[tuple[str, str], ...]:
    token = read_token(core)
    return bearer_metadata(token) if token else ()
