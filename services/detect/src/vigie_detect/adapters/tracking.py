"""Per-camera multi-object tracking: ByteTrack or BoT-SORT as maintained in Ultralytics
(`ultralytics.trackers.byte_tracker.BYTETracker`, `ultralytics.trackers.bot_sort.BOTSORT`, API of
ultralytics 8.4.x). BoT-SORT runs without camera-motion compensation (fixed cameras) and its
appearance cue takes the colour histograms of `vigie_detect.domain.relink` (their square roots:
cosine similarity = Bhattacharyya coefficient) through its "auto" ReID path: no ReID model.

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

Re-linking (`vigie_detect.domain.relink`): with a picture (`update(..., image=, t_s=)`) and
`relink_s > 0`, a new track that starts where a track of the same class was lost at most
`relink_s` stream seconds ago (position predicted from its velocity, within
`relink_max_distance` box heights, similar box size) and looks like it (colour histograms of
the box's halves within `appearance_max_distance`) publishes the lost track's id; the lost
ByteTrack track is dropped so the id is never carried twice. Without a picture (or with
`relink_s = 0`) the output is ByteTrack's own. Published ids are ids ByteTrack handed out:
> 0 and unique per camera.

Ultralytics is imported on first use, through `import_ultralytics` (offline environment set first);
its matcher needs the `lap` package installed up front (an offline auto-install would fail).

Checkpoints: `CameraTracker.checkpoint` writes the whole tracker state into a
`TrackerCheckpointed` (every track of the tracked and lost pools with its Kalman mean and
covariance at full precision, the frame counter, the next id, the removed-track buffer as far as
it still matters, and the re-linking state: identities with their appearance, aliases, clock)
and `restore` rebuilds a tracker that gives, frame after frame, exactly the
output the original would have given (tests/test_tracking.py checks it at every frame of a real
sequence). Written against BYTETracker of ultralytics 8.4 (the pinned version).
"""

from __future__ import annotations

import json
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
from vigie.detect.v1.tracker_pb2 import (
    RemovedTrack,
    TrackClassEvidence,
    TrackerCheckpointed,
    TrackIdAlias,
    TrackIdentity,
    TrackPool,
    TrackSnapshot,
    TrackState,
)

from vigie_detect.domain.detections import Detections, Float, Int
from vigie_detect.domain.relink import (
    FEATURE_SIZE,
    Identity,
    Relinker,
    RelinkParams,
    appearances,
)
from vigie_detect.domain.riders import Evidence, RiderParams, Riders


