"""Webhook channel: the alert's JSON document POSTed, signed with HMAC-SHA256
(X-Vigie-Signature), with an Idempotency-Key (the delivery id) that stays the same across
retries, so a receiver that processed a request whose answer was lost recognises the retry."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from vigie_alerts.adapters.channels.base import Channel, Context, Kit, Outcome
from vigie_alerts.adapters.channels.documents import json_document
from vigie_alerts.adapters.channels.http import HttpChannelConfig, post, read_secret
from vigie_alerts.domain.policy import check_url

log = logging.getLogger(__name__)


class WebhookConfig(HttpChannelConfig):
    """JSON POST signed with HMAC-SHA256 (X-Vigie-Signature), with an Idempotency-Key that stays
    the same across retries of one delivery."""

    kind: Literal["webhook"] = Field(description="Signed JSON webhook.")
    url: str = Field(description="Endpoint receiving the POST.")
    secret_env: str | None = Field(None, description="Environment variable with the HMAC key.")
    secret_file: Path | None = Field(None, description="File holding the HMAC key.")

    @model_validator(mode="after")
    def _checks(self) -> WebhookConfig:
        check_url(self.url, self.allow_insecure_http)
        if not (self.secret_env or self.secret_file):
            raise ValueError("a webhook must be signed: set secret_env or secret_file")
        return self


class WebhookChannel(Channel):
    config_model = WebhookConfig
    config: WebhookConfig

    async def start(self, kit: Kit) -> None:
        await super().start(kit)
        self.key = read_secret(self.config.secret_env, self.config.secret_file)
        if self.key is None:
            log.error("channel %s: its secret is not set; its deliveries will fail", self.name)

    async def send(self, ctx: Context) -> Outcome:
        if self.key is None:
            return Outcome(False, False, "signing secret not set")
        return await post(self.kit, self.config.url, self.config.timeout_s, ctx,
                          json_document(ctx), "application/json", self.key)


CHANNEL = WebhookChannel
