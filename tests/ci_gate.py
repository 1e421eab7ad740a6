"""Under CI a skip is a failure: a pytest plugin (the root conftest loads it).

A test skips when an input it needs is missing here (the shared data, Chromium, the RTSP server,
Java, the face photos, the model weights, an optional package...). On a developer's machine that
is fine and the skip says what is missing. In CI (environment variable CI equal to "true" or "1")
every input must be there, so a skip is turned into a failure whose message is the skip's reason:
a CI run cannot pass while whole families of tests silently did not run.

- Skips at run time (pytest.skip in a test or fixture, skip/skipif marks, importorskip) become a
  failed test; at collection time (module-level skips) a collection error.
- xfail is left alone (an xfailed test is reported skipped with `wasxfail`: not a missing input).
- `python tests/required_inputs.py` lists every input and whether it is here (.ci/run runs it).
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

HINT = ("missing under CI=true, where it is a failure: CI must provide it "
        "(python tests/required_inputs.py checks every input)")


def in_ci() -> bool:
    """CI=true or CI=1, as CI services set it."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def _as_failure(report: pytest.TestReport | pytest.CollectReport) -> None:
    where, reason = "", str(report.longrepr)
    if isinstance(report.longrepr, tuple):  # (path, lineno, "Skipped: reason")
        path, lineno, reason = report.longrepr
        where = f" (skipped at {path}:{lineno})"
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = f"{reason}{where}; {HINT}"


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: sees the report after xfail handling
def pytest_runtest_makereport(
        item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport,
                                                                     pytest.TestReport]:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and in_ci():
        _as_failure(report)
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_make_collect_report(
        collector: pytest.Collector) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if report.skipped and in_ci():
        _as_failure(report)
    return report
