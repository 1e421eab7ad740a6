"""SMS channel: Twilio's Messages API, one message per recipient.

The API takes no idempotency key, so an attempt that may have reached the provider without its
answer being recorded (a crash during the request, a timeout, a dropped connection) leaves the
delivery *in doubt*: a send intent is committed before every request (`tracks_doubt`) and removed
with an outcome that settles it. The next attempt of a delivery in doubt waits out the request's
timeout (`not_before`), then: resends with the same Idempotency-Key if the provider honours it;
else looks the message up (the provider's list of messages to that number, searched for the
delivery's reference) and sends only if it is not there; else, when the provider cannot tell,
follows the channel's `in_doubt`: `resend` (the default: at-least-once, the text says "POSSIBLE
REPEAT") or `hold` (at-most-once: the delivery ends `unknown`). For a signal meant to make an
on-call person act, a lost SMS costs more than a recognisable double, hence the default.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urljoin, urlsplit

import aiohttp
from pydantic import Field, field_validator, model_validator
from vigie_alerts.adapters.channels.base import Channel, Context, Kit, Outcome
from vigie_alerts.adapters.channels.http import HttpChannelConfig, http_call, read_secret
from vigie_alerts.adapters.store import Delivery
from vigie_alerts.domain.messages import sms_reference, sms_text
from vigie_alerts.domain.policy import check_url
from vigie_alerts.domain.signing import IDEMPOTENCY_HEADER

log = logging.getLogger(__name__)

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
LOOKUP_MAX_BYTES = 2 * 1024 * 1024
LOOKUP_PAGES = 4  # of 50 messages to one number, newest first
LOOKUP_SKEW = timedelta(minutes=10)  # the provider's clock against ours


class SmsConfig(HttpChannelConfig):
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
    # How the next attempt of an SMS in doubt finds out; see the alerts README for what remains.
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
    def _checks(self) -> SmsConfig:
        check_url(self.base_url, self.allow_insecure_http)
        if not (self.auth_token_env or self.auth_token_file):
            raise ValueError("set auth_token_env or auth_token_file")
        return self

    def recipients(self) -> int:
        return len(self.to_numbers)


@dataclass(frozen=True)
class Lookup:
    state: Literal["sent", "absent", "unknown"]
    detail: str = ""


class SmsChannel(Channel):
    config_model = SmsConfig
    config: SmsConfig
    tracks_doubt = True

    async def start(self, kit: Kit) -> None:
        await super().start(kit)
        self.token = read_secret(self.config.auth_token_env, self.config.auth_token_file)
        if self.token is None:
            log.error("channel %s: its secret is not set; its deliveries will fail", self.name)

    @property
    def _messages_url(self) -> str:
        return (f"{self.config.base_url.rstrip('/')}/2010-04-01/Accounts/"
                f"{self.config.account_sid}/Messages.json")

    def not_before(self, delivery: Delivery) -> datetime | None:
        """An earlier request in doubt may still be on its way: ask once it would have timed
        out (unless the provider honours the Idempotency-Key: then a resend is harmless)."""
        if delivery.in_doubt_at is None or self.config.honours_idempotency_key:
            return None
        return delivery.in_doubt_at + timedelta(seconds=self.config.timeout_s)

    async def send(self, ctx: Context) -> Outcome:
        channel, delivery = self.config, ctx.delivery
        if self.token is None:
            return Outcome(False, False, "provider token not set")
        if delivery.recipient >= len(channel.to_numbers):
            return Outcome(False, False, "recipient no longer configured")
        auth = aiohttp.encode_basic_auth(channel.account_sid, self.token.decode())
        reference = sms_reference(delivery.alert_id, delivery.delivery_id)
        repeat, note = False, ""
        if delivery.in_doubt_since is not None:
            if channel.honours_idempotency_key:
                note = "in doubt: sent again with the same Idempotency-Key"
            else:
                found = (await self._lookup(ctx, reference, auth) if channel.lookup
                         else Lookup("unknown", "no lookup on this channel"))
                if found.state == "sent":
                    return Outcome(True, note=f"in doubt: found at the provider ({found.detail}),"
                                              " not resent")
                if found.state == "absent":
                    note = "in doubt: not found at the provider, sent"
                elif channel.in_doubt == "hold":
                    return Outcome(False, False, found.detail, held=True,
                                   note="in doubt, the provider cannot tell: not resent "
                                        "(in_doubt: hold); it may or may not have arrived")
                else:
                    repeat = True
                    note = (f"in doubt, the provider cannot tell ({found.detail}): resent "
                            "as a possible repeat")
        if not await self.kit.mark_sending(delivery):
            return Outcome(False, True, "lease lost before sending")
        form = {"To": channel.to_numbers[delivery.recipient], "From": channel.from_number,
                "Body": sms_text(ctx.alert.alert, ctx.camera_name, ctx.alert.confirmations,
                                 self.kit.public_url, reference, repeat)}
        outcome = await http_call(
            self.kit.http, "POST", self._messages_url, timeout_s=channel.timeout_s, data=form,
            headers={IDEMPOTENCY_HEADER: delivery.delivery_id, "Authorization": auth})
        return replace(outcome, note=note) if note else outcome

    async def _lookup(self, ctx: Context, reference: str, auth: str) -> Lookup:
        """Did the provider take this SMS? Twilio's message list to the recipient from our
        number, newest first, searched for `reference` back to the first attempt in doubt."""
        channel = self.config
        assert ctx.delivery.in_doubt_since is not None
        since = ctx.delivery.in_doubt_since - LOOKUP_SKEW
        origin = urlsplit(channel.base_url)
        url: str | None = self._messages_url
        params: dict[str, str] | None = {
            "To": channel.to_numbers[ctx.delivery.recipient], "From": channel.from_number,
            "PageSize": "50"}
        blank = False
        for _ in range(LOOKUP_PAGES):
            assert url is not None
            try:
                async with self.kit.http.get(
                        url, params=params, headers={"Authorization": auth},
                        allow_redirects=False,
                        timeout=aiohttp.ClientTimeout(total=channel.timeout_s)) as response:
                    raw = await response.content.read(LOOKUP_MAX_BYTES)
                    if response.status != 200:
                        return Lookup("unknown", f"lookup: HTTP {response.status}")
                page = json.loads(raw)
                messages = page.get("messages") if isinstance(page, dict) else None
            except TimeoutError:
                return Lookup("unknown", "lookup: no answer")
            except (aiohttp.ClientError, ValueError) as exc:
                return Lookup("unknown", f"lookup: {type(exc).__name__}")
            if not isinstance(messages, list):
                return Lookup("unknown", "lookup: not a message list")
            older = False
            for message in filter(lambda m: isinstance(m, dict), messages):
                body = str(message.get("body") or "")
                if reference in body:
                    return Lookup("sent", str(message.get("sid", ""))[:64])
                try:
                    created = parsedate_to_datetime(str(message.get("date_created")))
                except (TypeError, ValueError):
                    created = None
                if created is not None and created.tzinfo is not None and created < since:
                    older = True
                elif not body:
                    blank = True  # a message of the window whose text we cannot see
            following = page.get("next_page_uri")
            if older or not following:
                break
            url, params = urljoin(channel.base_url, str(following)), None
            if urlsplit(url)[:2] != origin[:2]:
                return Lookup("unknown", "lookup: next page elsewhere")
        else:
            return Lookup("unknown", "lookup: too many messages to that number to read")
        if blank:
            return Lookup("unknown", "lookup: message bodies hidden")
        return Lookup("absent")


CHANNEL = SmsChannel
