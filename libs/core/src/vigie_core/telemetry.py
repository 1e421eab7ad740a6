"""JSON logs to stdout and the Prometheus metrics shared by every service.

Log records carry ts, level, service, logger, msg and, when given through `extra`, camera_id and
event_id. Never log images, embeddings or personal data: log identifiers instead.
"""

from __future__ import annotations

import logging
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
    if json_format:
        handler.setFormatter(JsonFormatter(
            "{asctime}{levelname}{service}{name}{message}", style="{",
            rename_fields={"asctime": "ts", "levelname": "level", "name": "logger",
                           "message": "msg"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        ))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(service)s "
                                               "%(name)s: %(message)s"))
    handler.addFilter(_ServiceFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
