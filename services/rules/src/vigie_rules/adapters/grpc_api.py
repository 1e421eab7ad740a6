"""RulesService over gRPC: rule management for integrators and the operator console.

Rules live on the compacted topic vigie.rules.v1 (key rule_id). PutRule and DeleteRule validate,
publish (a tombstone to delete), wait until Kafka has the record, record a RULE_CHANGE audit event
and fold the change into this instance's view at once, so a ListRules right after a PutRule on
the same instance sees it (other instances see it when their view consumes the record).

ListRuleKinds answers the registry of rule kinds (domain/kinds/): what editors offer and draw.

Who may call what (`ROLES`, enforced by vigie_core's interceptor): operators, supervisors,
administrators and Vigie services (the console's zone editor) change rules; auditors and
integrators may also list and validate them, and list the kinds. The change is recorded for the
person calling, or for the person a machine names in `x-vigie-operator` (the audit record keeps
the machine as `via`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import grpc
from google.protobuf import json_format
from prometheus_client import Counter
from vigie.audit.v1.audit_pb2 import AuditAction
from vigie.rules.v1 import rules_service_pb2 as pb
from vigie.rules.v1 import rules_service_pb2_grpc as pb_grpc
from vigie.rules.v1.rule_pb2 import Rule, Severity
from vigie_core.audit import AuditLog
from vigie_core.auth.model import Role, roles
from vigie_core.auth.rpc import caller, current_identity
from vigie_core.view import CompactedView

from vigie_rules.domain.kind import Kind
from vigie_rules.domain.kinds import KINDS, kind_named, kind_of
from vigie_rules.domain.spec import rule_problems

PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_RULE_BYTES = 64 * 1024

PublishRule = Callable[[str, Rule | None], Awaitable[None]]
MAX_MESSAGE_BYTES = MAX_RULE_BYTES + 16 * 1024
_WRITERS = roles(Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN, Role.SERVICE)
_READERS = _WRITERS | roles(Role.AUDITOR, Role.INTEGRATOR)
ROLES = {"PutRule": _WRITERS, "DeleteRule": _WRITERS, "ListRules": _READERS,
         "ValidateRule": _READERS, "ListRuleKinds": _READERS}

REFUSED = Counter("vigie_rules_api_refused_total",
                  "RulesService requests refused, by reason.", ["reason"])
CHANGES = Counter("vigie_rules_api_changes_total", "Rules created, replaced or deleted.",
                  ["change"])

_FIELD = re.compile(r"^(?:rules\[\d+\][^:]*: )?([A-Za-z_][\w.\[\]]*): (.*)$", re.S)


def validation_errors(rule: Rule, now: datetime) -> list[pb.ValidationError]:
    """The rule's problems as field path + message (the YAML spec's paths)."""
    errors = []
    for problem in rule_problems(rule):
        match = _FIELD.match(problem)
        path, message = (match.group(1), match.group(2)) if match else ("", problem)
        errors.append(pb.ValidationError(field_path=path, message=message))
    if rule.schedule.HasField("valid_until") and rule.schedule.valid_until.ToDatetime(
            tzinfo=UTC) <= now:
        errors.append(pb.ValidationError(field_path="schedule.valid_until",
                                         message="the validity period has already ended"))
    return errors


def _with_defaults(requested: Rule) -> Rule:
    """A copy with the YAML spec's defaults where the request left a field unset, and the kind
    both by enum value and by name when the request gave one of them."""
    rule = Rule()
    rule.CopyFrom(requested)
    if rule.severity == Severity.SEVERITY_UNSPECIFIED:
        rule.severity = Severity.SEVERITY_MEDIUM
    if not rule.kind_name and (kind := kind_of(rule)) is not None:
        rule.kind_name = kind.name
    elif not rule.kind and (kind := kind_named(rule.kind_name)) is not None:
        rule.kind = kind.enum
    return rule


def kind_info(kind: Kind) -> pb.RuleKindInfo:
    """A registry kind as ListRuleKinds answers it (no default classes: every class)."""
    return pb.RuleKindInfo(
        name=kind.name, kind=kind.enum, title=kind.title, geometry=kind.geometry,
        required_fields=kind.required, optional_fields=kind.optional,
        default_classes=sorted(kind.default_classes or ()),
        involves_persons=kind.involves_persons, description=kind.description)


def _caller(context: grpc.aio.ServicerContext) -> str:
    """The person the change is for (a person naming someone else is recorded as
    themselves)."""
    actor = caller(context)
    if actor is None:
        identity = current_identity()
        return identity.name if identity else ""
    return actor.name[:100]


def _via() -> dict[str, str]:
    identity = current_identity()
    return {"via": identity.name} if identity is not None and not identity.person \
        and identity.kind != "internal" else {}


def _kind_slug(rule: Rule) -> str:
    kind = kind_of(rule)
    return kind.name.replace("_", "-") if kind is not None else "rule"


async def _refuse(context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str,
                  reason: str) -> None:
    REFUSED.labels(reason).inc()
    await context.abort(code, message)


class RulesServicer(pb_grpc.RulesServiceServicer):
    def __init__(self, rules: CompactedView[Rule], publish_rule: PublishRule,
                 audit: AuditLog) -> None:
        self.rules, self.publish_rule, self.audit = rules, publish_rule, audit

    async def PutRule(self, request: pb.PutRuleRequest,
                      context: grpc.aio.ServicerContext) -> pb.PutRuleResponse:
        if request.ByteSize() > MAX_RULE_BYTES:
            await _refuse(context, grpc.StatusCode.INVALID_ARGUMENT,
                          f"rule larger than {MAX_RULE_BYTES // 1024} KiB", "too_large")
        now = datetime.now(UTC)
        rule = _with_defaults(request.rule)
        if not rule.rule_id:
            rule.rule_id = f"{rule.camera_id or 'all'}-{_kind_slug(rule)}-{uuid.uuid4().hex[:8]}"
        if errors := validation_errors(rule, now):
            await _refuse(context, grpc.StatusCode.INVALID_ARGUMENT,
                          "; ".join(f"{e.field_path}: {e.message}" if e.field_path else e.message
                                    for e in errors), "invalid")
        rule.updated_at.FromDatetime(now)
        rule.created_by = rule.created_by or _caller(context) or "grpc"
        replaced = self.rules.get(rule.rule_id) is not None
        await self.publish_rule(rule.rule_id, rule)
        await self.audit.record(
            AuditAction.AUDIT_ACTION_RULE_CHANGE, f"rule:{rule.rule_id}",
            actor=f"operator:{_caller(context) or rule.created_by}",
            event_id=f"{rule.rule_id}@{rule.updated_at.ToJsonString()}",
            details={**_via(), "change": "replaced" if replaced else "created",
                     "camera_id": rule.camera_id, "kind": _kind_slug(rule),
                     "enabled": str(rule.enabled).lower(),
                     "valid_until": (rule.schedule.valid_until.ToJsonString()
                                     if rule.schedule.HasField("valid_until") else "permanent")})
        self.rules.apply(rule.rule_id, rule)
        CHANGES.labels("replaced" if replaced else "created").inc()
        return pb.PutRuleResponse(rule=rule)

    async def DeleteRule(self, request: pb.DeleteRuleRequest,
                         context: grpc.aio.ServicerContext) -> pb.DeleteRuleResponse:
        current = self.rules.get(request.rule_id)
        if current is None:
            await _refuse(context, grpc.StatusCode.NOT_FOUND, f"no rule {request.rule_id!r}",
                          "not_found")
        assert current is not None
        await self.publish_rule(request.rule_id, None)
        await self.audit.record(
            AuditAction.AUDIT_ACTION_RULE_CHANGE, f"rule:{request.rule_id}",
            actor=f"operator:{_caller(context) or 'grpc'}",
            details={**_via(), "change": "deleted", "camera_id": current.camera_id,
                     "kind": _kind_slug(current),
                     "rule": json_format.MessageToJson(current, indent=None)[:2000]})
        self.rules.apply(request.rule_id, None)
        CHANGES.labels("deleted").inc()
        return pb.DeleteRuleResponse()

    async def ListRules(self, request: pb.ListRulesRequest,
                        context: grpc.aio.ServicerContext) -> pb.ListRulesResponse:
        if request.page_size < 0:
            await _refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "page_size must be >= 0",
                          "invalid")
        size = min(request.page_size or PAGE_SIZE, MAX_PAGE_SIZE)
        chosen = [r for r in self.rules
                  if r.rule_id > request.page_token
                  and (not request.camera_id or r.camera_id == request.camera_id)]
        page = chosen[:size]
        token = page[-1].rule_id if len(chosen) > size else ""
        return pb.ListRulesResponse(rules=page, next_page_token=token)

    async def ValidateRule(self, request: pb.ValidateRuleRequest,
                           context: grpc.aio.ServicerContext) -> pb.ValidateRuleResponse:
        rule = _with_defaults(request.rule)
        if not rule.rule_id:
            rule.rule_id = "unnamed"  # PutRule would assign one
        return pb.ValidateRuleResponse(errors=validation_errors(rule, datetime.now(UTC)))

    async def ListRuleKinds(self, request: pb.ListRuleKindsRequest,
                            context: grpc.aio.ServicerContext) -> pb.ListRuleKindsResponse:
        return pb.ListRuleKindsResponse(kinds=[kind_info(k) for k in KINDS])


def add_to_server(servicer: RulesServicer, server: grpc.aio.Server) -> None:
    pb_grpc.add_RulesServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]


SERVICE_NAME = pb.DESCRIPTOR.services_by_name["RulesService"].full_name
