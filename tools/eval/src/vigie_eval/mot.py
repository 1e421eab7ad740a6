"""MOTChallenge sequences and CLEAR-MOT / identity metrics with py-motmetrics.

A sequence folder holds `seqinfo.ini` (name, frameRate, seqLength, imWidth, imHeight),
`gt/gt.txt` (frame, id, x, y, w, h, conf, ...; frames 1-based, rows with conf 0 ignored, as the
MOTChallenge evaluation does) and the video: `<name>.mp4` (or any `*.mp4`/`*.avi`/`*.mkv` in the
folder). Matching is the MOTChallenge one: IoU >= 0.5 (distance 1 - IoU < 0.5).

py-motmetrics 1.4.0 calls `np.asfarray`, removed in NumPy 2, in `distances.iou_matrix`: the IoU
distance matrix is computed here instead (same definition), and only the accumulator and the
metrics come from motmetrics, which work on NumPy 2.4 / pandas 3.
"""

from __future__ import annotations

import configparser
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import motmetrics as mm
import numpy as np
import numpy.typing as npt
from vigie.detect.v1.detection_pb2 import ObjectsDetected

Array = npt.NDArray[np.float64]
IOU_THRESHOLD = 0.5
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")
METRICS = ("mota", "idf1", "precision", "recall", "num_switches", "num_false_positives",
           "num_misses", "num_objects", "num_unique_objects", "mostly_tracked", "mostly_lost",
           "num_fragmentations", "motp", "num_frames", "idp", "idr")


@dataclass(frozen=True)
class SequenceInfo:
    name: str
    folder: Path
    frame_rate: float
    length: int
    width: int
    height: int

    @property
    def video(self) -> Path:
        preferred = self.folder / f"{self.name}.mp4"
        if preferred.is_file():
            return preferred
        found = sorted(p for p in self.folder.iterdir()
                       if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        if not found:
            raise FileNotFoundError(f"{self.folder}: no video ({', '.join(VIDEO_SUFFIXES)}) "
                                    f"next to seqinfo.ini")
        return found[0]


def read_sequence(folder: Path) -> SequenceInfo:
    folder = Path(folder)
    ini = folder / "seqinfo.ini"
    if not ini.is_file():
        raise FileNotFoundError(f"{folder}: not a MOTChallenge sequence (no seqinfo.ini)")
    parser = configparser.ConfigParser()
    parser.read(ini, encoding="utf-8")
    seq = parser["Sequence"]
    return SequenceInfo(seq.get("name", folder.name), folder, float(seq["frameRate"]),
                        int(seq["seqLength"]), int(seq["imWidth"]), int(seq["imHeight"]))


@dataclass(frozen=True)
class Boxes:
    """Per-frame ids and (N, 4) x, y, w, h pixel boxes."""

    ids: dict[int, list[int]]
    boxes: dict[int, Array]

    def frame(self, index: int) -> tuple[list[int], Array]:
        return self.ids.get(index, []), self.boxes.get(index, np.zeros((0, 4)))


def read_ground_truth(path: Path) -> Boxes:
    """gt.txt rows with conf != 0, by 1-based frame."""
    data = np.loadtxt(path, delimiter=",", ndmin=2)
    ids: dict[int, list[int]] = {}
    boxes: dict[int, list[list[float]]] = {}
    for row in data:
        if len(row) > 6 and row[6] == 0:
            continue
        frame = int(row[0])
        ids.setdefault(frame, []).append(int(row[1]))
        boxes.setdefault(frame, []).append([float(v) for v in row[2:6]])
    return Boxes(ids, {f: np.asarray(b, np.float64).reshape(-1, 4) for f, b in boxes.items()})


def iou_distance(gt: Array, hyp: Array, max_distance: float = IOU_THRESHOLD) -> Array:
    """(N, M) 1 - IoU of x, y, w, h boxes; NaN (no match possible) where 1 - IoU >= max."""
    gt = np.asarray(gt, np.float64).reshape(-1, 4)
    hyp = np.asarray(hyp, np.float64).reshape(-1, 4)
    if not len(gt) or not len(hyp):
        return np.empty((len(gt), len(hyp)))
    g0, g1 = gt[:, None, :2], gt[:, None, :2] + gt[:, None, 2:]
    h0, h1 = hyp[None, :, :2], hyp[None, :, :2] + hyp[None, :, 2:]
    inter = np.prod(np.clip(np.minimum(g1, h1) - np.maximum(g0, h0), 0, None), axis=2)
    union = np.prod(gt[:, 2:], axis=1)[:, None] + np.prod(hyp[:, 2:], axis=1)[None, :] - inter
    distance = 1.0 - np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return np.where(distance < max_distance, distance, np.nan)


def hypotheses(frames: Iterable[tuple[int, ObjectsDetected]], width: int, height: int,
               classes: Sequence[str] = ("person",)) -> Boxes:
    """Tracked detections (track_id > 0) of the given classes, boxes scaled from the
    contract's normalised coordinates back to the sequence's pixels."""
    ids: dict[int, list[int]] = {}
    boxes: dict[int, Array] = {}
    for index, detected in frames:
        rows = [d for d in detected.detections if d.track_id > 0 and d.class_name in classes]
        ids[index] = [d.track_id for d in rows]
        boxes[index] = np.asarray(
            [[d.box.x_min * width, d.box.y_min * height, (d.box.x_max - d.box.x_min) * width,
              (d.box.y_max - d.box.y_min) * height] for d in rows], np.float64).reshape(-1, 4)
    return Boxes(ids, boxes)


def accumulate(gt: Boxes, hyp: Boxes, frames: Iterable[int]) -> mm.MOTAccumulator:
    """One accumulator over the given (evaluated) frames, in order."""
    acc = mm.MOTAccumulator(auto_id=False)
    for index in frames:
        gt_ids, gt_boxes = gt.frame(index)
        hyp_ids, hyp_boxes = hyp.frame(index)
        acc.update(gt_ids, hyp_ids, iou_distance(gt_boxes, hyp_boxes), frameid=index)
    return acc


def summarise(accumulators: Mapping[str, mm.MOTAccumulator]) -> dict[str, dict[str, float]]:
    """Metrics per name, plus "OVERALL" (motmetrics' combined accumulator) when several."""
    host = mm.metrics.create()
    names = list(accumulators)
    table = host.compute_many([accumulators[n] for n in names], metrics=list(METRICS),
                              names=names, generate_overall=len(names) > 1)
    return {str(name): {k: float(v) for k, v in row.items()}
            for name, row in table.to_dict(orient="index").items()}
