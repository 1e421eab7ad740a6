"""JSON logs to stdout and the Prometheus metrics shared by every service.

Log records carry ts, level, service, logger, msg and, when given through `extra`, camera_id and
event_id. Never log images, embeddings or personal data: log identifiers instead. As a last line
of defence the formatter masks what looks like a credential (Vigie tokens, bearer values, PEM
private keys, password=... pairs) in every line, tracebacks included.
"""

from __future__ import annotations

import logging
import re
import sys

from prometheus_client import Counter, Histogram
from pythonjsonlogger.json import JsonFormatter

BUS_CONSUMED = Counter(
    "vigie_bus_consumed_records_total", "Records handled successfully.", ["group", "topic"])
BUS_DLQ = Counter(
    "vigie_bus_dead_lettered_records_total",
    "Records sent to the dead-letter topic, by stage (decode, handler).",
    ["group", "topic", "stage"])
BUS_HANDLER_ERRORS = Counter(
    "vigie_bus_handler_errors_total", "Handler attempts that raised.", ["group", "topic"])
BUS_HANDLER_SECONDS = Histogram(
    "vigie_bus_handler_seconds", "Time spent in handlers per record.", ["group", "topic"])


_SECRETS = [
    (re.compile(r"\bvg[a-z]_[A-Za-z0-9_-]{16,}"), "vg*_[redacted]"),
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+"), r"\1[redacted]"),
    (re.compile(r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S),
     "[redacted private key]"),
    (re.compile(r"(?i)\b(password|passwd|secret|api[_-]?key|token)(\\?[\"']?\s*[:=]\s*\\?[\"']?)"
                r"[^\s\"',}\\]+"), r"\1\2[redacted]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class _Redacting(logging.Formatter):
    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


class _ServiceFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "service"):
            record.service = self.service
        return True


def configure_logging(service: str, level: str = "INFO", json_format: bool = True) -> None:
    """Route every logger to stdout, one JSON object per line."""
    handler = logging.StreamHandler(sys.stdout)
    formatter: logging.Formatter
    if json_format:
        formatter = JsonFormatter(
            "{asctime}{levelname}{service}{name}{message}", style="{",
            rename_fields={"asctime": "ts", "levelname": "level", "name": "logger",
                           "message": "msg"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(service)s %(name)s: "
                                      "%(message)s")
    handler.setFormatter(_Redacting(formatter))
    handler.addFilter(_ServiceFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
