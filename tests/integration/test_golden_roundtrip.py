"""Every contract survives the trip between two processes over real Kafka, byte for byte."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
PEER = Path(__file__).with_name("golden_peer.py")


def test_every_message_type_round_trips_between_processes_over_kafka(kafka, tmp_path):
    key = f"golden-{uuid.uuid4().hex[:8]}"
    subprocess.run([sys.executable, str(PEER), "produce", kafka.bootstrap, key], check=True,
                   timeout=120)
    received = subprocess.run([sys.executable, str(PEER), "consume", kafka.bootstrap, key,
                               str(tmp_path)], capture_output=True, text=True, timeout=150)
    assert received.returncode == 0, received.stderr

    golden = sorted(GOLDEN.glob("*.binpb"))
    assert len(golden) == 14
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in golden]
    for expected in golden:
        assert (tmp_path / expected.name).read_bytes() == expected.read_bytes(), expected.name
