"""The routing policy file: channels (where alerts go) and routes (which alerts go there, when).
Each channel's settings are those of its plug-in (adapters/channels/<kind>.py), validated by
its config model.

A YAML or JSON document, read once at start (VIGIE_ALERTS_ROUTES_FILE):

    cap:                       # how CAP 1.2 messages identify us
      sender: vigie@csu.example.org
    channels:
      duty-sms:   {kind: sms, base_url: "https://api.twilio.com", account_sid: AC..,
                   auth_token_env: VIGIE_SMS_TOKEN, from_number: "+33...", to_numbers: ["+33..."]}
      vms-hook:   {kind: webhook, url: "https://vms.example.org/hooks", secret_env: VMS_SECRET}
      prefecture: {kind: cap, url: "https://cap.example.org/inbox"}
      city-bus:   {kind: kafka, topic: city.alerts.cap, format: cap}
    routes:
      - name: serious-incidents
        match: {min_severity: high, rule_kinds: [zone_intrusion, weapon_visible]}
        channels: [duty-sms, vms-hook]
        cooldown_s: 300          # per camera and rule
        rate_limit_count: 20     # at most 20 alerts per rate_limit_period_s on this route
      - name: night-watch
        match: {camera_ids: [cam-depot], time_zone: Europe/Paris,
                windows: [{start_minute: 1320, end_minute: 360}]}
        channels: [prefecture]

Routes fire on `trigger: confirmed` (the default: once the alert has its confirmations) or
`trigger: raised` (at once, for notification channels; never for face-match alerts, which always
wait for two distinct operators). Secrets never sit in the file: they are named environment
variables or files. Channel URLs must be https unless they point at a loopback address or the
channel sets allow_insecure_http.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from vigie.rules.v1.rule_pb2 import RuleKind, Severity

NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"

SEVERITY_BY_NAME = {n.removeprefix("SEVERITY_").lower(): v for n, v in Severity.items()
                    if v != Severity.SEVERITY_UNSPECIFIED}
KIND_BY_NAME = {n.removeprefix("RULE_KIND_").lower(): v for n, v in RuleKind.items()
                if v != RuleKind.RULE_KIND_UNSPECIFIED}


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, allow_insecure_http: bool) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise ValueError("URLs must not embed credentials: use the channel's secret settings")
    if parts.scheme == "http" and not (allow_insecure_http or is_loopback_host(parts.hostname)):
        raise ValueError(f"{url!r}: plain http to a non-loopback host; use https "
                         "(or set allow_insecure_http on the channel)")
    return url


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelConfig(_Model):
    """What the settings of every channel have. Each channel plug-in (adapters/channels/<kind>.py)
    extends it with its own fields and `kind: Literal["<kind>"]`."""

    kind: str = Field(description="The channel plug-in (sms, webhook, cap, kafka, ...).")
    max_attempts: int = Field(6, ge=1, le=50, description="Attempts before the delivery fails.")

    def recipients(self) -> int:
        """Deliveries per alert and route: one per recipient."""
        return 1


CHANNEL_MODELS = "channel_models"
"""Validation context key: channel kind -> its config model (the channel plug-ins' registry)."""


class ActiveWindowSpec(_Model):
    days: list[int] = Field(default_factory=list, description="ISO weekdays 1..7; empty = all.")
    start_minute: int = Field(ge=0, le=1439, description="Local start, minutes after midnight.")
    end_minute: int = Field(ge=1, le=1440, description="Local end; <= start spans midnight.")

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if any(not 1 <= d <= 7 for d in value):
            raise ValueError("days are ISO weekdays, 1 (Monday) to 7 (Sunday)")
        return value


class RouteMatch(_Model):
    rule_ids: list[str] = Field(default_factory=list, description="Only these rules; empty: any.")
    camera_ids: list[str] = Field(default_factory=list, description="Only these cameras.")
    rule_kinds: list[str] = Field(default_factory=list,
                                  description="Only these kinds, e.g. zone_intrusion.")
    min_severity: str = Field("info", description="Lowest severity routed (info..critical).")
    time_zone: str = Field("UTC", description="IANA zone of the windows.")
    windows: list[ActiveWindowSpec] = Field(
        default_factory=list, description="Active windows (raised_at, local); empty: always.")

    @field_validator("rule_kinds")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        for kind in value:
            if kind not in KIND_BY_NAME:
                raise ValueError(f"unknown rule kind {kind!r}; known: {', '.join(KIND_BY_NAME)}")
        return value

    @field_validator("min_severity")
    @classmethod
    def _severity(cls, value: str) -> str:
        if value not in SEVERITY_BY_NAME:
            raise ValueError(f"unknown severity {value!r}; known: {', '.join(SEVERITY_BY_NAME)}")
        return value


class Route(_Model):
    name: str = Field(pattern=NAME, description="Route name (in deliveries and audit records).")
    match: RouteMatch = Field(default_factory=RouteMatch, description="Which alerts.")
    channels: list[str] = Field(min_length=1, description="Channel names the alerts go to.")
    trigger: Literal["confirmed", "raised"] = Field(
        "confirmed", description="Dispatch once confirmed (default) or as soon as raised.")
    cooldown_s: float = Field(0.0, ge=0, le=7 * 86400,
                              description="Suppress alerts of the same camera and rule raised "
                                          "within this long of one already dispatched.")
    rate_limit_count: int = Field(0, ge=0, le=100000,
                                  description="At most this many alerts per period (0: no limit).")
    rate_limit_period_s: float = Field(3600.0, gt=0, le=7 * 86400,
                                       description="Period of rate_limit_count.")


class CapSettings(_Model):
    sender: str = Field("vigie@localhost", description="CAP <sender>: who issues the messages.")
    sender_name: str = Field("Vigie", description="CAP <senderName>.")
    status: Literal["Actual", "Exercise", "System", "Test", "Draft"] = Field(
        "Actual", description="CAP <status>; Exercise or Test for drills.")
    scope: Literal["Public", "Restricted", "Private"] = Field(
        "Restricted", description="CAP <scope>.")
    restriction: str = Field("Public safety services only",
                             description="CAP <restriction> (scope Restricted).")
    language: str = Field("en-US", description="CAP <language> (RFC 3066).")


class Policy(_Model):
    """Validated with the channel plug-ins' config models in the validation context
    (`CHANNEL_MODELS`), each channel by the model of its kind."""

    cap: CapSettings = Field(default_factory=CapSettings, description="CAP identity.")
    channels: dict[str, ChannelConfig] = Field(default_factory=dict, description="By name.")
    routes: list[Route] = Field(default_factory=list, description="Evaluated in order.")

    @field_validator("channels", mode="before")
    @classmethod
    def _channel_models(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, dict):
            return value  # pydantic says what is wrong
        models: dict[str, type[ChannelConfig]] = (info.context or {}).get(CHANNEL_MODELS, {})
        channels = {}
        for name, spec in value.items():
            if isinstance(spec, ChannelConfig):  # validated already
                channels[name] = spec
                continue
            kind = spec.get("kind") if isinstance(spec, dict) else None
            model = models.get(str(kind))
            if model is None:
                raise ValueError(f"channel {name!r}: unknown kind {kind!r}; known: "
                                 f"{', '.join(sorted(models)) or 'none'}")
            try:
                channels[name] = model.model_validate(spec)
            except ValidationError as exc:
                raise ValueError(f"channel {name!r} ({kind}): " + "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'])}: "
                    f"{e['msg'].removeprefix('Value error, ')}".removeprefix(": ")
                    for e in exc.errors())) from None
        return channels

    @model_validator(mode="after")
    def _references(self) -> Policy:
        for name in self.channels:
            if not re.match(NAME, name):
                raise ValueError(f"channel name {name!r}: lower-case letters, digits, - _ .")
        seen: set[str] = set()
        for route in self.routes:
            if route.name in seen:
                raise ValueError(f"route {route.name!r} defined twice")
            seen.add(route.name)
            for channel in route.channels:
                if channel not in self.channels:
                    raise ValueError(f"route {route.name!r}: no channel named {channel!r}")
        return self
