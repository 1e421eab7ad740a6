"""The zone editor's client of vigie.rules.v1.RulesService (served by the rules service: in the
embedded runtime on this very process's gRPC server): the rule kinds it knows, and the rules.
Every call has a deadline; those that change rules name the operator acting
(`x-vigie-operator` metadata), whom the rules service records as the actor of its RULE_CHANGE
audit record."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from vigie.rules.v1 import rules_service_pb2 as pb
from vigie.rules.v1 import rules_service_pb2_grpc as pb_grpc
from vigie.rules.v1.rule_pb2 import Rule
from vigie_alerts.domain.drawing import RuleKindInfo


class RulesUnavailable(RuntimeError):
    """The rules service could not be reached or failed; the message says what to tell the
    operator."""


class RuleRejected(ValueError):
    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {message}" if path else message
                                   for path, message in errors))
        self.errors = errors


class RulesClient:
    """`channel_factory` makes the channel to `target` (TLS, client certificate, bearer token:
    the service sets it from its settings); without one, plaintext and no credential."""

    def __init__(self, target: str, timeout_s: float,
                 channel_factory: Callable[[str], grpc.aio.Channel] | None = None) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.channel_factory = channel_factory or grpc.aio.insecure_channel
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.RulesServiceStub | None = None

    def _rules(self) -> pb_grpc.RulesServiceStub:
        if self._stub is None:
            self._channel = self.channel_factory(self.target)
            self._stub = pb_grpc.RulesServiceStub(self._channel)  # type: ignore[no-untyped-call]
        return self._stub

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    def _unavailable(self, exc: grpc.aio.AioRpcError) -> RulesUnavailable:
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            return RulesUnavailable("the rules service is not running here (RulesService "
                                    f"unimplemented at {self.target})")
        return RulesUnavailable(f"rules service at {self.target}: {exc.code().name}: "
                                f"{exc.details() or ''}".strip())

    @staticmethod
    def _who(operator: str) -> tuple[tuple[str, str], ...]:
        return (("x-vigie-operator", operator),) if operator else ()

    async def kinds(self) -> list[RuleKindInfo]:
        """The rule kinds the rules service knows (built in and plug-ins)."""
        try:
            reply = await self._rules().ListRuleKinds(pb.ListRuleKindsRequest(),
                                                      timeout=self.timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise self._unavailable(exc) from None
        return [RuleKindInfo(k.name, k.kind, k.title or k.name.replace("_", " ").capitalize(),
                             k.geometry, frozenset(k.required_fields),
                             frozenset(k.optional_fields), k.description)
                for k in reply.kinds]

    async def validate(self, rule: Rule, operator: str = "") -> list[tuple[str, str]]:
        try:
            reply = await self._rules().ValidateRule(pb.ValidateRuleRequest(rule=rule),
                                                     timeout=self.timeout_s,
                                                     metadata=self._who(operator))
        except grpc.aio.AioRpcError as exc:
            raise self._unavailable(exc) from None
        return [(e.field_path, e.message) for e in reply.errors]

    async def put(self, rule: Rule, operator: str = "") -> Rule:
        errors = await self.validate(rule, operator)
        if errors:
            raise RuleRejected(errors)
        try:
            reply = await self._rules().PutRule(pb.PutRuleRequest(rule=rule),
                                                timeout=self.timeout_s,
                                                metadata=self._who(operator))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise RuleRejected([("", exc.details() or "invalid rule")]) from None
            raise self._unavailable(exc) from None
        stored: Rule = reply.rule
        return stored

    async def list(self, camera_id: str = "", limit_pages: int = 20) -> list[Rule]:
        rules: list[Rule] = []
        token = ""
        for _ in range(limit_pages):
            try:
                reply = await self._rules().ListRules(
                    pb.ListRulesRequest(camera_id=camera_id, page_size=200, page_token=token),
                    timeout=self.timeout_s)
            except grpc.aio.AioRpcError as exc:
                raise self._unavailable(exc) from None
            rules.extend(reply.rules)
            token = reply.next_page_token
            if not token:
                break
        return rules

    async def delete(self, rule_id: str, operator: str = "") -> None:
        try:
            await self._rules().DeleteRule(pb.DeleteRuleRequest(rule_id=rule_id),
                                           timeout=self.timeout_s,
                                           metadata=self._who(operator))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return
            raise self._unavailable(exc) from None
