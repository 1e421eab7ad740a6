"""The embedded runtime: the core consume loop hands each record of the rules service's input
topics to these handlers, which run the app's steps with per-camera states in memory (a new
state is kept only once its outputs are durable)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged
from vigie.detect.v1.detection_pb2 import ObjectsDetected
from vigie.face.v1.face_match_pb2 import FaceMatched
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie.ingest.v1.report_pb2 import ReportReceived
from vigie.rules.v1.signal_pb2 import SignalObserved
from vigie_core.codec import Event
from vigie_core.processing import PoisonError, Subscription
from vigie_core.topics import CAMERA_HEALTH, DETECTIONS, FACES, FRAMES, REPORTS, SIGNALS

from vigie_rules.app import Output, RulesApp
from vigie_rules.domain.engine_state import CameraState
from vigie_rules.domain.kinds.face_match import FaceState

E = TypeVar("E", ObjectsDetected, SignalObserved)


class BuiltinWorker:
    def __init__(self, app: RulesApp) -> None:
        self.app = app
        self.states: dict[str, CameraState] = {}
        self.face_states: dict[str, FaceState] = {}

    def subscriptions(self) -> list[Subscription]:
        return [Subscription(DETECTIONS, self._on_detections),
                Subscription(SIGNALS, self._on_signal),
                Subscription(FACES, self._on_face_match),
                Subscription(REPORTS, self._on_report),
                Subscription(CAMERA_HEALTH, self._on_camera_health),
                Subscription(FRAMES, self._on_frame)]

    def cameras(self) -> int:
        return len(self.states)

    async def _on_detections(self, event: Event[ObjectsDetected]) -> None:
        if (detected := event.message) is not None:
            await self._camera_step(detected.camera_id, self.app.step_detections, detected)
            self.app.counts["frames_evaluated"] += 1

    async def _on_signal(self, event: Event[SignalObserved]) -> None:
        if (observed := event.message) is not None:
            await self._camera_step(observed.camera_id, self.app.step_signal, observed)

    async def _camera_step(
            self, camera_id: str,
            step: Callable[[CameraState, E], tuple[CameraState, list[Output]]],
            message: E) -> None:
        state = self.states.get(camera_id) or CameraState(camera_id=camera_id)
        state, outputs = step(state, message)
        await self.app.emit(outputs)
        self.states[camera_id] = state  # only once every output is durable

    async def _on_face_match(self, event: Event[FaceMatched]) -> None:
        if (match := event.message) is not None:
            state = self.face_states.get(match.camera_id) or FaceState(camera_id=match.camera_id)
            state, outputs = self.app.step_face_match(state, match)
            await self.app.emit(outputs)
            self.face_states[match.camera_id] = state

    async def _on_report(self, event: Event[ReportReceived]) -> None:
        if (report := event.message) is not None:
            await self.app.emit(self.app.step_report(report))

    async def _on_camera_health(self, event: Event[CameraHealthChanged]) -> None:
        if (report := event.message) is not None:
            try:
                outputs = self.app.step_camera_health(report)
            except ValueError as exc:  # malformed: retrying cannot help
                raise PoisonError(str(exc)) from exc
            await self.app.emit(outputs)

    async def _on_frame(self, event: Event[FrameSampled]) -> None:
        if (frame := event.message) is not None:
            await self.app.emit(self.app.signal_observations(frame))
