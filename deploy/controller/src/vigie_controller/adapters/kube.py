"""The Kubernetes API, through the official client's CustomObjectsApi and watch.Watch.

Everything here blocks (the client is synchronous); the controller calls it from threads. Custom
objects come back as dicts, in lists and in watch events alike, and become `Resource`s here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from vigie_controller.domain.reconcile import Kind, StatusPatch
from vigie_controller.domain.resources import GROUP, VERSION, Resource, ResourceError

log = logging.getLogger(__name__)

FIELD_MANAGER = "vigie-controller"


class WatchExpired(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again, then watch from there."""


@dataclass(frozen=True)
class WatchEvent:
    """ADDED / MODIFIED / DELETED with the resource, or BOOKMARK (resource None)."""

    type: str
    resource: Resource | None
    resource_version: str | None


def load_client(kubeconfig: str | None = None) -> client.CustomObjectsApi:
    """In a pod: its service account; elsewhere: the kubeconfig (KUBECONFIG or ~/.kube/config)."""
    # The kubernetes package's config loaders and watch.Watch carry no annotations.
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    else:
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except config.ConfigException:
            config.load_kube_config()  # type: ignore[no-untyped-call]
    return client.CustomObjectsApi()


class KubeApi:
    """List, watch and patch the status of Camera and Rule resources, cluster-wide (namespaces
    empty) or in the given namespaces."""

    def __init__(self, api: client.CustomObjectsApi, namespaces: Sequence[str] = ()) -> None:
        self.api = api
        self.namespaces = list(namespaces)
        self._watches: list[watch.Watch] = []

    @property
    def scopes(self) -> list[str | None]:
        """None: the whole cluster."""
        return list(self.namespaces) or [None]

    def in_scope(self, namespace: str) -> bool:
        return not self.namespaces or namespace in self.namespaces

    @staticmethod
    def _resources(items: Sequence[Any], kind: Kind) -> list[Resource]:
        out = []
        for obj in items:
            try:
                resource = Resource.from_object(obj)
            except ResourceError as exc:
                log.warning("ignoring a %s object: %s", kind.name, exc)
                continue
            out.append(resource)
        return out

    def list(self, kind: Kind, scope: str | None) -> tuple[list[Resource], str]:
        """The resources of one scope and the list's resourceVersion (where to watch from)."""
        result: dict[str, Any]
        if scope is None:
            result = self.api.list_cluster_custom_object(  # type: ignore[assignment]
                GROUP, VERSION, kind.plural)
        else:
            result = self.api.list_namespaced_custom_object(  # type: ignore[assignment]
                GROUP, VERSION, scope, kind.plural)
        version = str((result.get("metadata") or {}).get("resourceVersion") or "")
        return self._resources(result.get("items") or [], kind), version

    def watch(self, kind: Kind, scope: str | None, resource_version: str,
              timeout_s: int) -> Iterator[WatchEvent]:
        """Events after `resource_version`, until the server ends the watch (`timeout_s`) or
        `stop()`. Raises WatchExpired on 410 Gone."""
        w = watch.Watch()  # type: ignore[no-untyped-call]
        self._watches.append(w)
        args: tuple[Any, ...] = (GROUP, VERSION, kind.plural)
        func: Any = self.api.list_cluster_custom_object
        if scope is not None:
            args = (GROUP, VERSION, scope, kind.plural)
            func = self.api.list_namespaced_custom_object
        try:
            for event in w.stream(  # type: ignore[no-untyped-call]
                    func, *args, resource_version=resource_version, timeout_seconds=timeout_s,
                    allow_watch_bookmarks=True):
                kind_of_event = str(event.get("type"))
                raw = event.get("raw_object") or event.get("object") or {}
                version = ((raw.get("metadata") or {}).get("resourceVersion")
                           if isinstance(raw, dict) else None)
                if kind_of_event == "BOOKMARK":
                    yield WatchEvent("BOOKMARK", None, version)
                    continue
                try:
                    resource = Resource.from_object(raw)
                except ResourceError as exc:
                    log.warning("ignoring a %s watch event: %s", kind.name, exc)
                    continue
                yield WatchEvent(kind_of_event, resource, version)
        except ApiException as exc:
            if exc.status == 410:
                raise WatchExpired(str(exc.reason)) from None
            raise
        finally:
            if w in self._watches:
                self._watches.remove(w)

    def stop(self) -> None:
        """End every watch in progress (they return at their next event or at once)."""
        for w in list(self._watches):
            w.stop()  # type: ignore[no-untyped-call]

    def patch_status(self, kind: Kind, patch: StatusPatch) -> Resource | None:
        """Write a status (merge patch on the status subresource); the updated resource, or None
        if it is gone."""
        try:
            obj: dict[str, Any] = self.api.patch_namespaced_custom_object_status(  # type: ignore[assignment]
                GROUP, VERSION, patch.namespace, kind.plural, patch.name, patch.body,
                field_manager=FIELD_MANAGER)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return Resource.from_object(obj)
