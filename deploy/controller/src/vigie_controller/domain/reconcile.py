"""The reconcile core: desired resources against what the topic holds -> records and status patches.

`reconcile(kind, resources, published, now)` is pure. `published` is the latest value of every
key on the kind's compacted topic (whoever wrote it). The plan it returns:

- publishes a resource's record when the topic does not already hold exactly it (ignoring
  `updated_at`): a new resource, a changed spec, or a record someone else wrote over it (drift);
- publishes a tombstone for a key whose record the controller wrote (`k8s:<ns>/<name>` owner) when
  no live resource claims it any more: deleted resources, renamed keys, resources deleted while
  the controller was down (the next resync finds them);
- never touches records of other writers (IngestService, `vigie rules add`) unless a resource
  claims their key, in which case the resource wins;
- leaves the topic alone for an invalid resource: the last valid version stays, the status says why;
- resolves two resources claiming one key in favour of the older one (then namespace/name);
- patches a resource's status only when it would change, so a resync of an unchanged cluster
  plans nothing: idempotent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from google.protobuf.message import Message
from vigie.camera.v1.camera_pb2 import Camera
from vigie.rules.v1.rule_pb2 import Rule
from vigie_core.topics import CAMERAS, RULES, Topic

from vigie_controller.domain.cameras import camera_from_resource, camera_key
from vigie_controller.domain.resources import Resource, format_time, parse_owner
from vigie_controller.domain.rules import rule_from_resource, rule_key

READY = "Ready"
MAX_MESSAGE = 1000


@dataclass(frozen=True)
class Built:
    """A resource turned into its record: the key it claims, the message or the problems."""

    key: str | None
    message: Message | None
    problems: list[str] = field(default_factory=list)
    extra_status: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Kind:
    """How one resource kind maps onto its topic."""

    name: str
    plural: str
    topic: Topic
    id_field: str  # the status field naming the key (cameraId, ruleId)
    build: Callable[[Resource, datetime], Built]
    owner: Callable[[Message], str]  # the writer a record names
    stamp: Callable[[Message, datetime], None]  # set updated_at on what is about to be published


def _build_camera(resource: Resource, now: datetime) -> Built:
    camera, problems = camera_from_resource(resource)
    return Built(camera_key(resource), camera, problems)


def _stamp_camera(message: Message, now: datetime) -> None:
    assert isinstance(message, Camera)
    message.updated_at.FromDatetime(now)


def _build_rule(resource: Resource, now: datetime) -> Built:
    rule, problems, extra = rule_from_resource(resource, now)
    return Built(rule_key(resource), rule, problems, extra)


def _camera_owner(message: Message) -> str:
    return str(getattr(message, "updated_by", ""))


def _rule_owner(message: Message) -> str:
    return str(getattr(message, "created_by", ""))


def _no_stamp(message: Message, now: datetime) -> None:
    """Rules carry their anchor as updated_at already (see domain.rules)."""


CAMERA_KIND = Kind("Camera", "cameras", CAMERAS, "cameraId", _build_camera, _camera_owner,
                   _stamp_camera)
RULE_KIND = Kind("Rule", "rules", RULES, "ruleId", _build_rule, _rule_owner, _no_stamp)
KINDS = (CAMERA_KIND, RULE_KIND)


def comparable(message: Message) -> bytes:
    """What makes two records the same: everything but updated_at."""
    copy = type(message)()
    copy.CopyFrom(message)
    if isinstance(copy, Camera | Rule):
        copy.ClearField("updated_at")
    return bytes(copy.SerializeToString(deterministic=True))


def digest(message: Message) -> str:
    return hashlib.sha256(comparable(message)).hexdigest()[:16]


@dataclass(frozen=True)
class Publish:
    """A record to publish on `topic`; message None is a tombstone."""

    topic: Topic
    key: str
    message: Message | None
    event_id: str
    reason: str  # created | changed | adopted | deleted
    owner: str


@dataclass(frozen=True)
class StatusPatch:
    """A status to write: `status` is the whole new status, `body` the merge patch for it."""

    namespace: str
    name: str
    status: dict[str, Any]
    body: dict[str, Any]


@dataclass
class Plan:
    publishes: list[Publish] = field(default_factory=list)
    statuses: list[StatusPatch] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.publishes or self.statuses)


def _condition(ok: bool, reason: str, message: str, generation: int,
               old: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    status = "True" if ok else "False"
    previous = next((c for c in old.get("conditions") or ()
                     if isinstance(c, Mapping) and c.get("type") == READY), None)
    since = (previous.get("lastTransitionTime") if previous is not None
             and previous.get("status") == status and previous.get("lastTransitionTime")
             else format_time(now))
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE - 3] + "..."
    return {"type": READY, "status": status, "reason": reason, "message": message,
            "observedGeneration": generation, "lastTransitionTime": since}


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns status `old` into `new`."""
    body: dict[str, Any] = dict(new)
    for key in old:
        if key not in new:
            body[key] = None
    return {"status": body}


