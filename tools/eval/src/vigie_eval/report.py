"""Tables for a terminal (aligned text) or a document (Markdown), and a progress bar."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TextIO


def table(header: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool = False) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    fmt = [f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths)]
    return "\n".join("  ".join(f.format(c) for f, c in zip(fmt, row, strict=True))
                     for row in [header, *rows])


class ProgressBar:
    """`label [#####.....] done/total` on stderr, redrawn in place; silent when not a tty
    unless forced."""

    def __init__(self, label: str, total: int | None, stream: TextIO = sys.stderr,
                 enabled: bool | None = None, width: int = 30) -> None:
        self.label, self.total, self.stream, self.width = label, total, stream, width
        self.enabled = stream.isatty() if enabled is None else enabled
        self.started = time.perf_counter()
        self._last = 0.0

    def __call__(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < 0.1 and done != self.total:
            return
        self._last = now
        rate = done / max(now - self.started, 1e-9)
        if self.total:
            filled = min(self.width, self.width * done // self.total)
            bar = "#" * filled + "." * (self.width - filled)
            text = f"{self.label} [{bar}] {done}/{self.total} {rate:.1f} frames/s"
        else:
            text = f"{self.label} {done} frames {rate:.1f} frames/s"
        self.stream.write("\r" + text)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def ratio(value: float | None) -> str:
    """A ratio such as alerts per event, two decimals; "-" when there is none."""
    return "-" if value is None else f"{value:.2f}"
