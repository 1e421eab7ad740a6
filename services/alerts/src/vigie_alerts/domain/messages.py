"""What leaves Vigie about an alert: SMS text and the JSON body of webhooks and Kafka records.

Data minimisation: external messages carry what a responder needs (what, where, when, how
serious, how confirmed, a link), never the watchlist subject of a face match, images or operator
identities.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.rules.v1.rule_pb2 import RuleKind, Severity

from vigie_alerts.domain.lifecycle import STATUS_NAMES

SMS_MAX_CHARS = 320  # two concatenated SMS segments


def kind_name(kind: int) -> str:
    return (RuleKind.Name(kind).removeprefix("RULE_KIND_").lower() if kind in RuleKind.values()
            else "unspecified")


def alert_kind(alert: AlertRaised) -> str:
    """The name of the alert's rule kind: its rule_kind_name (all a plug-in kind has), else the
    built-in kind's (alerts from before that field)."""
    return alert.rule_kind_name or kind_name(alert.rule_kind)


def severity_name(severity: int) -> str:
    return (Severity.Name(severity).removeprefix("SEVERITY_").lower()
            if severity in Severity.values() else "unspecified")


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sms_reference(alert_id: str, delivery_id: str) -> str:
    """What an SMS is known by, per alert and recipient: the alert's prefix (operators find it
    in the console) and a tag of the delivery (which the provider lookup searches for)."""
    return f"Ref {alert_id[:12]}-{delivery_id[:6]}"


def sms_text(alert: AlertRaised, camera_name: str, confirmations: int, console_url: str,
             reference: str = "", repeat: bool = False) -> str:
    """The reference and link come last and are never cut: the title gives way first.
    `repeat`: this may be a second copy (an earlier attempt's outcome is unknown)."""
    title = alert.title or alert_kind(alert).replace("_", " ")
    when = alert.raised_at.ToDatetime(UTC).strftime("%H:%M:%S UTC")
    head = (f"{'POSSIBLE REPEAT - ' if repeat else ''}"
            f"Vigie {severity_name(alert.severity).upper()}: {title} - "
            f"{camera_name or alert.camera_id} at {when}, confirmed by {confirmations} "
            "operator(s).")
    tail = f" {reference or 'Ref ' + alert.alert_id[:12]}"
    if console_url:
        tail += f" {console_url.rstrip('/')}/alerts/console#alert={alert.alert_id}"
    return (head[:max(0, SMS_MAX_CHARS - len(tail))] + tail)[:SMS_MAX_CHARS]


def alert_payload(alert: AlertRaised, *, event: str, status: int, confirmations: int,
                  required: int, camera_name: str, sent_at: datetime) -> dict[str, Any]:
    """The JSON document of webhooks and `format: json` Kafka channels."""
    body: dict[str, Any] = {
        "type": event,  # alert.raised | alert.confirmed
        "sent_at": iso(sent_at),
        "alert": {
            "alert_id": alert.alert_id,
            "rule_id": alert.rule_id,
            "rule_kind": alert_kind(alert),
            "severity": severity_name(alert.severity),
            "title": alert.title,
            "camera_id": alert.camera_id,
            "camera_name": camera_name,
            "started_at": iso(alert.started_at.ToDatetime(UTC)),
            "raised_at": iso(alert.raised_at.ToDatetime(UTC)),
            "face_match": alert.rule_kind == RuleKind.RULE_KIND_FACE_MATCH,
            "track_ids": list(alert.track_ids),
            "boxes": [[round(b.x_min, 4), round(b.y_min, 4), round(b.x_max, 4), round(b.y_max, 4)]
                      for b in alert.boxes],
        },
        "status": STATUS_NAMES.get(status, "unspecified"),
        "confirmations": confirmations,
        "required_confirmations": required,
    }
    if alert.HasField("geo"):
        body["alert"]["geo"] = {"lat_deg": alert.geo.lat_deg, "lon_deg": alert.geo.lon_deg}
    return body
