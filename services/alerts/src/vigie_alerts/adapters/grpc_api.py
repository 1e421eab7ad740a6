"""gRPC: vigie.alerts.v1.AlertsService and vigie.audit.v1.AuditService.

Every call is authenticated by vigie_core's interceptor: an account's personal API token
(`vigie alerts token create --login L`, `authorization: Bearer vgt_...`, resolved by this
service), a client token of the deployment's token store (`vigie tokens create`) or a client
certificate. Each method declares the roles holding its permission (`ROLES`, from roles.py),
exactly as the console does. DecideAlert is for persons only (an account's token), and its
`operator` (and `role`), when given, must be the caller's own: nobody decides in someone
else's name.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from datetime import UTC

import grpc
from vigie.alerts.v1 import alerts_service_pb2 as pb
from vigie.alerts.v1 import alerts_service_pb2_grpc as pb_grpc
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.audit.v1 import audit_service_pb2 as audit_pb
from vigie.audit.v1 import audit_service_pb2_grpc as audit_grpc
from vigie.audit.v1.audit_pb2 import AuditRecorded
from vigie_alerts.adapters.live import LiveEvent, LiveHub
from vigie_alerts.adapters.store import AlertQuery, Database, StoredAlert
from vigie_alerts.app import AlertDesk, DecisionRefused
from vigie_alerts.domain.roles import Permission, allowed, roles_with
from vigie_core.audit import read_audit, verify_chain
from vigie_core.auth.model import Identity
from vigie_core.auth.rpc import current_identity
from vigie_core.bus.base import Bus

log = logging.getLogger(__name__)

ALERTS_SERVICE = "vigie.alerts.v1.AlertsService"
AUDIT_SERVICE = "vigie.audit.v1.AuditService"
MAX_PAGE = 500
MAX_AUDIT_PAGE = 1000
HISTORY_PAGES_MAX = 200  # StreamAlerts replays at most 200 x 500 alerts before going live

_REFUSAL_CODES = {"not_found": grpc.StatusCode.NOT_FOUND,
                  "permission": grpc.StatusCode.PERMISSION_DENIED,
                  "invalid": grpc.StatusCode.INVALID_ARGUMENT,
                  "precondition": grpc.StatusCode.FAILED_PRECONDITION}


ROLES = {"StreamAlerts": roles_with(Permission.VIEW_FEED),
         "ListAlerts": roles_with(Permission.VIEW_HISTORY),
         "DecideAlert": roles_with(Permission.DECIDE)}
AUDIT_ROLES = {"ListAuditRecords": roles_with(Permission.VIEW_AUDIT),
               "VerifyChain": roles_with(Permission.VIEW_AUDIT)}
MAX_MESSAGE_BYTES = 256 * 1024


class Authenticator:
    """The caller of an RPC (authenticated by the interceptor) and the role it acts with."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def resolve_token(self, token: str) -> Identity | None:
        """A personal API token (vgt_...) of an active account, for the process authenticator."""
        user = await self.db(self.db.store.accounts.token_user, token)
        if user is None:
            return None
        return Identity(user.login, frozenset({user.role}), "account")

    async def identity(self, context: grpc.aio.ServicerContext,
                       permission: Permission, person: bool = False) -> tuple[str, str]:
        caller = current_identity()
        if caller is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                "missing 'authorization: Bearer <token>' metadata "
                                "(vigie alerts token create)")
        assert caller is not None
        role = next((r for r in sorted(caller.roles) if allowed(r, permission)), None)
        if role is None:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"the {', '.join(sorted(caller.roles))} role may not "
                                f"{permission.value}")
        if person and not caller.person:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                "decisions are taken by persons: use a console account's "
                                "personal token (vigie alerts token create)")
        assert role is not None
        return caller.name, role


def query_of(f: pb.AlertFilter) -> AlertQuery:
    return AlertQuery(camera_ids=list(f.camera_ids), severities=list(f.severities),
                      rule_kinds=list(f.rule_kinds),
                      since=f.since.ToDatetime(UTC) if f.HasField("since") else None)