@dataclass(frozen=True)
class TrackerParams:
    """ByteTrack parameters; defaults are Ultralytics' cfg/trackers/bytetrack.yaml (8.4)."""

    track_high_thresh: float = 0.25  # first association: detections at or above this
    track_low_thresh: float = 0.1  # second association (recovery only): above this
    new_track_thresh: float = 0.25  # an unmatched detection starts a track at or above this
    track_buffer: int = 30  # frames (at 30 fps) a lost track is kept for re-identification
    match_thresh: float = 0.8  # max association cost (1 - IoU, score-fused if fuse_score)
    fuse_score: bool = True  # weight IoU by detection confidence in the first association
    # "bytetrack", or "botsort": Ultralytics' BoT-SORT (box-size Kalman state) without camera
    # motion compensation, its appearance cue fed with the colour histograms below (no ReID
    # model) when a picture is given.
    tracker: str = "bytetrack"
    # Re-linking after occlusion (domain/relink.py; 0 s: off, ByteTrack alone).
    relink_s: float = 0.0  # stream seconds a lost identity can be taken over by a new track
    relink_max_distance: float = 1.5  # predicted to new centre, in lost box heights
    appearance_max_distance: float = 0.4  # largest colour-histogram (Hellinger) distance
    # Riders (domain/riders.py; off unless the model's classes are given).
    riders: RiderParams = field(default_factory=RiderParams)

    def __post_init__(self) -> None:
        if not 0 <= self.track_low_thresh <= self.track_high_thresh:
            raise ValueError("need 0 <= track_low_thresh <= track_high_thresh")
        if self.track_buffer < 1 or not 0 < self.match_thresh <= 1:
            raise ValueError("need track_buffer >= 1 and 0 < match_thresh <= 1")
        if self.tracker not in TRACKERS:
            raise ValueError(f"tracker must be one of {', '.join(TRACKERS)}")
        self.relink_params()  # validated there

    def relink_params(self) -> RelinkParams:
        return RelinkParams(relink_s=self.relink_s, relink_max_distance=self.relink_max_distance,
                            appearance_max_distance=self.appearance_max_distance)

    def bytetrack_args(self) -> dict[str, Any]:
        """The arguments of Ultralytics' tracker class (BoT-SORT's too)."""
        args = {k: v for k, v in asdict(self).items()
                if k not in ("relink_s", "relink_max_distance", "appearance_max_distance",
                             "tracker", "riders")}
        if self.tracker == "botsort":  # fixed cameras: no GMC; "auto" ReID: features given
            args |= BOTSORT_ARGS
        return args

    def fingerprint(self) -> str:
        """The parameters as canonical JSON: a checkpoint only restores into the same ones."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


TRACKERS = ("bytetrack", "botsort")
# BoT-SORT's own defaults (cfg/trackers/botsort.yaml, 8.4) except gmc_method (cameras are fixed)
# and with_reid: its "auto" encoder takes the features handed to update (no model is loaded).
BOTSORT_ARGS = {"gmc_method": "none", "proximity_thresh": 0.5, "appearance_thresh": 0.8,
                "with_reid": True, "model": "auto"}


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


def _tracker_class(name: str = "bytetrack") -> Any:
    try:
        import lap  # noqa: F401  (else Ultralytics would try to pip-install it at import)
    except ImportError as e:
        raise RuntimeError("tracking needs the `lap` package (pip install lap>=0.5.12)") from e
    from vigie_detect.adapters.ultralytics_offline import import_ultralytics

    import_ultralytics()
    if name == "botsort":
        from ultralytics.trackers.bot_sort import BOTSORT

        return BOTSORT
    from ultralytics.trackers.byte_tracker import BYTETracker

    return BYTETracker


class CameraTracker:
    """ByteTrack state of one camera. Feed it every analysed frame of that camera, in order
    (frames with no detections too: they age lost tracks)."""

    def __init__(self, params: TrackerParams | None = None) -> None:
        self.params = params or TrackerParams()
        self._tracker = _tracker_class(self.params.tracker)(
            SimpleNamespace(**self.params.bytetrack_args()))
        self._appearance_cue = self.params.tracker == "botsort"
        self._relinker = Relinker(self.params.relink_params())
        self._riders = Riders(self.params.riders)
        self._time_s: float | None = None  # stream time of the last frame

    @property
    def frames(self) -> int:
        return int(self._tracker.frame_id)

    def update(self, detections: Detections, frame_rate: float,
               image: np.ndarray | None = None, t_s: float | None = None,
               features: Float | None = None,
               image_size: tuple[int, int] | None = None) -> Detections:
        """Track one frame. `image`: the decoded picture (BGR uint8) the boxes are in, for
        re-linking; `t_s`: its stream time in seconds (default: the last frame's + 1 /
        frame_rate); `features`: the detections' appearances (N, FEATURE_SIZE) if already
        computed from that picture (offline tuning), instead of `image`, with its
        `image_size` (width, height)."""
        if not frame_rate > 0:
            raise ValueError(f"frame_rate must be > 0, got {frame_rate}")
        if t_s is None:
            t_s = 0.0 if self._time_s is None else self._time_s + 1.0 / frame_rate
        self._time_s = float(t_s)
        self._tracker.max_frames_lost = max(1, round(self.params.track_buffer * frame_rate / 30))
        boxes = _Boxes(detections.xyxy.astype(np.float32), detections.confidence.astype(np.float32),
                       detections.class_id.astype(np.float32))
        relink = self._relinker.params.enabled
        if features is not None:
            features = np.asarray(features, np.float32).reshape(len(detections), FEATURE_SIZE)
        elif image is not None and (relink or self._appearance_cue):
            features = appearances(image, detections.xyxy)
        # BoT-SORT's appearance cue: square roots of the histograms, whose cosine similarity
        # (once L2-normalised) is their Bhattacharyya coefficient.
        cue = (np.sqrt(features) if self._appearance_cue and features is not None
               and len(detections) else None)
        # rows: x1, y1, x2, y2, track_id, score, cls, idx (idx: index into `detections`)
        tracks = np.asarray(self._tracker.update(boxes, None, cue), np.float64).reshape(-1, 8)
        # Every detection is kept; those an active track claims carry its id, the others 0
        # (a new object's first frame, a low-score box no track extends).
        track_id = np.zeros(len(detections), np.int64)
        track_id[tracks[:, 7].astype(np.int64)] = tracks[:, 4].astype(np.int64)
        if not relink:
            return self._ride(detections.with_tracker_ids(track_id))
        tracker = self._tracker
        alive = {int(t.track_id) for t in (*tracker.tracked_stracks, *tracker.lost_stracks)}
        size = None if image is None else (int(image.shape[1]), int(image.shape[0]))
        published, taken_over = self._relinker.step(self._time_s, track_id, detections.xyxy,
                                                    detections.class_id, features, alive,
                                                    image_size or size)
        if taken_over:  # the lost tracks whose identity a new track took: never re-found
            gone = set(taken_over)
            tracker.tracked_stracks = [t for t in tracker.tracked_stracks
                                       if int(t.track_id) not in gone]
            tracker.lost_stracks = [t for t in tracker.lost_stracks
                                    if int(t.track_id) not in gone]
        return self._ride(detections.with_tracker_ids(published))

    def _ride(self, tracked: Detections) -> Detections:
        """Riders published as their two-wheeler (domain/riders.py)."""
        assert self._time_s is not None
        classes = self._riders.step(self._time_s, tracked.tracker_id, tracked.class_id,
                                    tracked.confidence)
        return Detections(tracked.xyxy, tracked.confidence, classes, tracked.tracker_id)

    def reset(self) -> None:
        self._tracker.reset()
        self._relinker = Relinker(self.params.relink_params())
        self._riders = Riders(self.params.riders)
        self._time_s = None

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
        relinker = self._relinker
        del into.identities[:]
        into.identities.extend(
            TrackIdentity(track_id=i.track_id, raw_track_id=i.raw_id, class_id=i.class_id,
                          last_seen_s=i.last_seen_s, box=i.box.tolist(),
                          velocity=i.velocity.tolist(), appearance=i.feature.tolist(),
                          observations=i.observations)
            for i in relinker.identities.values())
        del into.aliases[:]
        into.aliases.extend(TrackIdAlias(raw_track_id=r, track_id=p)
                            for r, p in relinker.aliases.items())
        into.newest_raw_track_id = relinker.newest_raw_id
        into.tracker_time_s = self._time_s if self._time_s is not None else 0.0
        del into.class_evidence[:]
        into.class_evidence.extend(
            TrackClassEvidence(track_id=i, last_seen_s=e.last_seen_s, class_ids=list(e.sums),
                               confidence_sums=list(e.sums.values()))
            for i, e in self._riders.tracks.items())
        return into

    def restore(self, checkpoint: TrackerCheckpointed) -> None:
        """Become the tracker `checkpoint` describes (taken with the same parameters)."""
        if checkpoint.tracker_params != self.params.fingerprint():
            raise ValueError("checkpoint taken with other tracker parameters")
        tracker = self._tracker
        tracker.reset()
        tracker.frame_id = int(checkpoint.tracker_frames)
        tracker._ids = iter(range(int(checkpoint.next_track_id), sys.maxsize))
        track_class = _track_class(tracker)
        for snap in checkpoint.tracks:
            track = _track(track_class, snap, tracker)
            pool = (tracker.tracked_stracks if snap.pool == TrackPool.TRACK_POOL_TRACKED
                    else tracker.lost_stracks)
            pool.append(track)
        removed: list[Any] = [_Gone() for _ in range(checkpoint.removed_count)]
        for entry in checkpoint.removed:
            removed[entry.position] = _Gone(int(entry.track_id))
        tracker.removed_stracks = removed
        relinker = Relinker(self.params.relink_params())
        for i in checkpoint.identities:
            relinker.identities[int(i.track_id)] = Identity(
                int(i.track_id), int(i.raw_track_id), int(i.class_id), float(i.last_seen_s),
                np.asarray(i.box, np.float32), np.asarray(i.velocity, np.float64),
                np.asarray(i.appearance, np.float32), int(i.observations))
        relinker.aliases = {int(a.raw_track_id): int(a.track_id) for a in checkpoint.aliases}
        relinker.newest_raw_id = int(checkpoint.newest_raw_track_id)
        self._relinker = relinker
        self._riders = Riders(self.params.riders, {
            int(e.track_id): Evidence(float(e.last_seen_s), dict(zip(
                (int(c) for c in e.class_ids), (float(v) for v in e.confidence_sums),
                strict=True)))
            for e in checkpoint.class_evidence})
        self._time_s = (float(checkpoint.tracker_time_s) if checkpoint.tracker_frames > 0
                        else None)


class _Gone:
    """A removed track as the removed buffer needs it: only its id is ever read (-1: an id no
    track in the pools has, which therefore filters nothing)."""

    def __init__(self, track_id: int = -1) -> None:
        self.track_id = track_id


_STATES = {0: TrackState.TRACK_STATE_NEW, 1: TrackState.TRACK_STATE_TRACKED,
           2: TrackState.TRACK_STATE_LOST, 3: TrackState.TRACK_STATE_REMOVED}
_FROM_STATES = {v: k for k, v in _STATES.items()}


def _track_class(tracker: Any) -> Any:
    """The track class the tracker makes (BoT-SORT makes BOTrack, not its `track_class`)."""
    if type(tracker).__name__ == "BOTSORT":
        from ultralytics.trackers.bot_sort import BOTrack

        return BOTrack
    return tracker.track_class


def _feature(value: Any) -> list[float]:
    return [] if value is None else np.asarray(value, np.float32).reshape(-1).tolist()


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
        covariance=covariance.reshape(-1).tolist(),
        current_feature=_feature(getattr(track, "curr_feat", None)),
        smooth_feature=_feature(getattr(track, "smooth_feat", None)))


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
    if hasattr(track, "smooth_feat"):  # BOTrack
        track.curr_feat = (np.asarray(snap.current_feature, np.float32)
                           if len(snap.current_feature) else None)
        track.smooth_feat = (np.asarray(snap.smooth_feature, np.float32)
                             if len(snap.smooth_feature) else None)
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

    def update(self, camera_id: str, detections: Detections, frame_rate: float,
               image: np.ndarray | None = None, t_s: float | None = None) -> Detections:
        """Track one frame of `camera_id` (`image`, `t_s`: see CameraTracker.update)."""
        now = self._clock()
        self.evict_idle(now)
        entry = self._trackers.pop(camera_id, None)
        tracker = entry[0] if entry else CameraTracker(self.params)
        self._trackers[camera_id] = (tracker, now)  # most recently used last
        while len(self._trackers) > self.max_cameras:
            self._trackers.popitem(last=False)
        return tracker.update(detections, frame_rate, image, t_s)

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
