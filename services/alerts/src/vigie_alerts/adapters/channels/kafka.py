"""Kafka channel: a record per alert on a downstream topic of the same cluster (never `vigie.*`),
key camera_id, as CAP, JSON or the AlertRaised protobuf (subject removed), with CloudEvents
headers whose `ce_id` is the delivery id: a crash between the broker's ack and the record of the
outcome produces it again with the same `ce_id` (consumers deduplicate on it)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, field_validator
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie_alerts.adapters.channels.base import Channel, Context, Kit, Outcome
from vigie_alerts.adapters.channels.documents import cap_document, json_document
from vigie_alerts.domain.policy import ChannelConfig
from vigie_core.bus.base import TopicSpec

RETENTION_MS = 400 * 86400 * 1000
ACK_TIMEOUT_S = 30


class KafkaConfig(ChannelConfig):
    """Records on a Kafka topic of the same cluster for downstream systems (key camera_id)."""

    kind: Literal["kafka"] = Field(description="Records on a downstream Kafka topic.")
    topic: str = Field(pattern=r"^[A-Za-z0-9._-]{1,200}$", description="Topic to write.")
    format: Literal["cap", "json", "protobuf"] = Field(
        "json", description="Value format: CAP 1.2 XML, JSON, or the AlertRaised protobuf.")
    partitions: int = Field(6, ge=1, le=1000, description="Partitions if the topic is created.")

    @field_validator("topic")
    @classmethod
    def _not_ours(cls, value: str) -> str:
        if value.startswith("vigie."):
            raise ValueError("downstream topics must not use the vigie. prefix of Vigie's own")
        return value


class KafkaChannel(Channel):
    config_model = KafkaConfig
    config: KafkaConfig

    async def start(self, kit: Kit) -> None:
        await super().start(kit)
        await kit.bus.create_topics([TopicSpec(
            self.config.topic, self.config.partitions,
            {"cleanup.policy": "delete", "retention.ms": str(RETENTION_MS)})])

    async def send(self, ctx: Context) -> Outcome:
        if self.config.format == "cap":
            value, ctype, ce_type = (cap_document(ctx, self.kit.cap_identity), "application/xml",
                                     "org.oasis.cap.1.2")
        elif self.config.format == "json":
            value, ctype, ce_type = json_document(ctx), "application/json", "vigie.alert.json"
        else:
            alert = AlertRaised()
            alert.CopyFrom(ctx.alert.alert)
            alert.subject_id = ""  # data minimisation downstream
            value, ctype = alert.SerializeToString(deterministic=True), "application/protobuf"
            ce_type = "vigie.alerts.v1.AlertRaised"
        bus = self.kit.bus
        headers = (("ce_specversion", b"1.0"), ("ce_id", ctx.delivery.delivery_id.encode()),
                   ("ce_type", ce_type.encode()), ("ce_source", bus.source.encode()),
                   ("ce_time", datetime.now(UTC).isoformat().encode()),
                   ("content-type", ctype.encode()))
        try:
            delivery = await bus.produce(self.config.topic, ctx.alert.alert.camera_id.encode(),
                                         value, headers)
            await asyncio.wait_for(delivery, ACK_TIMEOUT_S)
        except Exception as exc:
            return Outcome(False, True, f"kafka: {type(exc).__name__}")
        return Outcome(True)


CHANNEL = KafkaChannel
