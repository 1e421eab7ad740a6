"""CAP channel: the alert as CAP 1.2 XML POSTed to an emergency system (signed like webhooks
when a secret is set), certainty `Observed` once confirmed."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from vigie_alerts.adapters.channels.base import Channel, Context, Kit, Outcome
from vigie_alerts.adapters.channels.documents import cap_document
from vigie_alerts.adapters.channels.http import HttpChannelConfig, post, read_secret
from vigie_alerts.domain.policy import check_url


class CapConfig(HttpChannelConfig):
    """CAP 1.2 XML POSTed to an emergency system (signed like webhooks when a secret is set)."""

    kind: Literal["cap"] = Field(description="CAP 1.2 XML over HTTP POST.")
    url: str = Field(description="Endpoint receiving the CAP message.")
    secret_env: str | None = Field(None, description="Environment variable with the HMAC key.")
    secret_file: Path | None = Field(None, description="File holding the HMAC key.")

    @model_validator(mode="after")
    def _checks(self) -> CapConfig:
        check_url(self.url, self.allow_insecure_http)
        return self


class CapChannel(Channel):
    config_model = CapConfig
    config: CapConfig

    async def start(self, kit: Kit) -> None:
        await super().start(kit)
        self.key = read_secret(self.config.secret_env, self.config.secret_file)

    async def send(self, ctx: Context) -> Outcome:
        return await post(self.kit, self.config.url, self.config.timeout_s, ctx,
                          cap_document(ctx, self.kit.cap_identity),
                          "application/xml; charset=utf-8", self.key)


CHANNEL = CapChannel
