"""The in-memory 1:N index of watchlist templates and the matching rule.

One row per subject: a unit-length float32 template, its expiry, and the cameras it may be
matched on. A probe matches the best-scoring *eligible* row when the cosine similarity reaches the
threshold; rows are eligible while neither the frame's event time nor the wall clock has reached
their expiry (so an expired entry stops matching by itself, even on a replay of older frames),
and only on the cameras they name (none named: every face-authorised camera). Nothing here keeps
a probe: search returns indices and scores, and the caller drops the probes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


def to_us(at: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def normalised(vector: npt.ArrayLike) -> Vector:
    """The vector as unit-length float32 (a zero vector stays zero)."""
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def mean_template(embeddings: Iterable[npt.ArrayLike]) -> Vector:
    """A subject's template from several photos: the normalised mean of normalised embeddings."""
    vectors = [normalised(e) for e in embeddings]
    if not vectors:
        raise ValueError("no embedding")
    return normalised(np.mean(np.stack(vectors), axis=0))


@dataclass(frozen=True)
class Template:
    subject_id: str
    vector: Vector  # unit length
    expires_at: datetime
    camera_ids: frozenset[str] = frozenset()
    category: int = 0


@dataclass(frozen=True)
class Match:
    subject_id: str
    category: int
    score: float
    probe: int  # index of the probe in the search call


def match_id(frame_id: str, subject_id: str, box: tuple[float, float, float, float]) -> str:
    """Deterministic id of a match: the same frame, subject and face give the same id."""
    quantised = ",".join(f"{round(v, 3):.3f}" for v in box)
    digest = hashlib.sha256(f"{frame_id}|{subject_id}|{quantised}".encode()).hexdigest()
    return f"fm-{digest[:24]}"


class WatchlistIndex:
    """Templates of one embedding model, searched by cosine similarity (dot product)."""

    def __init__(self, dim: int, capacity: int = 64) -> None:
        self.dim = dim
        self._vectors = np.zeros((max(capacity, 1), dim), np.float32)
        self._expires = np.zeros(max(capacity, 1), np.int64)
        self._scoped = np.zeros(max(capacity, 1), bool)
        self._templates: list[Template] = []
        self._row: dict[str, int] = {}
        self._by_camera: dict[str, set[int]] = {}

    def __len__(self) -> int:
        return len(self._templates)

    def __contains__(self, subject_id: object) -> bool:
        return subject_id in self._row

    def templates(self) -> list[Template]:
        return list(self._templates)

    def get(self, subject_id: str) -> Template | None:
        row = self._row.get(subject_id)
        return None if row is None else self._templates[row]

    def upsert(self, template: Template) -> None:
        vector = normalised(template.vector)
        if vector.shape != (self.dim,):
            raise ValueError(f"template of {vector.shape[0]} values, index has {self.dim}")
        self.remove(template.subject_id)
        row = len(self._templates)
        if row == len(self._vectors):
            grow = len(self._vectors) * 2  # zero-filled: np.resize would repeat the rows
            vectors = np.zeros((grow, self.dim), np.float32)
            vectors[:row] = self._vectors
            self._vectors[:] = 0.0
            expires = np.zeros(grow, np.int64)
            expires[:row] = self._expires
            scoped = np.zeros(grow, bool)
            scoped[:row] = self._scoped
            self._vectors, self._expires, self._scoped = vectors, expires, scoped
        self._vectors[row] = vector
        self._expires[row] = to_us(template.expires_at)
        self._scoped[row] = bool(template.camera_ids)
        for camera in template.camera_ids:
            self._by_camera.setdefault(camera, set()).add(row)
        self._templates.append(template)
        self._row[template.subject_id] = row

    def extend(self, templates: Iterable[Template]) -> None:
        """Many new subjects at once (rebuilding from the topic, benchmarks)."""
        for template in templates:
            self.upsert(template)

    def remove(self, subject_id: str) -> bool:
        """Drop a subject; its template row is overwritten at once (swap with the last row)."""
        row = self._row.pop(subject_id, None)
        if row is None:
            return False
        last = len(self._templates) - 1
        gone = self._templates[row]
        self._unscope(row, gone.camera_ids)
        if row != last:
            moved = self._templates[last]
            self._unscope(last, moved.camera_ids)
            self._vectors[row] = self._vectors[last]
            self._expires[row] = self._expires[last]
            self._scoped[row] = self._scoped[last]
            self._templates[row] = moved
            self._row[moved.subject_id] = row
            for camera in moved.camera_ids:
                self._by_camera.setdefault(camera, set()).add(row)
        self._vectors[last] = 0.0
        self._expires[last] = 0
        self._scoped[last] = False
        self._templates.pop()
        return True

    def _unscope(self, row: int, cameras: frozenset[str]) -> None:
        for camera in cameras:
            rows = self._by_camera.get(camera)
            if rows is not None:
                rows.discard(row)
                if not rows:
                    del self._by_camera[camera]

    def eligible(self, camera_id: str, at: datetime, now: datetime) -> npt.NDArray[np.bool_]:
        """Rows that may match a face seen on `camera_id` at event time `at`, given the wall
        clock `now`."""
        n = len(self._templates)
        horizon = max(to_us(at), to_us(now))
        mask = self._expires[:n] > horizon
        allowed = ~self._scoped[:n]
        rows = self._by_camera.get(camera_id)
        if rows:
            allowed[list(rows)] = True
        mask &= allowed
        return mask

    def expired(self, now: datetime) -> list[str]:
        n = len(self._templates)
        rows = np.flatnonzero(self._expires[:n] <= to_us(now))
        return sorted(self._templates[int(r)].subject_id for r in rows)

    def search(self, probes: npt.ArrayLike, camera_id: str, at: datetime, now: datetime,
               threshold: float) -> list[Match]:
        """The best eligible subject of each probe (k x dim, unit rows) when its score reaches
        `threshold`; probes below it give nothing."""
        p = np.asarray(probes, dtype=np.float32).reshape(-1, self.dim)
        mask = self.eligible(camera_id, at, now)
        if not len(p) or not mask.any():
            return []
        # every row scored in one product over the contiguous matrix (gathering the eligible
        # rows first would copy them), then the ineligible ones ruled out
        scores = p @ self._vectors[:len(self._templates)].T  # k x n
        if not mask.all():
            scores[:, ~mask] = -np.inf
        best = np.argmax(scores, axis=1)
        matches = []
        for i, j in enumerate(best):
            score = float(scores[i, j])
            if score >= threshold:
                template = self._templates[int(j)]
                matches.append(Match(template.subject_id, template.category, score, i))
        return matches

    def search_all(self, probe: npt.ArrayLike) -> tuple[int, float]:
        """Best row and score over every row, eligibility ignored (benchmarks)."""
        n = len(self._templates)
        scores = self._vectors[:n] @ np.asarray(probe, dtype=np.float32).reshape(self.dim)
        best = int(np.argmax(scores))
        return best, float(scores[best])