def matches(f: pb.AlertFilter, alert: AlertRaised) -> bool:
    if f.camera_ids and alert.camera_id not in f.camera_ids:
        return False
    if f.severities and alert.severity not in f.severities:
        return False
    if f.rule_kinds and alert.rule_kind not in f.rule_kinds:
        return False
    return not (f.HasField("since") and alert.raised_at.ToDatetime(UTC)
                < f.since.ToDatetime(UTC))


def record_of(stored: StoredAlert, decisions: list[object]) -> pb.AlertRecord:
    return pb.AlertRecord(alert=stored.alert, decisions=decisions,  # type: ignore[arg-type]
                          status=stored.status)  # type: ignore[arg-type]


class AlertsServicer(pb_grpc.AlertsServiceServicer):
    def __init__(self, db: Database, hub: LiveHub, desk: AlertDesk, auth: Authenticator,
                 page_size_default: int) -> None:
        self.db, self.history = db, db.store.history
        self.hub, self.desk, self.auth = hub, desk, auth
        self.page_size_default = page_size_default

    async def StreamAlerts(self, request: pb.StreamAlertsRequest,
                           context: grpc.aio.ServicerContext
                           ) -> AsyncIterator[pb.StreamAlertsResponse]:
        await self.auth.identity(context, Permission.VIEW_FEED)
        f = request.filter

        def accept(event: LiveEvent) -> bool:
            return (event.alert is not None and event.kind in ("alert", "decision", "snapshot")
                    and matches(f, event.alert.alert))

        subscriber = self.hub.subscribe(accept)
        sent: set[str] = set()
        try:
            if f.HasField("since"):
                cursor = ""
                for _ in range(HISTORY_PAGES_MAX):
                    page, cursor = await self.db(self.history.list_alerts, query_of(f), MAX_PAGE,
                                                 cursor, False)
                    decisions = await self.db(self.history.decisions_for,
                                              [s.alert.alert_id for s in page])
                    for stored in page:
                        yield pb.StreamAlertsResponse(alert=stored.alert)
                        for decision in decisions[stored.alert.alert_id]:
                            sent.add(decision.decision_id)
                            yield pb.StreamAlertsResponse(decision=decision)
                        sent.add(stored.alert.alert_id)
                    if not cursor:
                        break
            while True:
                event = await subscriber.next()
                if event is None:
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                        "the stream fell too far behind; reconnect with since")
                    return
                assert event.alert is not None
                if event.kind == "decision" and event.decision is not None:
                    if event.decision.decision_id in sent:
                        continue
                    sent.add(event.decision.decision_id)
                    yield pb.StreamAlertsResponse(decision=event.decision)
                elif event.kind == "alert" and event.alert.alert.alert_id in sent:
                    continue
                else:  # a new alert, or an alert again with its snapshot
                    sent.add(event.alert.alert.alert_id)
                    yield pb.StreamAlertsResponse(alert=event.alert.alert)
        finally:
            self.hub.unsubscribe(subscriber)

    async def ListAlerts(self, request: pb.ListAlertsRequest,
                         context: grpc.aio.ServicerContext) -> pb.ListAlertsResponse:
        await self.auth.identity(context, Permission.VIEW_HISTORY)
        if request.page_size < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "page_size must be >= 0")
        size = min(request.page_size or self.page_size_default, MAX_PAGE)
        query = query_of(request.filter)
        if request.HasField("until"):
            query = AlertQuery(**{**query.__dict__, "until": request.until.ToDatetime(UTC)})
        try:
            page, cursor = await self.db(self.history.list_alerts, query, size,
                                         request.page_token)
        except ValueError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "invalid page_token")
            raise
        decisions = await self.db(self.history.decisions_for, [s.alert.alert_id for s in page])
        return pb.ListAlertsResponse(
            alerts=[record_of(s, list(decisions[s.alert.alert_id])) for s in page],
            next_page_token=cursor)

    async def DecideAlert(self, request: pb.DecideAlertRequest,
                          context: grpc.aio.ServicerContext) -> pb.DecideAlertResponse:
        login, role = await self.auth.identity(context, Permission.DECIDE, person=True)
        if request.operator and request.operator != login:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                "operator must be the authenticated caller")
        if request.role and request.role != role:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"role must be the caller's own ({role})")
        if not request.alert_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "alert_id is required")
        try:
            result = await self.desk.decide(login, role, request.alert_id, request.decision,
                                            request.reason)
        except DecisionRefused as exc:
            await context.abort(_REFUSAL_CODES[exc.kind], str(exc))
            raise
        return pb.DecideAlertResponse(decision=result.decision,
                                      status=result.status,  # type: ignore[arg-type]
                                      confirmations=result.confirmations)


