"""Per-camera multi-object tracking: ByteTrack as maintained in Ultralytics
(`ultralytics.trackers.byte_tracker.BYTETracker`, API of ultralytics 8.4.x).

What the tracker outputs: `CameraTracker.update` returns every detection of the frame, in input
order, with the detector's own boxes (not the Kalman-smoothed ones); those that belong to an
activated ByteTrack track carry its `tracker_id` (> 0), the others 0. Untracked are: detections
below `track_low_thresh`; detections between `track_low_thresh` and `track_high_thresh` that do
not extend an existing track (the second association only recovers tracks); a new object's first
detection (an unconfirmed track, tracked from its second consecutive matched frame, except on a
tracker's very first frame where ByteTrack activates at once); high-score detections under
`new_track_thresh` matching no track. Counting and per-class figures see everything; rules that
follow objects use the tracked ones.
- Track ids are per camera (8.4's BYTETracker numbers its own tracks from 1), so two cameras can
  both have a track 1: the pair (camera_id, tracker_id) names a track.

Frame rate: `track_buffer` counts frames at 30 fps, as in the original ByteTrack
(`buffer = track_buffer * frame_rate / 30`): with the default 30, a lost track survives about one
second whatever the sampling rate. (8.4's BYTETracker itself ignores the frame rate.)

Ultralytics is imported on first use, through `import_ultralytics` (offline environment set first);
its matcher needs the `lap` package installed up front (an offline auto-install would fail).

Checkpoints: `CameraTracker.checkpoint` writes the whole tracker state into a
`TrackerCheckpointed` (every track of the tracked and lost pools with its Kalman mean and
covariance at full precision, the frame counter, the next id, the removed-track buffer as far as
it still matters) and `restore` rebuilds a tracker that gives, frame after frame, exactly the
output the original would have given (tests/test_tracking.py checks it at every frame of a real
sequence). Written against BYTETracker of ultralytics 8.4 (the pinned version).
"""

from __future__ import annotations

import json
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
from vigie.detect.v1.tracker_pb2 import (
    RemovedTrack,
    TrackerCheckpointed,
    TrackPool,
    TrackSnapshot,
    TrackState,
)

from vigie_detect.domain.detections import Detections, Float, Int


