"""Deterministic alert ids: the same rule, camera, track and episode always give the same id,
so a replay or a restart after a crash raises alerts that consumers de-duplicate."""

from __future__ import annotations

import hashlib

ALERT_ID_HEX_CHARS = 32  # 128 bits of SHA-256: collisions are not a practical concern


def alert_id(rule_id: str, camera_id: str, track_id: int | None, episode_ms: int) -> str:
    """sha256("rule_id|camera_id|track|episode_ms"), hex, truncated to 32 characters.

    track_id None (or 0, "untracked") is written "-": the alert concerns the rule as a whole
    (crowd density, counts). episode_ms is the event time, in milliseconds since the epoch, at
    which the condition started (not the time it fired), so one episode has exactly one id.
    """
    track = "-" if not track_id else str(track_id)
    material = f"{rule_id}|{camera_id}|{track}|{episode_ms}".encode()
    return hashlib.sha256(material).hexdigest()[:ALERT_ID_HEX_CHARS]


def subject_alert_id(rule_id: str, camera_id: str, subject_id: str, episode_ms: int) -> str:
    """Face match: sha256("rule_id|camera_id|subject:<subject_id>|episode_ms"), truncated like
    `alert_id`. The "subject:" prefix keeps these apart from track ids (digits or "-")."""
    material = f"{rule_id}|{camera_id}|subject:{subject_id}|{episode_ms}".encode()
    return hashlib.sha256(material).hexdigest()[:ALERT_ID_HEX_CHARS]


def report_alert_id(rule_id: str, report_id: str) -> str:
    """Citizen report: sha256("rule_id|report:<report_id>"): one alert per rule and report, so a
    redelivered report raises the same id."""
    material = f"{rule_id}|report:{report_id}".encode()
    return hashlib.sha256(material).hexdigest()[:ALERT_ID_HEX_CHARS]


def view_alert_id(rule_id: str, camera_id: str, problem: str, episode_ms: int) -> str:
    """Camera tampering: sha256("rule_id|camera_id|view:<problem>|episode_ms"), truncated like
    `alert_id`; episode_ms is when the problem began (detect's problem_since), so a redelivered
    or replayed report raises the same id."""
    material = f"{rule_id}|{camera_id}|view:{problem}|{episode_ms}".encode()
    return hashlib.sha256(material).hexdigest()[:ALERT_ID_HEX_CHARS]
