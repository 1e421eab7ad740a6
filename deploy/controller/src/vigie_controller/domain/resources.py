"""Custom resources as the controller sees them: what the API server returns, reduced to what
reconciling needs. Objects come as plain dicts (the kubernetes client returns custom objects so,
in lists and in watch events alike)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GROUP = "vigie.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

OWNER_PREFIX = "k8s:"
"""Records the controller publishes name their resource as `k8s:<namespace>/<name>` (Camera
`updated_by`, Rule `created_by`): how it recognises its own records on a topic that other writers
share."""


def owner_of(namespace: str, name: str) -> str:
    return f"{OWNER_PREFIX}{namespace}/{name}"


def parse_owner(owner: str) -> tuple[str, str] | None:
    """(namespace, name) of an owner written by `owner_of`, or None for any other writer."""
    if not owner.startswith(OWNER_PREFIX):
        return None
    namespace, sep, name = owner[len(OWNER_PREFIX):].partition("/")
    return (namespace, name) if sep and namespace and name else None


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time as the API server writes it ("2026-12-01T10:00:00Z"), or None."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with second precision, the form the API server uses for its own times."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ResourceError(ValueError):
    """An object that is not a well-formed custom resource (no metadata.name, ...)."""


@dataclass(frozen=True)
class Resource:
    """One Camera or Rule object."""

    kind: str
    namespace: str
    name: str
    uid: str
    generation: int
    resource_version: str
    created: datetime
    spec: Mapping[str, Any]
    status: Mapping[str, Any] = field(default_factory=dict)
    deleting: bool = False

    @property
    def owner(self) -> str:
        return owner_of(self.namespace, self.name)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Resource:
        """From a custom object dict (list item, watch event object, get result)."""
        meta = obj.get("metadata")
        if not isinstance(meta, Mapping) or not meta.get("name"):
            raise ResourceError("object has no metadata.name")
        spec = obj.get("spec")
        status = obj.get("status")
        created = parse_time(meta.get("creationTimestamp")) or datetime.fromtimestamp(0, UTC)
        return cls(
            kind=str(obj.get("kind", "")),
            namespace=str(meta.get("namespace") or "default"),
            name=str(meta["name"]),
            uid=str(meta.get("uid") or f"{meta.get('namespace')}/{meta['name']}"),
            generation=int(meta.get("generation") or 0),
            resource_version=str(meta.get("resourceVersion") or ""),
            created=created,
            spec=spec if isinstance(spec, Mapping) else {},
            status=status if isinstance(status, Mapping) else {},
            deleting=bool(meta.get("deletionTimestamp")),
        )

    def with_status(self, status: Mapping[str, Any]) -> Resource:
        return Resource(self.kind, self.namespace, self.name, self.uid, self.generation,
                        self.resource_version, self.created, self.spec, dict(status),
                        self.deleting)