@dataclass(frozen=True)
class TrackerParams:
    """ByteTrack parameters; defaults are Ultralytics' cfg/trackers/bytetrack.yaml (8.4)."""

    track_high_thresh: float = 0.25  # first association: detections at or above this
    track_low_thresh: float = 0.1  # second association (recovery only): above this
    new_track_thresh: float = 0.25  # an unmatched detection starts a track at or above this
    track_buffer: int = 30  # frames (at 30 fps) a lost track is kept for re-identification
    match_thresh: float = 0.8  # max association cost (1 - IoU, score-fused if fuse_score)
    fuse_score: bool = True  # weight IoU by detection confidence in the first association

    def __post_init__(self) -> None:
        if not 0 <= self.track_low_thresh <= self.track_high_thresh:
            raise ValueError("need 0 <= track_low_thresh <= track_high_thresh")
        if self.track_buffer < 1 or not 0 < self.match_thresh <= 1:
            raise ValueError("need track_buffer >= 1 and 0 < match_thresh <= 1")

    def fingerprint(self) -> str:
        """The parameters as canonical JSON: a checkpoint only restores into the same ones."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


class _Boxes:
    """The Results-like view BYTETracker.update reads: numpy `conf`, `cls`, `xywh`, `xyxy`,
    `len()` and boolean-mask indexing. (No `xywhr` attribute: its presence means oriented boxes.)"""

    def __init__(self, xyxy: Float, conf: Float, cls: Int | Float) -> None:
        self.xyxy, self.conf, self.cls = xyxy, conf, cls

    @property
    def xywh(self) -> Float:
        center = (self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2
        size = self.xyxy[:, 2:] - self.xyxy[:, :2]
        return np.concatenate([center, size], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: Any) -> _Boxes:
        return _Boxes(self.xyxy[index], self.conf[index], self.cls[index])


def _bytetracker_class() -> Any:
    try:
        import lap  # noqa: F401  (else Ultralytics would try to pip-install it at import)
    except ImportError as e:
        raise RuntimeError("tracking needs the `lap` package (pip install lap>=0.5.12)") from e
    from vigie_detect.adapters.ultralytics_offline import import_ultralytics

    import_ultralytics()
    from ultralytics.trackers.byte_tracker import BYTETracker

    return BYTETracker


class CameraTracker:
    """ByteTrack state of one camera. Feed it every analysed frame of that camera, in order
    (frames with no detections too: they age lost tracks)."""

    def __init__(self, params: TrackerParams | None = None) -> None:
        self.params = params or TrackerParams()
        self._tracker = _bytetracker_class()(SimpleNamespace(**asdict(self.params)))

    @property
    def frames(self) -> int:
        return int(self._tracker.frame_id)

    def update(self, detections: Detections, frame_rate: float) -> Detections:
        if not frame_rate > 0:
            raise ValueError(f"frame_rate must be > 0, got {frame_rate}")
        self._tracker.max_frames_lost = max(1, round(self.params.track_buffer * frame_rate / 30))
        boxes = _Boxes(detections.xyxy.astype(np.float32), detections.confidence.astype(np.float32),
                       detections.class_id.astype(np.float32))
        # rows: x1, y1, x2, y2, track_id, score, cls, idx (idx: index into `detections`)
        tracks = np.asarray(self._tracker.update(boxes), np.float64).reshape(-1, 8)
        # Every detection is kept; those an active track claims carry its id, the others 0
        # (a new object's first frame, a low-score box no track extends).
        track_id = np.zeros(len(detections), np.int64)
        track_id[tracks[:, 7].astype(np.int64)] = tracks[:, 4].astype(np.int64)
        return detections.with_tracker_ids(track_id)

    def reset(self) -> None:
        self._tracker.reset()

    def checkpoint(self, into: TrackerCheckpointed) -> TrackerCheckpointed:
        """Write this tracker's state into `into` (its tracker fields) and return it."""
        tracker = self._tracker
        into.tracker_params = self.params.fingerprint()
        into.tracker_frames = int(tracker.frame_id)
        # The id iterator's position (range iterators expose it through the pickle protocol).
        _, (ids,), taken = tracker._ids.__reduce__()
        into.next_track_id = int(ids.start + taken * ids.step)
        del into.tracks[:]
        alive: set[int] = set()
        for pool, tracks in ((TrackPool.TRACK_POOL_TRACKED, tracker.tracked_stracks),
                             (TrackPool.TRACK_POOL_LOST, tracker.lost_stracks)):
            for track in tracks:
                alive.add(int(track.track_id))
                into.tracks.append(_snapshot(track, pool))
        removed = tracker.removed_stracks
        into.removed_count = len(removed)
        del into.removed[:]
        into.removed.extend(RemovedTrack(position=i, track_id=int(t.track_id))
                            for i, t in enumerate(removed) if int(t.track_id) in alive)
        return into

    def restore(self, checkpoint: TrackerCheckpointed) -> None:
        """Become the tracker `checkpoint` describes (taken with the same parameters)."""
        if checkpoint.tracker_params != self.params.fingerprint():
            raise ValueError("checkpoint taken with other tracker parameters")
        tracker = self._tracker
        tracker.reset()
        tracker.frame_id = int(checkpoint.tracker_frames)
        tracker._ids = iter(range(int(checkpoint.next_track_id), sys.maxsize))
        track_class = tracker.track_class
        for snap in checkpoint.tracks:
            track = _track(track_class, snap, tracker)
            pool = (tracker.tracked_stracks if snap.pool == TrackPool.TRACK_POOL_TRACKED
                    else tracker.lost_stracks)
            pool.append(track)
        removed: list[Any] = [_Gone() for _ in range(checkpoint.removed_count)]
        for entry in checkpoint.removed:
            removed[entry.position] = _Gone(int(entry.track_id))
        tracker.removed_stracks = removed


class _Gone:
    """A removed track as the removed buffer needs it: only its id is ever read (-1: an id no
    track in the pools has, which therefore filters nothing)."""

    def __init__(self, track_id: int = -1) -> None:
        self.track_id = track_id


_STATES = {0: TrackState.TRACK_STATE_NEW, 1: TrackState.TRACK_STATE_TRACKED,
           2: TrackState.TRACK_STATE_LOST, 3: TrackState.TRACK_STATE_REMOVED}
_FROM_STATES = {v: k for k, v in _STATES.items()}


