"""Rule events from a MOTChallenge sequence's ground truth: the crossings of a line and the
entries into a zone that people's annotated boxes make, by the rules engine's conventions, so that
a scenario's expectations on an annotated sequence are derived, not guessed.

Conventions (those of vigie_rules.domain.tracking and the line_crossing and zone_intrusion kinds):
- a box is clipped to the image (detections are), then its reference point is the bottom centre,
  normalised by the image size from seqinfo.ini;
- frame f (1-based, gt/gt.txt) is at stream time (f - 1) / frameRate seconds;
- rows with conf 0 are ignored (as the MOTChallenge evaluation does);
- a line crossing is counted with the engine's hysteresis: a track's side is confirmed beyond
  LINE_MARGIN of the line, and a crossing counts when the confirmed side flips and the path from
  the last confirmed position crosses the segment; "in" is the side `direction` points to;
- a zone entry is a track's reference point inside the polygon (boundary included) on a frame
  after one outside it, or on the track's first frame (zone_intrusion alerts then too).

    python -m vigie_eval.groundtruth tools/eval/scenarios/tud_stadtmitte.yaml \\
        ../shared/data/mot15/TUD-Stadtmitte

prints, for every line_crossing and zone_intrusion rule of the scenario watching people, the
events with their track, frame and time, and the expectations they give (YAML).
"""

from __future__ import annotations

import argparse
import configparser
import csv
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from vigie_rules.domain.geometry import point_in_polygon, segment_crossing, side_of_line
from vigie_rules.domain.tracking import LINE_MARGIN, direction_sign

XY = tuple[float, float]

ENTRY_BEFORE_S = 1.0
"""An entry's alert window opens this long before the annotated entry (a detected box's bottom
edge is a few pixels off the annotation's)..."""
ENTRY_AFTER_S = 2.0
"""...and closes this long after it (the tracker confirms a track after a few frames)."""


@dataclass(frozen=True)
class GroundTruth:
    """A sequence's annotated tracks: per track id, (frame, reference point) in frame order."""

    name: str
    fps: float
    width: int
    height: int
    frames: int
    tracks: dict[int, list[tuple[int, XY]]]

    def seconds(self, frame: int) -> float:
        return (frame - 1) / self.fps

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


@dataclass(frozen=True)
class Crossing:
    track_id: int
    frame: int
    t_s: float
    direction: str  # "in" | "out"


@dataclass(frozen=True)
class Entry:
    track_id: int
    frame: int
    t_s: float
    first_frame: bool  # the track starts inside the zone (walks in at the image's edge, or
    # is there from the first frame)


def reference_point(x: float, y: float, w: float, h: float, width: int, height: int) -> XY:
    """Bottom centre of the box clipped to the image, normalised."""
    x0, x1 = min(max(x, 0.0), width), min(max(x + w, 0.0), width)
    y1 = min(max(y + h, 0.0), height)
    return ((x0 + x1) / 2 / width, y1 / height)


def parse_ground_truth(gt_text: str, seqinfo_text: str) -> GroundTruth:
    info = configparser.ConfigParser()
    info.read_string(seqinfo_text)
    seq = info["Sequence"]
    width, height = int(seq["imWidth"]), int(seq["imHeight"])
    tracks: dict[int, list[tuple[int, XY]]] = {}
    for row in csv.reader(line for line in gt_text.splitlines() if line.strip()):
        frame, track_id = int(row[0]), int(float(row[1]))
        x, y, w, h, conf = (float(v) for v in row[2:7])
        if conf == 0:
            continue
        tracks.setdefault(track_id, []).append(
            (frame, reference_point(x, y, w, h, width, height)))
    for points in tracks.values():
        points.sort()
    return GroundTruth(seq.get("name", ""), float(seq["frameRate"]), width, height,
                       int(seq["seqLength"]), tracks)


def read_ground_truth(folder: Path) -> GroundTruth:
    """A MOTChallenge sequence folder: gt/gt.txt and seqinfo.ini."""
    return parse_ground_truth((folder / "gt" / "gt.txt").read_text(encoding="utf-8"),
                              (folder / "seqinfo.ini").read_text(encoding="utf-8"))


