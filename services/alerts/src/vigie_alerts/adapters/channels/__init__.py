"""Alert channels as plug-ins, found in this folder: every module defining `CHANNEL` (a
`base.Channel` subclass) is one, registered under its config model's `kind`. Adding a channel is
adding a module here (see base.py for the contract); nothing else names channels.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from typing import Any, get_args

from vigie_alerts.adapters.channels.base import Channel
from vigie_alerts.domain.policy import CHANNEL_MODELS, ChannelConfig, Policy


def _discover() -> dict[str, type[Channel]]:
    found: dict[str, type[Channel]] = {}
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        plugin = getattr(importlib.import_module(f"{__name__}.{module.name}"), "CHANNEL", None)
        if plugin is None:
            continue  # a helper module (base, http, documents)
        (kind,) = get_args(plugin.config_model.model_fields["kind"].annotation)
        if kind in found:
            raise RuntimeError(f"two alert channels of kind {kind!r}: {found[kind].__module__} "
                               f"and {plugin.__module__}")
        found[kind] = plugin
    return found


CHANNELS: Mapping[str, type[Channel]] = _discover()
"""Channel kind -> its plug-in."""


def parse_policy(document: Any) -> Policy:
    """The routing policy, each channel validated by its plug-in's config model; raises
    pydantic.ValidationError saying what is wrong."""
    models: dict[str, type[ChannelConfig]] = {k: c.config_model for k, c in CHANNELS.items()}
    return Policy.model_validate(document, context={CHANNEL_MODELS: models})


def make_channels(policy: Policy) -> dict[str, Channel]:
    """One channel instance per channel the policy configures, by name."""
    return {name: CHANNELS[config.kind](name, config)
            for name, config in policy.channels.items()}