def _snapshot(track: Any, pool: int) -> TrackSnapshot:
    mean = np.asarray(track.mean)
    covariance = np.asarray(track.covariance)
    if mean.dtype != np.float64 or covariance.dtype != np.float64 or mean.shape != (8,):
        raise TypeError("unexpected Kalman state layout (is ultralytics the pinned version?)")
    if getattr(track, "angle", None) is not None:
        raise TypeError("oriented boxes are not checkpointed")
    return TrackSnapshot(
        track_id=int(track.track_id), state=_STATES[int(track.state)], pool=pool,  # type: ignore[arg-type]
        activated=bool(track.is_activated), score=float(track.score),
        class_id=float(track.cls), detection_index=int(track.idx),
        start_frame=int(track.start_frame), frame=int(track.frame_id),
        tracklet_len=int(track.tracklet_len),
        tlwh=np.asarray(track._tlwh, np.float32).tolist(), mean=mean.tolist(),
        covariance=covariance.reshape(-1).tolist())


def _track(track_class: Any, snap: TrackSnapshot, tracker: Any) -> Any:
    tlwh = np.asarray(snap.tlwh, np.float32)
    xywh = np.array([tlwh[0] + tlwh[2] / 2, tlwh[1] + tlwh[3] / 2, tlwh[2], tlwh[3],
                     snap.detection_index], np.float64)
    track = track_class(xywh, np.float32(snap.score), np.float32(snap.class_id))
    track._tlwh = tlwh  # exactly as stored, not recomputed through the centre
    track.kalman_filter = tracker.kalman_filter
    track.mean = np.asarray(snap.mean, np.float64)
    track.covariance = np.asarray(snap.covariance, np.float64).reshape(8, 8)
    track.track_id = int(snap.track_id)
    track.state = _FROM_STATES[snap.state]
    track.is_activated = bool(snap.activated)
    track.start_frame = int(snap.start_frame)
    track.frame_id = int(snap.frame)
    track.tracklet_len = int(snap.tracklet_len)
    track.idx = np.int64(snap.detection_index)
    track.next_id = tracker._ids.__next__
    return track


class TrackerPool:
    """One CameraTracker per camera id, created on first use. Bounded: a camera not updated for
    `idle_timeout_s` loses its tracker (a later frame starts a fresh one, ids from 1 again), and
    beyond `max_cameras` the least recently updated camera is dropped. Not thread-safe: update a
    camera from one task at a time (the bus delivers a camera's frames in order)."""

    def __init__(self, params: TrackerParams | None = None, *, idle_timeout_s: float = 300.0,
                 max_cameras: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        if idle_timeout_s <= 0 or max_cameras < 1:
            raise ValueError("need idle_timeout_s > 0 and max_cameras >= 1")
        self.params = params or TrackerParams()
        self.idle_timeout_s, self.max_cameras, self._clock = idle_timeout_s, max_cameras, clock
        self._trackers: OrderedDict[str, tuple[CameraTracker, float]] = OrderedDict()

    def update(self, camera_id: str, detections: Detections, frame_rate: float) -> Detections:
        now = self._clock()
        self.evict_idle(now)
        entry = self._trackers.pop(camera_id, None)
        tracker = entry[0] if entry else CameraTracker(self.params)
        self._trackers[camera_id] = (tracker, now)  # most recently used last
        while len(self._trackers) > self.max_cameras:
            self._trackers.popitem(last=False)
        return tracker.update(detections, frame_rate)

    def evict_idle(self, now: float | None = None) -> list[str]:
        now = self._clock() if now is None else now
        evicted = []
        while self._trackers:
            camera_id, (_, last) = next(iter(self._trackers.items()))
            if now - last <= self.idle_timeout_s:
                break
            del self._trackers[camera_id]
            evicted.append(camera_id)
        return evicted

    def drop(self, camera_id: str) -> None:
        self._trackers.pop(camera_id, None)

    def checkpoint(self, camera_id: str, into: TrackerCheckpointed) -> TrackerCheckpointed:
        """The state of `camera_id`'s tracker (a fresh tracker's if it has none)."""
        entry = self._trackers.get(camera_id)
        tracker = entry[0] if entry else CameraTracker(self.params)
        return tracker.checkpoint(into)

    def restore(self, camera_id: str, checkpoint: TrackerCheckpointed | None) -> None:
        """Replace `camera_id`'s tracker by the one `checkpoint` describes (None: drop it, so
        that its next frame starts a fresh tracker)."""
        self._trackers.pop(camera_id, None)
        if checkpoint is None:
            return
        tracker = CameraTracker(self.params)
        tracker.restore(checkpoint)
        self._trackers[camera_id] = (tracker, self._clock())
        while len(self._trackers) > self.max_cameras:
            self._trackers.popitem(last=False)

    def __contains__(self, camera_id: object) -> bool:
        return camera_id in self._trackers

    def __len__(self) -> int:
        return len(self._trackers)
