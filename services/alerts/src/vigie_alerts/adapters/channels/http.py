"""What HTTP channels share: their common settings, secrets, one bounded request and its
outcome, and signed POSTs (webhooks, CAP)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import Field
from vigie_alerts.adapters.channels.base import Context, Kit, Outcome
from vigie_alerts.domain.policy import ChannelConfig
from vigie_alerts.domain.signing import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    retryable_status,
    signature,
)

MAX_RESPONSE_BYTES = 64 * 1024
DOUBTFUL_STATUSES = (500, 502, 504)  # a gateway may have lost the answer of a processed request


class HttpChannelConfig(ChannelConfig):
    timeout_s: float = Field(10.0, gt=0, le=120, description="Bound on one HTTP request.")
    allow_insecure_http: bool = Field(
        False, description="Allow plain http to non-loopback hosts (not recommended).")


def read_secret(env: str | None, file: Path | None) -> bytes | None:
    """A secret from the named environment variable, else from the file (first 4 KiB)."""
    if env:
        value = os.environ.get(env)
        if value:
            return value.encode()
    if file:
        try:
            data = Path(file).read_bytes()[:4096].strip()
        except OSError:
            return None
        return data or None
    return None


async def http_call(http: aiohttp.ClientSession, method: str, url: str, *, timeout_s: float,
                    **kwargs: Any) -> Outcome:
    """One request, no redirects, its answer read up to MAX_RESPONSE_BYTES: delivered on 2xx;
    retried on timeouts, connection errors, 408/425/429/5xx; in doubt when the request may
    have been processed (a timeout, a dropped connection, 500/502/504)."""
    try:
        async with http.request(method, url, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout_s),
                                **kwargs) as response:
            await response.content.read(MAX_RESPONSE_BYTES)
            if 200 <= response.status < 300:
                return Outcome(True)
            return Outcome(False, retryable_status(response.status),
                           f"HTTP {response.status}",
                           doubt=response.status in DOUBTFUL_STATUSES)
    except TimeoutError:
        return Outcome(False, True, f"no answer within {timeout_s:g} s", doubt=True)
    except aiohttp.ClientConnectorError as exc:  # never connected: nothing was sent
        return Outcome(False, True, f"{type(exc).__name__}")
    except aiohttp.ClientError as exc:  # e.g. dropped after the request went out
        return Outcome(False, True, f"{type(exc).__name__}", doubt=True)


async def post(kit: Kit, url: str, timeout_s: float, ctx: Context, body: bytes,
               content_type: str, key: bytes | None) -> Outcome:
    """POST `body` with the delivery's Idempotency-Key (the same on every retry), signed with
    `key` when given (X-Vigie-Signature)."""
    headers = {"Content-Type": content_type,
               IDEMPOTENCY_HEADER: ctx.delivery.delivery_id,
               "X-Vigie-Alert-Id": ctx.delivery.alert_id,
               "X-Vigie-Event": ("alert.confirmed" if ctx.delivery.trigger == "confirmed"
                                 else "alert.raised")}
    if key is not None:
        headers[SIGNATURE_HEADER] = signature(key, int(time.time()), body)
    return await http_call(kit.http, "POST", url, timeout_s=timeout_s, data=body,
                           headers=headers)
