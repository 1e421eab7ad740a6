"""The documents channels send about an alert: CAP 1.2 XML and the JSON body (webhooks, Kafka).
Both are rendered the same on every retry (their time is the delivery's creation), so
signatures of one delivery all sign the same bytes."""

from __future__ import annotations

import json
from datetime import UTC

from vigie_alerts.adapters.channels.base import Context
from vigie_alerts.domain.cap import CapAlert, CapIdentity, render_cap
from vigie_alerts.domain.messages import alert_payload
from vigie_alerts.domain.policy import CapSettings


def cap_identity(settings: CapSettings, public_url: str) -> CapIdentity:
    """How our CAP messages identify us (the policy's `cap` section, a link to the console)."""
    return CapIdentity(sender=settings.sender, sender_name=settings.sender_name,
                       status=settings.status, scope=settings.scope,
                       restriction=settings.restriction, language=settings.language,
                       web=f"{public_url.rstrip('/')}/alerts/console" if public_url else "")


def cap_document(ctx: Context, identity: CapIdentity) -> bytes:
    alert = ctx.alert.alert
    return render_cap(CapAlert(
        alert_id=alert.alert_id, title=alert.title, rule_kind=alert.rule_kind,
        severity=alert.severity, raised_at=alert.raised_at.ToDatetime(UTC),
        camera_id=alert.camera_id, camera_name=ctx.camera_name, lat_deg=ctx.lat_deg,
        lon_deg=ctx.lon_deg, confirmed=ctx.delivery.trigger == "confirmed",
        confirmations=ctx.alert.confirmations, kind_name=alert.rule_kind_name), identity,
        ctx.delivery.created_at)


def json_document(ctx: Context) -> bytes:
    event = "alert.confirmed" if ctx.delivery.trigger == "confirmed" else "alert.raised"
    body = alert_payload(ctx.alert.alert, event=event, status=ctx.alert.status,
                         confirmations=ctx.alert.confirmations, required=ctx.alert.required,
                         camera_name=ctx.camera_name, sent_at=ctx.delivery.created_at)
    body["delivery_id"] = ctx.delivery.delivery_id
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
