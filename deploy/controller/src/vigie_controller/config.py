"""Controller settings: VIGIE_CONTROLLER_* environment variables (core VIGIE_* settings apply too:
Kafka bootstrap, HTTP listener and TLS, logging)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIE_CONTROLLER_", extra="ignore")

    namespaces: str = Field("", description="Comma-separated namespaces whose Camera and Rule "
                                            "resources are synced; empty: every namespace.")
    resync_s: float = Field(300.0, ge=5, le=86400, description="Full relist, topic re-read and "
                                                               "reconcile every this many seconds.")
    watch_timeout_s: int = Field(300, ge=10, le=3600, description="Server-side timeout of one "
                                                                  "watch request, seconds.")
    debounce_s: float = Field(0.2, ge=0, le=10, description="Watch events arriving within this "
                                                            "many seconds are reconciled together.")
    retry_s: float = Field(5.0, gt=0, le=300, description="Wait before retrying after a failed "
                                                          "publish, status write or list.")
    kubeconfig: str | None = Field(None, description="kubeconfig file (outside a cluster); unset: "
                                                     "the pod's service account, else ~/.kube.")

    @property
    def namespace_list(self) -> list[str]:
        return [n.strip() for n in self.namespaces.split(",") if n.strip()]
