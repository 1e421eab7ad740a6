"""Webhook signatures and the retry schedule: pure functions.

Signature header (the scheme Stripe and others use, so receivers know it):

    X-Vigie-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>

The timestamp is signed with the body, so a captured request cannot be replayed later than the
receiver's tolerance (default 5 minutes). `verify` accepts several v1 values (key rotation).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Vigie-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE_S = 300


def signature(key: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(key: bytes, header: str, body: bytes, now: int,
           tolerance_s: int = DEFAULT_TOLERANCE_S) -> bool:
    """True when `header` holds a v1 signature of `body` by `key`, made within tolerance."""
    timestamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            macs.append(value)
    if timestamp is None or not macs or abs(now - timestamp) > tolerance_s:
        return False
    expected = signature(key, timestamp, body).rsplit("v1=", 1)[1]
    return any(hmac.compare_digest(expected, mac) for mac in macs)


def retry_delay_s(attempt: int, base_s: float, cap_s: float, jitter: float = 0.0) -> float:
    """Delay before attempt `attempt + 1` after `attempt` failed (1-based): exponential from
    base_s, capped at cap_s, scaled by (1 + jitter) with jitter in [-0.5, 0.5] chosen by the
    caller (so this stays deterministic)."""
    delay = min(cap_s, base_s * 2 ** max(0, attempt - 1))
    return float(max(0.0, delay * (1 + max(-0.5, min(0.5, jitter)))))


def retryable_status(status: int) -> bool:
    """HTTP statuses worth retrying: timeouts, rate limiting and server errors. Other 4xx mean
    the request itself is refused, and repeating it cannot help."""
    return status in (408, 425, 429) or status >= 500