def _page_token(index: int) -> str:
    return base64.urlsafe_b64encode(f"a:{index}".encode()).decode()


def _page_index(token: str) -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token.encode()).decode()
        if not raw.startswith("a:"):
            raise ValueError
        return max(0, int(raw[2:]))
    except Exception as exc:
        raise ValueError("invalid page_token") from exc


def select_audit(records: list[AuditRecorded], request: audit_pb.ListAuditRecordsRequest
                 ) -> list[AuditRecorded]:
    out = []
    for r in records:
        if request.chain and r.chain != request.chain:
            continue
        if request.from_sequence and r.sequence < request.from_sequence:
            continue
        if request.actions and r.action not in request.actions:
            continue
        if request.actor and r.actor != request.actor:
            continue
        if request.HasField("since") and r.occurred_at.ToDatetime(UTC) \
                < request.since.ToDatetime(UTC):
            continue
        if request.HasField("until") and r.occurred_at.ToDatetime(UTC) \
                >= request.until.ToDatetime(UTC):
            continue
        out.append(r)
    return out


def verify(records: list[AuditRecorded], chain: str, from_sequence: int,
           to_sequence: int) -> audit_pb.VerifyChainResponse:
    chains: dict[str, list[AuditRecorded]] = {}
    for r in records:
        chains.setdefault(r.chain, []).append(r)
    names = [chain] if chain else sorted(chains)
    response = audit_pb.VerifyChainResponse(valid=True)
    for name in names:
        items = chains.get(name, [])
        if to_sequence:
            items = [r for r in items if r.sequence <= to_sequence]
        result = verify_chain(items, name, from_sequence=max(1, from_sequence))
        response.chains.append(audit_pb.ChainVerification(
            chain=name, valid=result.valid, records_checked=result.records_checked,
            first_invalid_sequence=result.first_invalid_sequence, error=result.error,
            head_hash=result.head_hash))
        response.records_checked += result.records_checked
        if not result.valid and response.valid:
            response.valid = False
            response.first_invalid_sequence = result.first_invalid_sequence
            response.error = f"{name}: {result.error}"
    if len(names) == 1 and response.chains:
        response.head_hash = response.chains[0].head_hash
    return response


class AuditServicer(audit_grpc.AuditServiceServicer):
    def __init__(self, bus: Bus, auth: Authenticator) -> None:
        self.bus, self.auth = bus, auth

    async def ListAuditRecords(self, request: audit_pb.ListAuditRecordsRequest,
                               context: grpc.aio.ServicerContext
                               ) -> audit_pb.ListAuditRecordsResponse:
        await self.auth.identity(context, Permission.VIEW_AUDIT)
        if request.page_size < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "page_size must be >= 0")
        try:
            start = _page_index(request.page_token)
        except ValueError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "invalid page_token")
            raise
        size = min(request.page_size or 100, MAX_AUDIT_PAGE)
        selected = select_audit(await read_audit(self.bus), request)
        page = selected[start:start + size]
        token = _page_token(start + size) if start + size < len(selected) else ""
        return audit_pb.ListAuditRecordsResponse(records=page, next_page_token=token)

    async def VerifyChain(self, request: audit_pb.VerifyChainRequest,
                          context: grpc.aio.ServicerContext) -> audit_pb.VerifyChainResponse:
        await self.auth.identity(context, Permission.VIEW_AUDIT)
        if request.to_sequence and request.to_sequence < request.from_sequence:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "to_sequence must not be below from_sequence")
        return verify(await read_audit(self.bus), request.chain, request.from_sequence,
                      request.to_sequence)


def add_alerts(servicer: AlertsServicer, server: grpc.aio.Server) -> None:
    pb_grpc.add_AlertsServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]


def add_audit(servicer: AuditServicer, server: grpc.aio.Server) -> None:
    audit_grpc.add_AuditServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
