"""The registry of rule kinds (domain/kinds/): one file per kind, every built-in RuleKind has
one, and a kind's file is all it takes for the kind to appear in the spec validation, the
engine, ListRuleKinds (hence the console's editor) and the Rule CRD."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import vigie_rules
from vigie.rules.v1.rule_pb2 import Rule, RuleKind
from vigie_rules.domain import kinds
from vigie_rules.domain.kind import KIND_FIELDS
from vigie_rules.domain.kinds import BY_NAME, KINDS, kind_of

KINDS_DIR = Path(kinds.__file__).parent
ROOT = Path(__file__).resolve().parents[3]


def test_every_registry_kind_has_its_own_file() -> None:
    files = sorted(p.stem for p in KINDS_DIR.glob("*.py") if not p.stem.startswith("_"))
    assert sorted(k.name for k in KINDS) == files
    for kind in KINDS:
        module = sys.modules[f"vigie_rules.domain.kinds.{kind.name}"]
        assert module.KIND is kind


def test_every_built_in_rule_kind_has_a_registered_kind() -> None:
    built_in = {v for v in RuleKind.values() if v != RuleKind.RULE_KIND_UNSPECIFIED}
    assert {k.enum for k in KINDS if k.enum} == built_in
    for value in built_in:
        kind = kind_of(Rule(kind=value))
        assert kind is not None
        assert kind.name == RuleKind.Name(value).removeprefix("RULE_KIND_").lower()


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_declarations_are_complete(kind: kinds.Kind) -> None:
    assert kind.title and kind.description.endswith(".")
    assert set(kind.required) | set(kind.optional) <= set(KIND_FIELDS)
    assert not set(kind.required) & set(kind.optional)
    assert kind.geometry in ("zone", "line", "none")
    if kind.geometry != "none":
        assert kind.geometry in (*kind.required, *kind.optional)
    assert (kind.step is None) == (not kind.on_detections)  # other events: their own module


@pytest.mark.parametrize(("rule", "name"), [
    (Rule(kind=RuleKind.RULE_KIND_LOITERING), "loitering"),
    (Rule(kind_name="loitering"), "loitering"),
    (Rule(kind=RuleKind.RULE_KIND_LOITERING, kind_name="loitering"), "loitering"),
    (Rule(kind_name="zone_occupancy"), "zone_occupancy"),
    (Rule(kind=RuleKind.RULE_KIND_LOITERING, kind_name="zone_intrusion"), None),
    (Rule(kind=RuleKind.RULE_KIND_LOITERING, kind_name="zone_occupancy"), None),
    (Rule(kind_name="no_such_kind"), None),
    (Rule(), None),
    (Rule(kind=99), None),
])
def test_a_rule_names_its_kind_by_enum_or_name(rule: Rule, name: str | None) -> None:
    kind = kind_of(rule)
    assert (kind.name if kind else None) == name
    if name is not None:
        assert BY_NAME[name].matches(rule)


def test_a_module_without_a_kind_declaration_is_refused(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "extra_kinds"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TypeError, match="declares KIND"):
        kinds.discover("extra_kinds")


# The claim of the issue: the same code with and without kinds/zone_occupancy.py. Each check
# prints one line; the kind appears in every line with the file and in none without it.
PROBE = textwrap.dedent('''
    import asyncio, sys
    sys.path.insert(0, sys.argv[1])  # deploy/scripts
    import gen_crds
    from vigie.common.v1.common_pb2 import BoundingBox, Point
    from vigie.detect.v1.detection_pb2 import Detection, ObjectsDetected
    from vigie.rules.v1 import rules_service_pb2 as pb
    from vigie.rules.v1.rule_pb2 import Rule
    from vigie_rules.adapters.grpc_api import RulesServicer
    from vigie_rules.domain.engine import CameraState, evaluate, flush
    from vigie_rules.domain.spec import KIND_NAMES, validate_rule_yaml

    print("spec", "zone_occupancy" in KIND_NAMES, validate_rule_yaml(
        "rule_id: h\\nname: H\\ncamera_id: c\\nkind: zone_occupancy\\n"
        "zone: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]\\n") == [])
    rule = Rule(rule_id="h", camera_id="c", kind_name="zone_occupancy", enabled=True)
    rule.geometry.zone.extend([Point(x=0, y=0), Point(x=1, y=0), Point(x=1, y=1)])
    frame = ObjectsDetected(frame_id="f", camera_id="c", detections=[Detection(
        box=BoundingBox(x_min=0.5, y_min=0.1, x_max=0.6, y_max=0.3), class_name="person",
        confidence=0.9, track_id=1)])
    frame.captured_at.FromMilliseconds(1_767_225_600_000)
    state, _, _ = evaluate(CameraState(), [rule], frame)
    _, _, stats = flush(state, [rule], close_windows=True)
    print("engine", any(s.rule_id == "h" for s in stats))
    listed = asyncio.run(RulesServicer(None, None, None).ListRuleKinds(
        pb.ListRuleKindsRequest(), None))
    print("ListRuleKinds", "zone_occupancy" in [k.name for k in listed.kinds])
    print("crd", "zone_occupancy" in gen_crds.rule_crd())
''')


def probe(source: Path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(source), *os.environ.get("PYTHONPATH", "").split(os.pathsep)])}
    done = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "deploy/scripts")],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_one_file_adds_a_kind_to_validation_engine_list_rule_kinds_and_crd(
        tmp_path: Path) -> None:
    with_it = tmp_path / "with"
    without = tmp_path / "without"
    package = Path(vigie_rules.__file__).parent
    shutil.copytree(package, with_it / "vigie_rules",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(with_it, without)
    (without / "vigie_rules/domain/kinds/zone_occupancy.py").unlink()
    assert probe(with_it) == ["spec True True", "engine True", "ListRuleKinds True", "crd True"]
    assert probe(without) == ["spec False False", "engine False", "ListRuleKinds False",
                              "crd False"]
