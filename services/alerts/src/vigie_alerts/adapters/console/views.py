"""The console's JSON shapes of alerts, decisions, deliveries, rules and audit records."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from vigie.alerts.v1.decision_pb2 import AlertDecided
from vigie.audit.v1.audit_pb2 import AuditAction, AuditRecorded
from vigie.rules.v1.rule_pb2 import Rule, RuleKind
from vigie_alerts.adapters.store import Delivery, StoredAlert
from vigie_alerts.domain import lifecycle
from vigie_alerts.domain.camera_health import BEFORE, VIEW_PROBLEM_ATTRIBUTE
from vigie_alerts.domain.drawing import RuleKindInfo
from vigie_alerts.domain.messages import alert_kind, iso, kind_name, severity_name
from vigie_alerts.domain.roles import Permission, allowed

ACTION_NAMES = {v: n.removeprefix("AUDIT_ACTION_").lower() for n, v in AuditAction.items()}


def ts(message: Any, name: str) -> str | None:
    return iso(getattr(message, name).ToDatetime(UTC)) if message.HasField(name) else None


def alert_json(stored: StoredAlert, role: str,
               place: tuple[str, float | None, float | None]) -> dict[str, Any]:
    """An alert as `role` may see it; `place`: its camera's name and position."""
    a = stored.alert
    name, lat, lon = place
    if a.HasField("geo"):
        lat, lon = a.geo.lat_deg, a.geo.lon_deg
    has_snapshot = bool(stored.snapshot_path) and stored.evidence_deleted_at is None
    before = stored.evidence(BEFORE)
    body: dict[str, Any] = {
        "alert_id": a.alert_id, "title": a.title,
        "kind": alert_kind(a),
        "severity": severity_name(a.severity), "rule_id": a.rule_id,
        "camera_id": a.camera_id, "camera_name": name, "lat": lat, "lon": lon,
        "raised_at": ts(a, "raised_at"), "started_at": ts(a, "started_at"),
        "status": lifecycle.STATUS_NAMES.get(stored.status, "unspecified"),
        "confirmations": stored.confirmations, "required": stored.required,
        "face_match": a.rule_kind == RuleKind.RULE_KIND_FACE_MATCH,
        "boxes": [[round(b.x_min, 4), round(b.y_min, 4), round(b.x_max, 4),
                   round(b.y_max, 4)] for b in a.boxes],
        "track_ids": list(a.track_ids), "attributes": dict(a.attributes),
        "frame_id": a.frame_id, "has_snapshot": has_snapshot,
        "evidence_locked": stored.evidence_locked,
        "evidence_deleted": stored.evidence_deleted_at is not None,
        # camera tampering: the view problem, and the camera's reference view before it
        "view_problem": a.attributes.get(VIEW_PROBLEM_ATTRIBUTE, ""),
        "has_before": before is not None and before.available,
        "before_deleted": before is not None and before.deleted_at is not None,
    }
    if allowed(role, Permission.VIEW_FEED):
        body["subject_id"] = a.subject_id
    if has_snapshot and allowed(role, Permission.VIEW_SNAPSHOT):
        body["snapshot_url"] = f"/alerts/api/alerts/{a.alert_id}/snapshot.jpg"
        body["snapshot_sha256"] = stored.snapshot_sha256
    if before is not None and before.available and allowed(role, Permission.VIEW_SNAPSHOT):
        body["before_url"] = f"/alerts/api/alerts/{a.alert_id}/before.jpg"
        body["before_sha256"] = before.sha256
    return body


def decision_json(d: AlertDecided) -> dict[str, Any]:
    return {"decision_id": d.decision_id, "alert_id": d.alert_id, "operator": d.operator,
            "role": d.role, "decision": lifecycle.DECISION_NAMES.get(d.decision, "unspecified"),
            "reason": d.reason, "decided_at": ts(d, "decided_at")}


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {"route": d.route, "channel": d.channel, "kind": d.kind, "trigger": d.trigger,
            "status": d.status, "reason": d.reason, "attempts": d.attempts,
            "last_error": d.last_error, "created_at": iso(d.created_at),
            "delivered_at": iso(d.delivered_at) if d.delivered_at else None}


def rule_json(rule: Rule) -> dict[str, Any]:
    return {"rule_id": rule.rule_id, "name": rule.name, "camera_id": rule.camera_id,
            "kind": rule.kind_name or kind_name(rule.kind),
            "severity": severity_name(rule.severity),
            "enabled": rule.enabled, "created_by": rule.created_by,
            "zone": [[p.x, p.y] for p in rule.geometry.zone],
            "line": ([[rule.geometry.line.start.x, rule.geometry.line.start.y],
                      [rule.geometry.line.end.x, rule.geometry.line.end.y]]
                     if rule.geometry.HasField("line") else None),
            "valid_until": ts(rule.schedule, "valid_until")}


def rule_kind_json(kind: RuleKindInfo) -> dict[str, Any]:
    return {"name": kind.name, "title": kind.title, "geometry": kind.geometry,
            "fields": kind.editor_fields, "required_fields": sorted(kind.required_fields),
            "description": kind.description}


def audit_json(r: AuditRecorded) -> dict[str, Any]:
    return {"chain": r.chain, "sequence": r.sequence, "event_id": r.event_id,
            "occurred_at": ts(r, "occurred_at"), "actor": r.actor,
            "action": ACTION_NAMES.get(r.action, str(r.action)),
            "subject_ref": r.subject_ref, "details": dict(sorted(r.details.items())),
            "hash": r.hash.hex(), "prev_hash": r.prev_hash.hex()}
