"""Cameras' health as vigie.camera-health.v1 reports it: what the console shows of each camera,
and the images of detect's reports that tamper alerts take as evidence.

Two reporters publish there (key camera_id): ingest, on the source (`reporter` "ingest", or
empty on older records: up, stalled, reconnecting, failed, down), and detect's scene stage, on
the picture (`reporter` "detect": a view problem, covered, defocused, moved, too dark or too
bright, began or ended, with the frame that confirmed it and two small images: the camera's
reference view, before, and that frame, after).

- `HealthBoard`: each camera's latest source state and view problem, with since when, folded
  from the reports in topic order (one camera's reports are on one partition).
- `ViewReports`: detect's recent reports with images, by the frame that confirmed the change
  (`frame_id`), bounded in bytes (oldest out first). A camera_tampering alert names that frame
  and carries the `view_problem` attribute: the alerts service takes the report's reference view
  as the alert's "before" image (and its current image as the snapshot when the frame itself is
  not in the frame buffer).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.camera.v1.camera_health_pb2 import CameraHealthChanged, CameraState, ViewProblem

DETECT = "detect"
VIEW_PROBLEM_ATTRIBUTE = "view_problem"
"""The alert attribute of camera_tampering alerts: the alert wants the report's "before" image."""
BEFORE = "before"
"""The name of that evidence (beside the alert's snapshot, the "after" image)."""


def _name(prefix: str, names: dict[int, str], value: int) -> str:
    if value == 0:
        return ""
    return names[value].removeprefix(prefix).lower() if value in names else f"unknown_{value}"


_STATES = {v: k for k, v in CameraState.items()}
_PROBLEMS = {v: k for k, v in ViewProblem.items()}


def state_name(value: int) -> str:
    """A source state's name: CAMERA_STATE_UP is "up", UNSPECIFIED ""."""
    return _name("CAMERA_STATE_", _STATES, value)


def problem_name(value: int) -> str:
    """A view problem's name: VIEW_PROBLEM_COVERED is "covered", UNSPECIFIED (a normal view) ""."""
    return _name("VIEW_PROBLEM_", _PROBLEMS, value)


def _time(report: CameraHealthChanged, field: str) -> datetime | None:
    return getattr(report, field).ToDatetime(UTC) if report.HasField(field) else None


def wants_before(alert: AlertRaised) -> bool:
    """Whether the alert is about a view problem detect reported (its "before" image is in the
    report of the alert's frame)."""
    return bool(alert.frame_id) and bool(alert.attributes.get(VIEW_PROBLEM_ATTRIBUTE))


@dataclass(frozen=True)
class CameraHealth:
    """What the console shows of one camera's health."""

    camera_id: str
    source_state: str = ""  # ingest's: up, stalled, reconnecting, failed, down ("" unknown)
    source_since: datetime | None = None
    source_reason: str = ""
    view_problem: str = ""  # detect's: covered, defocused, moved, too_dark, too_bright ("" ok)
    view_since: datetime | None = None  # when the problem (or the normal view) began


class HealthBoard:
    def __init__(self) -> None:
        self._cameras: dict[str, CameraHealth] = {}

    def apply(self, report: CameraHealthChanged) -> CameraHealth | None:
        """Fold one report in; the camera's health after it (None for a report without camera)."""
        if not report.camera_id:
            return None
        now = self._cameras.get(report.camera_id) or CameraHealth(report.camera_id)
        if report.reporter == DETECT:
            now = CameraHealth(now.camera_id, now.source_state, now.source_since,
                               now.source_reason, problem_name(report.view_problem),
                               _time(report, "problem_since") or _time(report, "observed_at"))
        elif report.state:
            now = CameraHealth(now.camera_id, state_name(report.state),
                               _time(report, "observed_at"), report.reason[:200],
                               now.view_problem, now.view_since)
        self._cameras[report.camera_id] = now
        return now

    def get(self, camera_id: str) -> CameraHealth | None:
        return self._cameras.get(camera_id)

    def __len__(self) -> int:
        return len(self._cameras)


@dataclass(frozen=True)
class ViewReport:
    """detect's report of a view change, as its images are kept."""

    frame_id: str
    camera_id: str
    problem: str
    since: datetime | None  # problem_since: when the problem began
    reference_jpeg: bytes  # before: the camera's reference view
    current_jpeg: bytes  # after: the frame that confirmed the change

    @property
    def size(self) -> int:
        return len(self.reference_jpeg) + len(self.current_jpeg)

    @classmethod
    def of(cls, report: CameraHealthChanged) -> ViewReport | None:
        """The images of a detect report, or None (another reporter, no frame, no image)."""
        if (report.reporter != DETECT or not report.frame_id or not report.camera_id
                or not (report.reference_jpeg or report.current_jpeg)):
            return None
        return cls(report.frame_id, report.camera_id, problem_name(report.view_problem),
                   _time(report, "problem_since"), bytes(report.reference_jpeg),
                   bytes(report.current_jpeg))


class ViewReports:
    """Recent ViewReports by frame_id, at most `max_bytes` of images (oldest out first)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._reports: OrderedDict[str, ViewReport] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._reports)

    def add(self, report: ViewReport) -> None:
        if report.size > self.max_bytes:
            return
        old = self._reports.pop(report.frame_id, None)
        if old is not None:
            self.bytes -= old.size
        self._reports[report.frame_id] = report
        self.bytes += report.size
        while self.bytes > self.max_bytes:
            _, dropped = self._reports.popitem(last=False)
            self.bytes -= dropped.size

    def get(self, frame_id: str) -> ViewReport | None:
        return self._reports.get(frame_id)
