"""Make the generated package importable when vigie-proto is not installed (plain checkout)."""

import sys
from pathlib import Path

try:
    import vigie.common.v1.common_pb2  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
