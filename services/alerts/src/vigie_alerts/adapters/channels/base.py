"""The contract of an alert channel plug-in: one `send` per delivery, answered by an Outcome.

A channel is a module of this folder defining `CHANNEL`, a `Channel` subclass whose
`config_model` (a `ChannelConfig` with `kind: Literal["<kind>"]`) validates its entries of the
routing policy. The dispatcher (the outbox worker) builds one instance per configured channel,
starts it with the Kit, and calls `send` for each due delivery; it retries, audits and records
outcomes, and knows no channel by name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import aiohttp
from vigie_alerts.adapters.store import Delivery, StoredAlert
from vigie_alerts.domain.cap import CapIdentity
from vigie_alerts.domain.policy import ChannelConfig
from vigie_core.bus.base import Bus


@dataclass(frozen=True)
class Outcome:
    ok: bool
    retryable: bool = False
    error: str = ""
    doubt: bool = False  # the request may have been processed though no answer came back
    held: bool = False  # a delivery in doubt deliberately not resent: it ends `unknown`
    note: str = ""  # how a delivery in doubt was settled (shown on it, audited)


@dataclass(frozen=True)
class Context:
    """What a channel needs to render a delivery."""

    delivery: Delivery
    alert: StoredAlert
    camera_name: str
    lat_deg: float | None
    lon_deg: float | None


@dataclass(frozen=True)
class Kit:
    """What the dispatcher lends its channels."""

    http: aiohttp.ClientSession
    bus: Bus
    cap_identity: CapIdentity
    public_url: str  # for links to the console; empty: no link
    # Commit the send intent of the delivery's next attempt before its request (channels that
    # track doubt); False: the lease is lost and nothing may be sent.
    mark_sending: Callable[[Delivery], Awaitable[bool]]


class Channel:
    """One configured channel. Subclasses set `config_model` and implement `send`."""

    config_model: ClassVar[type[ChannelConfig]]
    # True: the channel commits a send intent before each request (Kit.mark_sending) and its
    # outcomes say whether the message may have gone out (`doubt`). An intent left behind puts
    # the delivery in doubt (Delivery.in_doubt_since), and a delivery whose last attempt is in
    # doubt ends `unknown`, not `failed`.
    tracks_doubt: ClassVar[bool] = False
    kit: Kit  # given by start()

    def __init__(self, name: str, config: ChannelConfig) -> None:
        self.name = name
        self.config = config

    async def start(self, kit: Kit) -> None:
        """Called once before any send (read secrets, create topics)."""
        self.kit = kit

    def not_before(self, delivery: Delivery) -> datetime | None:
        """A time before which the delivery must not be attempted (None: now is fine)."""
        return None

    async def send(self, ctx: Context) -> Outcome:
        raise NotImplementedError
