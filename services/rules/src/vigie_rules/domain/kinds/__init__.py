"""The registry of rule kinds: every module of this package is one kind, declared by its
module-level `KIND` (a `kind.Kind` named like the file). Adding a kind is adding a file here;
the spec validation, the engine, ListRuleKinds and the Rule CRD's kind list read `KINDS`.

Order: built-in kinds by RuleKind value, then plug-in kinds (no enum value) by name.
"""

from __future__ import annotations

import importlib
import pkgutil

from vigie.rules.v1.rule_pb2 import Rule, RuleKind

from vigie_rules.domain.kind import KIND_FIELDS, Kind

__all__ = ["BY_NAME", "KINDS", "discover", "kind_named", "kind_of"]


def discover(package: str = __name__) -> tuple[Kind, ...]:
    """The kinds declared by the modules of `package` (in registry order), checked: each module
    declares KIND named like the module, names and enum values are unique, fields are known."""
    kinds: list[Kind] = []
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        kind = getattr(module, "KIND", None)
        if not isinstance(kind, Kind):
            raise TypeError(f"{module.__name__}: a rule kind module declares KIND = Kind(...)")
        if kind.name != info.name:
            raise ValueError(f"{module.__name__}: KIND.name {kind.name!r} is not the file's name")
        unknown = (set(kind.required) | set(kind.optional)) - set(KIND_FIELDS)
        if unknown:
            raise ValueError(f"{module.__name__}: unknown fields {sorted(unknown)}; kinds use "
                             f"{', '.join(KIND_FIELDS)}")
        if kind.geometry not in ("zone", "line", "none"):
            raise ValueError(f"{module.__name__}: geometry is zone, line or none")
        kinds.append(kind)
    enums = [k.enum for k in kinds if k.enum]
    if len(set(enums)) != len(enums):
        raise ValueError(f"{package}: two kinds declare the same RuleKind value")
    return tuple(sorted(kinds, key=lambda k: (k.enum == 0, k.enum, k.name)))


KINDS = discover()
BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
_BY_ENUM: dict[int, Kind] = {k.enum: k for k in KINDS if k.enum}


def kind_named(name: str) -> Kind | None:
    return BY_NAME.get(name)


def kind_of(rule: Rule) -> Kind | None:
    """The rule's kind, by kind_name or else by enum value; None when unknown, or when both
    are given and disagree."""
    if rule.kind_name:
        kind = BY_NAME.get(rule.kind_name)
        return kind if kind is not None and rule.kind in (RuleKind.RULE_KIND_UNSPECIFIED,
                                                          kind.enum) else None
    return _BY_ENUM.get(rule.kind)
