"""Ultralytics, imported offline: what the Ultralytics detector backend and the ByteTrack tracker
both import it through.

`import_ultralytics` sets, before the first import (never at module import):
- `YOLO_OFFLINE=1`: `ultralytics.utils.ONLINE` is False, so no connectivity probe (DNS lookups of
  one.one.one.one / dns.google), no usage events (telemetry also needs ONLINE), no pip auto-update;
- `YOLO_AUTOINSTALL=false`: a missing optional requirement (onnxruntime, tensorrt, lap) is an error,
  not a `pip install` attempt;
- `YOLO_CONFIG_DIR`: its settings.json goes to the given dir (default: a private temp dir), not to
  ~/.config/Ultralytics;
- `OMP_NUM_THREADS` (only if unset): the ultralytics package otherwise sets it to "1" on import.
These take effect only if this process has not imported ultralytics yet (a warning says so).

Importing ultralytics also runs `cv2.setNumThreads(0)` (OpenCV single-threaded, for PyTorch's
data loaders): `import_ultralytics` gives OpenCV back the thread count it had before the import,
so that the detect service's first tracker (ByteTrack imports Ultralytics on the first frame)
does not change the inference threads of the OpenCV detector loaded before it.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_import_lock = threading.Lock()


def import_ultralytics(config_dir: Path | None = None, threads: int = 0) -> Any:
    """Import and return the `ultralytics` package with the offline environment set up first.

    `config_dir`: where Ultralytics keeps its settings.json (default: $YOLO_CONFIG_DIR if set, else
    a private temp dir). `threads`: the OMP_NUM_THREADS default when unset (0: every core)."""
    with _import_lock:
        if "ultralytics" in sys.modules:
            module = sys.modules["ultralytics"]
            if getattr(getattr(module, "utils", None), "ONLINE", False):
                log.warning("ultralytics was imported before Vigie could set YOLO_OFFLINE=1: it "
                            "may probe the network; import vigie's backend first")
            return module
        os.environ["YOLO_OFFLINE"] = "1"
        os.environ["YOLO_AUTOINSTALL"] = "false"
        if config_dir is not None:
            config_dir.mkdir(parents=True, exist_ok=True)
            os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
        elif not os.environ.get("YOLO_CONFIG_DIR"):
            private = tempfile.mkdtemp(prefix="vigie-ultralytics-")
            atexit.register(shutil.rmtree, private, ignore_errors=True)
            os.environ["YOLO_CONFIG_DIR"] = private
        os.environ.setdefault("OMP_NUM_THREADS", str(threads or os.cpu_count() or 1))
        cv2 = sys.modules.get("cv2")  # not imported: nothing to keep
        cv2_threads = cv2.getNumThreads() if cv2 is not None else None
        try:
            import ultralytics
        finally:
            if cv2 is not None and cv2.getNumThreads() != cv2_threads:
                cv2.setNumThreads(cv2_threads)
        from ultralytics.utils import SETTINGS

        settings: Any = SETTINGS
        if settings.get("sync"):
            settings.update({"sync": False})  # no usage events, even if ONLINE were ever True
        return ultralytics