def reconcile(
    kind: Kind,
    resources: Iterable[Resource],
    published: Mapping[str, Message],
    now: datetime,
    *,
    in_scope: Callable[[str], bool] = lambda namespace: True,
) -> Plan:
    """What to publish and which statuses to write so that the topic holds exactly the live
    resources of `kind`. `in_scope(namespace)`: whether this controller manages a namespace
    (records owned by resources of other namespaces are left alone)."""
    live = sorted((r for r in resources if not r.deleting),
                  key=lambda r: (r.created, r.namespace, r.name))
    built = {r.uid: kind.build(r, now) for r in live}
    winners: dict[str, Resource] = {}
    for resource in live:  # oldest first: the first claimant of a key keeps it
        key = built[resource.uid].key
        if key is not None:
            winners.setdefault(key, resource)

    plan = Plan()
    statuses: list[tuple[Resource, dict[str, Any]]] = []
    for resource in live:
        b = built[resource.uid]
        status: dict[str, Any] = {"observedGeneration": resource.generation,
                                  "topic": kind.topic.name}
        if b.key is not None:
            status[kind.id_field] = b.key
        status.update(b.extra_status)
        winner = winners.get(b.key) if b.key is not None else None
        if winner is not None and winner is not resource:
            cond = _condition(False, "Conflict",
                              f"{kind.topic.key} {b.key!r} is already claimed by {winner.ref} "
                              "(the older resource keeps it)", resource.generation,
                              resource.status, now)
        elif b.message is None:
            kept = ""
            current = published.get(b.key) if b.key is not None else None
            if current is not None and kind.owner(current) == resource.owner:
                kept = " (the topic keeps the last valid version)"
            cond = _condition(False, "Invalid", "; ".join(b.problems) + kept,
                              resource.generation, resource.status, now)
        else:
            assert b.key is not None
            event_id = f"{resource.owner}@{resource.generation}/{digest(b.message)}"
            current = published.get(b.key)
            if current is None or comparable(current) != comparable(b.message):
                reason = ("created" if current is None else
                          "changed" if kind.owner(current) == resource.owner else "adopted")
                message = type(b.message)()
                message.CopyFrom(b.message)
                kind.stamp(message, now)
                plan.publishes.append(Publish(kind.topic, b.key, message, event_id, reason,
                                              resource.owner))
            else:
                # In sync: the status names the record the topic holds.
                event_id = str(resource.status.get("eventId") or event_id)
            status["eventId"] = event_id
            cond = _condition(True, "Published", f"on {kind.topic.name} as {b.key}",
                              resource.generation, resource.status, now)
        status["conditions"] = [cond]
        statuses.append((resource, status))

    for key in sorted(published):
        message = published[key]
        owner = kind.owner(message)
        parsed = parse_owner(owner)
        if parsed is None or not in_scope(parsed[0]):
            continue  # not ours, or another controller's namespace
        winner = winners.get(key)
        if winner is not None and (built[winner.uid].message is not None
                                   or winner.owner == owner):
            continue  # the claimant publishes over it, or keeps its last valid version
        plan.publishes.append(Publish(kind.topic, key, None,
                                      f"{owner}/deleted/{digest(message)}", "deleted", owner))

    for resource, status in statuses:
        if dict(resource.status) != status:
            plan.statuses.append(StatusPatch(resource.namespace, resource.name, status,
                                             merge_patch(resource.status, status)))
    return plan
