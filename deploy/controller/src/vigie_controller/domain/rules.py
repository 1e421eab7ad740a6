"""Rule resources -> `vigie.rules.v1.Rule`, through the rules service's own spec code.

A Rule's spec is the rule YAML `vigie rules validate|add` read, so it goes through the same
`load_rules` (same checks, same messages, same proto). What the controller adds:

- `rule_id` and `name` default to the resource name;
- `created_by` names the resource (`k8s:<namespace>/<name>`), which is how the controller knows
  its own records on vigie.rules.v1;
- a relative schedule ("duration: 2h") runs from the *anchor*: the time the controller first
  applied this generation of the resource, kept in `.status.anchor`. Resyncs and restarts reuse
  it, so a 2-hour rule does not restart its 2 hours each time; editing the spec (a new generation)
  starts it again. The anchor is also the Rule's `updated_at`, which keeps the published record
  identical across resyncs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import yaml
from vigie.rules.v1.rule_pb2 import Rule
from vigie_rules.domain.spec import RuleSpecError, load_rules

from vigie_controller.domain.resources import Resource, format_time, parse_time


def rule_key(resource: Resource) -> str | None:
    raw: Any = resource.spec.get("rule_id") or resource.name
    return raw if isinstance(raw, str) and raw else None


def rule_anchor(resource: Resource, now: datetime) -> datetime:
    """When this generation's relative durations count from (second precision, as stored)."""
    status = resource.status
    if status.get("observedGeneration") == resource.generation:
        anchor = parse_time(status.get("anchor"))
        if anchor is not None:
            return anchor
    return now.astimezone(UTC).replace(microsecond=0)


def rule_from_resource(resource: Resource, now: datetime
                       ) -> tuple[Rule | None, list[str], dict[str, Any]]:
    """(the Rule, [], extra status) or (None, problems, extra status)."""
    anchor = rule_anchor(resource, now)
    extra: dict[str, Any] = {"anchor": format_time(anchor)}
    data = dict(resource.spec)
    data.setdefault("rule_id", resource.name)
    data.setdefault("name", resource.name)
    text = yaml.safe_dump(data, sort_keys=True)
    try:
        rules = load_rules(text, anchor, created_by=resource.owner)
    except RuleSpecError as exc:
        return None, [f"spec.{p}" if not p.startswith("document") else p
                      for p in exc.problems], extra
    rule = rules[0]
    schedule = rule.schedule
    if rule.HasField("schedule") and schedule.HasField("valid_from"):
        extra["validFrom"] = format_time(schedule.valid_from.ToDatetime(tzinfo=UTC))
    if rule.HasField("schedule") and schedule.HasField("valid_until"):
        extra["validUntil"] = format_time(schedule.valid_until.ToDatetime(tzinfo=UTC))
    return rule, [], extra
