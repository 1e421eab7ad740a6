"""The routing policy file: channels (where alerts go) and routes (which alerts go there, when).

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
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from vigie.rules.v1.rule_pb2 import RuleKind, Severity

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
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


class _HttpChannel(_Model):
    timeout_s: float = Field(10.0, gt=0, le=120, description="Bound on one HTTP request.")
    max_attempts: int = Field(6, ge=1, le=50, description="Attempts before the delivery fails.")
    allow_insecure_http: bool = Field(
        False, description="Allow plain http to non-loopback hosts (not recommended).")


class SmsChannel(_HttpChannel):
    """An HTTP SMS API. provider "twilio": POST {base_url}/2010-04-01/Accounts/{account_sid}/
    Messages.json, form fields To, From, Body, HTTP basic auth account_sid:token."""

    kind: Literal["sms"] = Field(description="SMS through a provider's HTTP API.")
    provider: Literal["twilio"] = Field("twilio", description="API dialect of the provider.")
    base_url: str = Field(description="Provider API root, e.g. https://api.twilio.com.")
    account_sid: str = Field(pattern=r"^[A-Za-z0-9]{1,64}$", description="Provider account id.")
    auth_token_env: str | None = Field(None, description="Environment variable with the token.")
    auth_token_file: Path | None = Field(None, description="File holding the token.")
    from_number: str = Field(description="Sender number, E.164.")
    to_numbers: list[str] = Field(min_length=1, max_length=50,
                                  description="Recipients, E.164; one message each.")
    # An SMS is "in doubt" when an attempt may have reached the provider without its answer
    # being recorded (a crash during the request, a timeout, a dropped connection). These say
    # how the next attempt finds out; see the alerts README for what remains.
    honours_idempotency_key: bool = Field(
        False, description="The provider (or a gateway in front of it) sends no second message "
                           "for a repeated Idempotency-Key header (the delivery id): an SMS in "
                           "doubt is simply sent again with the same key.")
    lookup: bool = Field(
        True, description="Before sending an SMS in doubt again, ask the provider whether it "
                          "has it: its message list to that recipient (Twilio: GET "
                          "Messages.json?To=&From=), searched for the delivery's reference. "
                          "Turn off if the provider redacts message bodies.")
    in_doubt: Literal["resend", "hold"] = Field(
        "resend", description="When the provider cannot tell: resend (at-least-once; the text "
                              "says it may be a repeat) or hold (at-most-once; the delivery "
                              "ends 'unknown', shown on the alert and audited).")

    @field_validator("from_number")
    @classmethod
    def _from_e164(cls, value: str) -> str:
        if not E164.match(value):
            raise ValueError("from_number must be an E.164 number such as +33612345678")
        return value

    @field_validator("to_numbers")
    @classmethod
    def _to_e164(cls, value: list[str]) -> list[str]:
        for i, number in enumerate(value):
            if not E164.match(number):
                raise ValueError(f"to_numbers[{i}] is not an E.164 number")
        return value

    @model_validator(mode="after")
    def _checks(self) -> SmsChannel:
        check_url(self.base_url, self.allow_insecure_http)
        if not (self.auth_token_env or self.auth_token_file):
            raise ValueError("set auth_token_env or auth_token_file")
        return self


class WebhookChannel(_HttpChannel):
    """JSON POST signed with HMAC-SHA256 (X-Vigie-Signature), with an Idempotency-Key that stays
    the same across retries of one delivery."""

    kind: Literal["webhook"] = Field(description="Signed JSON webhook.")
    url: str = Field(description="Endpoint receiving the POST.")
    secret_env: str | None = Field(None, description="Environment variable with the HMAC key.")
    secret_file: Path | None = Field(None, description="File holding the HMAC key.")

    @model_validator(mode="after")
    def _checks(self) -> WebhookChannel:
        check_url(self.url, self.allow_insecure_http)
        if not (self.secret_env or self.secret_file):
            raise ValueError("a webhook must be signed: set secret_env or secret_file")
        return self


class CapChannel(_HttpChannel):
    """CAP 1.2 XML POSTed to an emergency system (signed like webhooks when a secret is set)."""

    kind: Literal["cap"] = Field(description="CAP 1.2 XML over HTTP POST.")
    url: str = Field(description="Endpoint receiving the CAP message.")
    secret_env: str | None = Field(None, description="Environment variable with the HMAC key.")
    secret_file: Path | None = Field(None, description="File holding the HMAC key.")

    @model_validator(mode="after")
    def _checks(self) -> CapChannel:
        check_url(self.url, self.allow_insecure_http)
        return self


class KafkaChannel(_Model):
    """Records on a Kafka topic of the same cluster for downstream systems (key camera_id)."""

    kind: Literal["kafka"] = Field(description="Records on a downstream Kafka topic.")
    topic: str = Field(pattern=r"^[A-Za-z0-9._-]{1,200}$", description="Topic to write.")
    format: Literal["cap", "json", "protobuf"] = Field(
        "json", description="Value format: CAP 1.2 XML, JSON, or the AlertRaised protobuf.")
    partitions: int = Field(6, ge=1, le=1000, description="Partitions if the topic is created.")
    max_attempts: int = Field(6, ge=1, le=50, description="Attempts before the delivery fails.")

    @field_validator("topic")
    @classmethod
    def _not_ours(cls, value: str) -> str:
        if value.startswith("vigie."):
            raise ValueError("downstream topics must not use the vigie. prefix of Vigie's own")
        return value


Channel = Annotated[SmsChannel | WebhookChannel | CapChannel | KafkaChannel,
                    Field(discriminator="kind")]


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
    cap: CapSettings = Field(default_factory=CapSettings, description="CAP identity.")
    channels: dict[str, Channel] = Field(default_factory=dict, description="By name.")
    routes: list[Route] = Field(default_factory=list, description="Evaluated in order.")

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
