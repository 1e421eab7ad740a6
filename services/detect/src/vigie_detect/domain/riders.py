"""Riders: a track the detector labels `person` on some frames and `bicycle` or `motorcycle` on
others is a two-wheeler with its rider, and is published as the two-wheeler on every frame.

The detector sees a rider and the machine under it as two objects; the tracker (which matches
boxes whatever their class) follows whichever box it finds, so a two-wheeler's track flickers
between the classes, and a counting line for two-wheelers misses it whenever it crosses on a
frame labelled `person` (26 of 30 motorcycles on the shared city road). A pedestrian is seldom
labelled a two-wheeler, a rider often: a track whose summed two-wheeler confidence reaches
`min_share` of its summed person confidence is a rider from then on (online: frames published
before that keep their class). Only the classes change; boxes, confidences and ids stay.

Pure: numpy and the track ids' evidence, forgotten `forget_s` stream seconds after a track was
last seen (re-linked tracks keep their published id, hence their evidence)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Int = npt.NDArray[np.int64]
TWO_WHEELERS = ("bicycle", "motorcycle")
PERSON = "person"


@dataclass(frozen=True)
class RiderParams:
    min_share: float = 0.2  # two-wheeler over person evidence that makes a rider; 0: off
    person: int = -1  # class ids of the model (-1 / empty: the model has none: off)
    two_wheelers: tuple[int, ...] = ()
    forget_s: float = 60.0

    @classmethod
    def for_classes(cls, names: tuple[str, ...], min_share: float) -> RiderParams:
        """The parameters for a model whose class names are `names`."""
        return cls(min_share, names.index(PERSON) if PERSON in names else -1,
                   tuple(i for i, n in enumerate(names) if n in TWO_WHEELERS))

    @property
    def enabled(self) -> bool:
        return self.min_share > 0 and self.person >= 0 and bool(self.two_wheelers)


@dataclass
class Evidence:
    """One track's summed confidence per class id (person and two-wheelers only)."""

    last_seen_s: float
    sums: dict[int, float] = field(default_factory=dict)


@dataclass
class Riders:
    params: RiderParams
    tracks: dict[int, Evidence] = field(default_factory=dict)

    def step(self, t_s: float, track_id: npt.ArrayLike, class_id: npt.ArrayLike,
             confidence: npt.ArrayLike) -> Int:
        """One frame's detections (track id 0: untracked); returns their published class ids."""
        ids = np.asarray(track_id, np.int64).reshape(-1)
        classes = np.asarray(class_id, np.int64).reshape(-1).copy()
        if not self.params.enabled:
            return classes
        p = self.params
        scores = np.asarray(confidence, np.float64).reshape(-1)
        watched = (p.person, *p.two_wheelers)
        for k in np.flatnonzero(ids > 0):
            evidence = self.tracks.setdefault(int(ids[k]), Evidence(t_s))
            evidence.last_seen_s = t_s
            if int(classes[k]) in watched:
                c = int(classes[k])
                evidence.sums[c] = evidence.sums.get(c, 0.0) + float(scores[k])
            if int(classes[k]) == p.person and (ridden := self.ridden(evidence)) is not None:
                classes[k] = ridden
        self.tracks = {i: e for i, e in self.tracks.items() if t_s - e.last_seen_s <= p.forget_s}
        return classes

    def ridden(self, evidence: Evidence) -> int | None:
        """The two-wheeler class a track rides, if it is a rider."""
        p = self.params
        person = evidence.sums.get(p.person, 0.0)
        best = max(p.two_wheelers, key=lambda c: evidence.sums.get(c, 0.0))
        machine = evidence.sums.get(best, 0.0)
        return best if machine > 0 and machine >= p.min_share * person else None
