"""The batcher's two stages: inference in one thread, tracking and the scene stage behind it in a
lower-priority thread; results in submission order, failures confined to their frame."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from typing import Any

import numpy as np
import pytest
from vigie_detect.adapters.batcher import BACKLOG, Batcher
from vigie_detect.adapters.scene import ScenePool, SceneResult
from vigie_detect.domain.detections import Detections


class RecordingDetector:
    """One box per image whose x is the image's marker; notes the thread it ran in."""

    model_id = "fake@0"
    class_names = ("person",)

    def __init__(self, fail_on: int | None = None) -> None:
        self.threads: set[int] = set()
        self.fail_on = fail_on

    def detect(self, images: list[Any]) -> list[Detections]:
        self.threads.add(threading.get_native_id())
        out = []
        for image in images:
            marker = int(image[0, 0, 0])
            if marker == self.fail_on:
                raise RuntimeError("the model failed")
            out.append(Detections(np.array([[marker, 0, marker + 10, 10]], np.float32),
                                  np.array([0.9], np.float32), np.array([0])))
        return out


class RecordingScene(ScenePool):
    """The real scene pool, noting the thread and niceness it ran with; fails on one camera."""

    def __init__(self, fail_camera: str = "") -> None:
        super().__init__()
        self.seen: list[tuple[str, int, int]] = []
        self.fail_camera = fail_camera

    def update(self, camera_id: str, image: Any, t_s: float, claimers: Any,
               accepted_s: float | None = None) -> SceneResult:
        tid = threading.get_native_id()
        self.seen.append((camera_id, tid, os.getpriority(os.PRIO_PROCESS, tid)))
        if camera_id == self.fail_camera:
            raise RuntimeError("scene stage failed")
        return super().update(camera_id, image, t_s, claimers, accepted_s)


def image_of(data: bytes) -> np.ndarray:
    if data == b"corrupt":
        raise ValueError("not a JPEG")
    return np.full((48, 64, 3), int(data), np.uint8)


async def run(batcher: Batcher, jobs: list[tuple[str, bytes]]) -> list[Any]:
    batcher.start()
    try:
        futures = [batcher.submit(camera, data, (64, 48), 5.0, t_s=k * 0.5)
                   for k, (camera, data) in enumerate(jobs)]
        return await asyncio.gather(*futures, return_exceptions=True)
    finally:
        await batcher.stop()


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread niceness is Linux's")
async def test_results_come_in_order_and_the_scene_stage_runs_behind_at_lower_priority() -> None:
    detector, scene = RecordingDetector(), RecordingScene()
    jobs = [(f"cam-{k % 3}", str(10 + k).encode()) for k in range(4 * BACKLOG + 3)]
    results = await run(Batcher(detector, None, 1, 0.0, image_of, scene), jobs)
    assert [int(r.detections.xyxy[0, 0]) for r in results] == [10 + k for k in range(len(jobs))]
    assert all(isinstance(r.scene, SceneResult) for r in results)
    assert [camera for camera, _, _ in scene.seen] == [camera for camera, _ in jobs]
    behind = {tid for _, tid, _ in scene.seen}
    assert len(behind) == 1 and not behind & detector.threads  # a thread of its own
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert all(nice > mine for _, _, nice in scene.seen)  # nicer than the rest


async def test_a_failure_fails_its_frame_only() -> None:
    detector, scene = RecordingDetector(fail_on=13), RecordingScene(fail_camera="cam-bad")
    jobs = [("cam-a", b"10"), ("cam-a", b"corrupt"), ("cam-bad", b"11"), ("cam-a", b"12"),
            ("cam-a", b"13"), ("cam-a", b"14")]
    results = await run(Batcher(detector, None, 1, 0.0, image_of, scene), jobs)
    assert isinstance(results[1], ValueError)  # the corrupt image
    assert isinstance(results[2], RuntimeError) and "scene" in str(results[2])
    assert isinstance(results[4], RuntimeError) and "model" in str(results[4])
    assert [int(results[k].detections.xyxy[0, 0]) for k in (0, 3, 5)] == [10, 12, 14]