def line_crossings(gt: GroundTruth, start: XY, end: XY, direction: XY = (0.0, 0.0),
                   ) -> list[Crossing]:
    """Every track's crossings of the segment, in time order (tracking.line_steps)."""
    length = math.dist(start, end)
    in_sign = direction_sign(start, end, direction) or 1
    out: list[Crossing] = []
    for track_id, points in gt.tracks.items():
        side, anchor = 0, None
        for frame, p in points:
            distance = side_of_line(p, start, end) / length
            now = 1 if distance > LINE_MARGIN else -1 if distance < -LINE_MARGIN else 0
            if now == 0:
                continue
            if side not in (0, now) and anchor is not None:
                sign = segment_crossing(anchor, p, start, end)
                if sign != 0:
                    out.append(Crossing(track_id, frame, gt.seconds(frame),
                                        "in" if sign == in_sign else "out"))
            side, anchor = now, p
    return sorted(out, key=lambda c: (c.frame, c.track_id))


def zone_entries(gt: GroundTruth, zone: Sequence[XY]) -> list[Entry]:
    """Every track's entries into the polygon, in time order (tracking.zone_presence)."""
    out: list[Entry] = []
    for track_id, points in gt.tracks.items():
        inside = False
        for k, (frame, p) in enumerate(points):
            now = point_in_polygon(p, zone)
            if now and not inside:
                out.append(Entry(track_id, frame, gt.seconds(frame), k == 0))
            inside = now
    return sorted(out, key=lambda e: (e.frame, e.track_id))


def entry_windows(gt: GroundTruth, entries: Sequence[Entry], before_s: float = ENTRY_BEFORE_S,
                  after_s: float = ENTRY_AFTER_S) -> list[tuple[float, float]]:
    """One alert window per entry: [t - before_s, t + after_s] within the sequence."""
    return [(round(max(e.t_s - before_s, 0.0), 2), round(min(e.t_s + after_s, gt.duration_s), 2))
            for e in entries]


def _watches_people(rule: dict[str, Any]) -> bool:
    classes = rule.get("classes") or []
    return not classes or "person" in classes


def _points(value: Any) -> list[XY]:
    return [(float(p[0]), float(p[1])) for p in value]


def derive(gt: GroundTruth, rules: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """For each people-watching line_crossing and zone_intrusion rule (scenario rule specs): the
    events and the expectations they give."""
    counts: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    events: dict[str, list[Crossing] | list[Entry]] = {}
    for rule in rules:
        if not _watches_people(rule):
            continue
        rule_id = str(rule["rule_id"])
        if rule.get("kind") == "line_crossing":
            start, end = _points(rule["line"])
            direction = tuple(rule.get("direction") or (0.0, 0.0))
            crossings = line_crossings(gt, start, end, (float(direction[0]),
                                                        float(direction[1])))
            events[rule_id] = crossings
            for way in ("in", "out"):
                mine = [c for c in crossings if c.direction == way]
                counts.append({"rule": rule_id, "direction": way, "classes": ["person"],
                               "count": len(mine), "note": "ground truth: " + (", ".join(
                                   f"track {c.track_id} at frame {c.frame} ({c.t_s:.2f} s)"
                                   for c in mine) or "none")})
        elif rule.get("kind") == "zone_intrusion":
            entries = zone_entries(gt, _points(rule["zone"]))
            events[rule_id] = entries
            alerts.append({"rule": rule_id, "windows": [list(w) for w in
                                                        entry_windows(gt, entries)],
                           "max_per_event": 1.1, "note": "ground truth: " + (", ".join(
                               f"track {e.track_id} at frame {e.frame} ({e.t_s:.2f} s"
                               + (", its first frame)" if e.first_frame else ")")
                               for e in entries) or "no entry")})
    return {"events": events, "expect": {"counts": counts, "alerts": alerts}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vigie_eval.groundtruth",
        description="Line crossings and zone entries of a scenario's rules, from a MOT "
                    "sequence's ground truth (gt/gt.txt, seqinfo.ini)")
    parser.add_argument("scenario", type=Path, help="scenario YAML (its rules are read)")
    parser.add_argument("sequence", type=Path, help="MOT sequence folder")
    args = parser.parse_args(argv)
    gt = read_ground_truth(args.sequence)
    spec = yaml.safe_load(args.scenario.read_text(encoding="utf-8"))
    derived = derive(gt, spec.get("rules", []))
    print(f"# {gt.name}: {len(gt.tracks)} tracks, {gt.frames} frames at {gt.fps:g}/s "
          f"({gt.duration_s:.2f} s)")
    for rule_id, found in derived["events"].items():
        print(f"# {rule_id}:")
        for e in found:
            what = e.direction if isinstance(e, Crossing) else (
                "entry (first frame)" if e.first_frame else "entry")
            print(f"#   track {e.track_id:3d}  frame {e.frame:4d}  {e.t_s:6.2f} s  {what}")
    sys.stdout.write(yaml.safe_dump({"expect": derived["expect"]}, sort_keys=False, width=100))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
