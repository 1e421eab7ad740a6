"""tests/ci_gate.py: under CI=true (or 1) a skip fails naming what is missing, outside CI it stays a
skip; xfail is untouched. Each case runs a small test file in its own pytest (pytester)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SKIPS = """
import pytest

@pytest.fixture(scope="session")
def clips():
    pytest.skip("test clips not found in /nowhere/clips")

def test_skip_in_the_test():
    pytest.skip("no Chromium at /nowhere/chromium")

def test_skip_in_a_fixture(clips):
    pass

def test_skip_in_a_shared_fixture_again(clips):
    pass

@pytest.mark.skipif(True, reason="MOT15 sequences not found in /nowhere/mot15")
def test_skipif_mark():
    pass

def test_importorskip():
    pytest.importorskip("vigie_no_such_module")

def test_that_has_its_inputs():
    pass
"""
REASONS = ["test clips not found in /nowhere/clips", "no Chromium at /nowhere/chromium",
           "MOT15 sequences not found in /nowhere/mot15", "*vigie_no_such_module*"]

XFAILS = """
import pytest

@pytest.mark.xfail(strict=True, reason="a known miss")
def test_strict_xfail():
    assert False

@pytest.mark.xfail(reason="a known miss")
def test_xfail():
    assert False

def test_imperative_xfail():
    pytest.xfail("a known miss")

@pytest.mark.xfail(strict=True, reason="a known miss")
def test_strict_xfail_without_its_input():
    pytest.skip("test clips not found in /nowhere/clips")
"""

MODULE_SKIP = """
import pytest

pytest.skip("ultralytics not installed", allow_module_level=True)

def test_never_collected():
    pass
"""


def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None,
        source: str) -> pytest.RunResult:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    pytester.makepyfile(test_inputs=source)
    return pytester.runpytest("-p", "ci_gate", "-rA",
                              "-o", "asyncio_default_fixture_loop_scope=function")


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_under_ci_every_skip_fails_naming_what_is_missing(pytester, monkeypatch, ci):
    result = run(pytester, monkeypatch, ci, SKIPS)
    result.assert_outcomes(failed=2, errors=3, passed=1)  # errors: in a fixture or mark (setup)
    for reason in REASONS:
        result.stdout.re_match_lines([rf"(FAILED|ERROR) .* - .*{reason.strip('*')}.*; missing "
                                      r"under CI=true, where it is a failure: CI must provide it"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_outside_ci_the_skips_stay_with_their_message(pytester, monkeypatch, ci):
    result = run(pytester, monkeypatch, ci, SKIPS)
    result.assert_outcomes(skipped=5, passed=1)
    for reason in REASONS:
        result.stdout.fnmatch_lines([f"SKIPPED *{reason}*"])
    result.stdout.no_fnmatch_line("*missing under CI=true*")
    assert result.ret == pytest.ExitCode.OK


def test_under_ci_xfail_stays_xfail_but_a_missing_input_still_fails(pytester, monkeypatch):
    result = run(pytester, monkeypatch, "true", XFAILS)
    result.assert_outcomes(xfailed=3, failed=1)
    result.stdout.fnmatch_lines(["FAILED *test_strict_xfail_without_its_input - "
                                 "*/nowhere/clips*CI must provide it*"])


def test_outside_ci_xfail_is_the_same(pytester, monkeypatch):
    result = run(pytester, monkeypatch, None, XFAILS)
    result.assert_outcomes(xfailed=3, skipped=1)


def test_under_ci_a_module_level_skip_is_a_collection_error(pytester, monkeypatch):
    result = run(pytester, monkeypatch, "true", MODULE_SKIP)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["ERROR *test_inputs.py - ultralytics not installed*"
                                 "CI must provide it*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED  # nothing runs past a collection error


def test_outside_ci_a_module_level_skip_stays_a_skip(pytester, monkeypatch):
    result = run(pytester, monkeypatch, None, MODULE_SKIP)
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED *ultralytics not installed*"])
