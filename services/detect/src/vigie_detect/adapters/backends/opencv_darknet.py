"""Darknet YOLO (yolov3-tiny) on OpenCV's DNN module: the CPU default detector backend.

Needs opencv-python-headless 4.x (OpenCV 5 removed cv2.dnn.readNetFromDarknet).

Conventions, kept identical to cv2.dnn.DetectionModel (the reference the tests compare with):
- input: each image resized (no letterbox, no crop) to input_size x input_size, BGR->RGB, /255;
- confidence = objectness x class probability. OpenCV's YOLO ("Region") layer already outputs
  that product in columns 5.. and zeroes products below the [yolo] section's `thresh` (0.2 when the
  cfg sets none, as yolov3-tiny's does): with min_confidence below 0.2 the cfg is given
  `thresh = min_confidence` in memory, so low-score boxes reach ByteTrack's second association;
  we take the best class of each anchor box (one label per box, not darknet's
  multi-label);
- boxes are decoded in each image's own pixel size, then NMS per class (nms_iou), classes of
  one of `nms_groups` (car, truck, bus by default) competing as one, or all classes as one with
  agnostic_nms; then boxes below min_confidence are dropped.

One network per input shape: with keep_aspect, cameras of different aspect ratios give different
network inputs, and an OpenCV DNN net whose input shape changes sets itself up again on the next
forward pass (layer shapes, buffers, layer initialisation): about as long as the forward pass
itself (bench/detect/README.md, 2026-12-07: 111-118 ms instead of 57-68 ms CPU per forward pass
with the four bench cameras interleaved). The detector keeps up to `max_nets` nets, each staying
on the shape it last ran; a shape beyond them takes over the least recently used net (which then
sets itself up again, as a single net always did). Each extra net costs ~80-260 MiB of RSS
(buffers, 448 input). A batch of another size on the same shape also sets a net up again, but
costs less (~12 ms).
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping

import cv2
import numpy as np
from pydantic import Field
from vigie_core.model_store import ModelError, ResolvedModel

from vigie_detect.adapters.detector import Backend, DetectorOptions, Image
from vigie_detect.domain.detections import COCO_CLASSES, Detections, nms_group_of

_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_MASK = re.compile(r"^(\s*mask\s*=).*$")
_THRESH = re.compile(r"^\s*thresh\s*=")


YOLO_LAYER_THRESH = 0.2  # OpenCV's default for a [yolo] section without `thresh`


class DarknetOptions(DetectorOptions):
    keep_aspect: bool = Field(False, description="Network input of the image's aspect ratio, "
                              "input_size on its long side (multiples of 32); false: square.")
    flip_tta: bool = Field(False, description="Also infer each image mirrored left-right and put "
                           "the boxes of both passes through one NMS: twice the model time.")
    nms_groups: tuple[tuple[int, ...], ...] = Field((), description="Groups of class ids whose "
                                                    "boxes suppress each other in NMS (car, "
                                                    "truck, bus: one vehicle, counted once).")
    max_nets: int = Field(4, ge=1, le=32, description="Networks kept, one per input shape "
                          "(keep_aspect: one per camera aspect ratio), so that switching cameras "
                          "does not set a net up again; each costs ~80-260 MiB.")


def patch_darknet_thresh(cfg: str, thresh: float) -> str:
    """The cfg with `thresh = <thresh>` in every [yolo] section (replacing any there). OpenCV's
    YOLO layer zeroes class scores under it, whatever threshold is applied afterwards."""
    out: list[str] = []
    in_yolo = False
    for line in cfg.splitlines(keepends=True):
        if section := _SECTION.match(line):
            in_yolo = section.group(1).strip().lower() == "yolo"
            out.append(line if line.endswith(("\n", "\r")) else line + "\n")
            if in_yolo:
                out.append(f"thresh = {thresh:g}\n")
            continue
        if in_yolo and _THRESH.match(line):
            continue
        out.append(line)
    return "".join(out)


def patch_darknet_masks(cfg: str, masks: Mapping[int, str]) -> str:
    """The cfg text with the `mask =` line of the given [yolo] sections (0-based index among the
    [yolo] sections) replaced. Raises if a section or its mask line is missing: a cfg this patch
    does not fit is a different model and must not load silently."""
    if not masks:
        return cfg
    lines = cfg.splitlines(keepends=True)
    yolo_index, patched = -1, set()
    in_yolo = False
    for i, line in enumerate(lines):
        if section := _SECTION.match(line):
            in_yolo = section.group(1).strip().lower() == "yolo"
            yolo_index += in_yolo
            continue
        if in_yolo and yolo_index in masks and (m := _MASK.match(line)):
            ending = line[len(line.rstrip("\r\n")):]
            lines[i] = f"{m.group(1)} {masks[yolo_index]}{ending}"
            patched.add(yolo_index)
    if missing := set(masks) - patched:
        raise ModelError(f"cfg has no mask line in [yolo] section(s) {sorted(missing)}")
    return "".join(lines)


class OpenCvDarknetDetector:
    """A Detector: a Darknet cfg and weights on OpenCV DNN, cpu only."""

    class_names: tuple[str, ...] = COCO_CLASSES

    def __init__(self, resolved: ResolvedModel, options: DarknetOptions | None = None) -> None:
        self.options = options or DarknetOptions()
        if self.options.device != "cpu":
            raise ModelError(f"opencv-darknet runs on cpu only, not {self.options.device!r}")
        if self.options.input_size <= 0 or self.options.input_size % 32:
            raise ModelError(f"input_size must be a multiple of 32, not {self.options.input_size}")
        self.model_id = resolved.model_id
        # The catalogue's cfg fix for these weights, if any (ModelSpec.backend_params).
        cfg = patch_darknet_masks(resolved.paths["cfg"].read_text(encoding="utf-8"),
                                  resolved.spec.backend_params.get("yolo_masks", {}))
        if self.options.min_confidence < YOLO_LAYER_THRESH:
            cfg = patch_darknet_thresh(cfg, self.options.min_confidence)
        self._cfg = np.frombuffer(cfg.encode(), np.uint8)
        self._weights = np.fromfile(resolved.paths["weights"], dtype=np.uint8)
        self._threads = self.options.threads or os.cpu_count() or 1
        cv2.setNumThreads(self._threads)
        # Input shape -> the net last run on it, least recently used first (see the docstring).
        # The first net is read now, so that a bad cfg or weights fail the load.
        self._nets: OrderedDict[tuple[int, int] | None, cv2.dnn.Net] = OrderedDict()
        self._nets[None] = self._read_net()
        self._outputs = self._nets[None].getUnconnectedOutLayersNames()
        self._lock = threading.Lock()  # one inference at a time (the batcher, gRPC Detect)
        # The class each box competes in during NMS: its own, its group's first, or one for all.
        self._nms_class = nms_group_of(len(self.class_names), self.options.nms_groups,
                                       self.options.agnostic_nms)

    def _read_net(self) -> cv2.dnn.Net:
        net = cv2.dnn.readNetFromDarknet(self._cfg, self._weights)
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        return net

    def _net_for(self, size: tuple[int, int]) -> cv2.dnn.Net:
        """The net to run on inputs of `size` (width, height): the one that ran on it last, else
        a new one while there are fewer than max_nets, else the least recently used one."""
        net = self._nets.pop(size, None)
        if net is None:
            if None in self._nets:  # the net read at load, not run yet
                net = self._nets.pop(None)
            elif len(self._nets) < self.options.max_nets:
                net = self._read_net()
            else:
                net = self._nets.popitem(last=False)[1]
        self._nets[size] = net  # most recently used last
        return net

    @property
    def input_shapes(self) -> list[tuple[int, int]]:
        """The input shapes (width, height) the kept nets are set up for, least recently used
        first."""
        return [size for size in self._nets if size is not None]

    def detect(self, images: list[Image]) -> list[Detections]:
        if not images:
            return []
        with self._lock:
            return self._detect(images)

    def _detect(self, images: list[Image]) -> list[Detections]:
        if cv2.getNumThreads() != self._threads:
            # The setting is process-wide: anything may have changed it since the load.
            cv2.setNumThreads(self._threads)
        # Images of one network input size are inferred together (all of them when square).
        groups: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(images):
            groups.setdefault(self.input_shape(image.shape[1], image.shape[0]), []).append(i)
        rows_of: dict[int, np.ndarray] = {}
        for size, members in groups.items():
            batch: list[np.ndarray] = [images[i] for i in members]
            if self.options.flip_tta:
                batch += [cv2.flip(images[i], 1) for i in members]
            blob = cv2.dnn.blobFromImages(batch, 1 / 255.0, size, swapRB=True, crop=False)
            net = self._net_for(size)
            net.setInput(blob)
            outs = net.forward(self._outputs)
            # One image: each output is (rows, 85); a batch: (batch, rows, 85).
            per_image = [np.concatenate([o.reshape(len(batch), -1, o.shape[-1])[j]
                                         for o in outs]) for j in range(len(batch))]
            for j, i in enumerate(members):
                rows_of[i] = per_image[j]
                if self.options.flip_tta:
                    mirrored = per_image[len(members) + j].copy()
                    mirrored[:, 0] = 1.0 - mirrored[:, 0]  # centre x, normalised
                    rows_of[i] = np.concatenate([per_image[j], mirrored])
        return [self._decode(rows_of[i], image.shape[1], image.shape[0])
                for i, image in enumerate(images)]

    def input_shape(self, width: int, height: int) -> tuple[int, int]:
        """Network input (width, height): input_size square, or with keep_aspect input_size on
        the image's long side and the other side scaled, in multiples of 32."""
        size = self.options.input_size
        if not self.options.keep_aspect or width == height:
            return size, size
        short = max(32, round(size * min(width, height) / max(width, height) / 32) * 32)
        return (size, short) if width > height else (short, size)

    def _decode(self, rows: np.ndarray, width: int, height: int) -> Detections:
        scores = rows[:, 5:]
        class_id = scores.argmax(axis=1)
        confidence = scores[np.arange(len(rows)), class_id]
        keep = confidence >= self.options.min_confidence
        rows, class_id, confidence = rows[keep], class_id[keep], confidence[keep]
        if not len(rows):
            return Detections.empty()
        cx, cy = rows[:, 0] * width, rows[:, 1] * height
        w, h = rows[:, 2] * width, rows[:, 3] * height
        xywh = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1)
        picked = cv2.dnn.NMSBoxesBatched(xywh.tolist(), confidence.tolist(),
                                         self._nms_class[class_id].tolist(),
                                         self.options.min_confidence, self.options.nms_iou)
        kept = np.asarray(picked, np.int64).reshape(-1)
        kept = kept[np.argsort(-confidence[kept], kind="stable")]
        xywh = xywh[kept]
        xyxy = np.stack([xywh[:, 0], xywh[:, 1], xywh[:, 0] + xywh[:, 2],
                         xywh[:, 1] + xywh[:, 3]], axis=1)
        xyxy = np.clip(xyxy, 0, [width, height, width, height])
        return Detections(xyxy, np.clip(confidence[kept], 0, 1), class_id[kept])


BACKEND = Backend(
    name="opencv-darknet",
    description="Darknet YOLO cfg + weights on OpenCV DNN, cpu (the default yolov3-tiny)",
    options=DarknetOptions, load=OpenCvDarknetDetector)
