"""Short fuzz runs for CI (seconds per target): every target of tests/fuzz/targets.py fed random
bytes and mutations of valid inputs by hypothesis; a target that raises anything but its
"refused" error, or takes longer than the deadline on one input, fails. Longer, coverage-guided
runs: bench/fuzz/run_fuzz.py.

And the consume loops themselves: records of random bytes, random headers and mutated valid
messages published on every topic the embedded services consume; every stream keeps running,
every record is consumed, and every record that does not decode is in `<topic>.dlq` for each
group that consumed it."""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
import targets as fuzz

FINDINGS = Path(__file__).parent / "findings"  # inputs the long runs found, kept as regressions
EXAMPLES = {"codec_decode": 400, "detect_image": 200, "ingest_media": 60,
            "ingest_upload_metadata": 300, "rules_yaml": 300, "rules_proto": 300}


def inputs(name: str) -> st.SearchStrategy[bytes]:
    seeds = fuzz.seeds(name)
    edits = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 3),
                               st.integers(0, 255)), max_size=12)
    mutated = st.builds(fuzz.mutate, st.sampled_from(seeds), edits)
    return st.one_of(st.binary(max_size=4096), mutated)


@pytest.mark.parametrize("name", sorted(fuzz.TARGETS))
def test_fuzz_target_refuses_garbage_only_with_its_own_error(name):
    target = fuzz.TARGETS[name]
    for seed in fuzz.seeds(name):  # the seeds themselves go through
        target(seed)

    @settings(max_examples=EXAMPLES[name], deadline=timedelta(seconds=5), database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(inputs(name))
    def run(data: bytes) -> None:
        target(data)

    run()


def test_deeply_nested_yaml_is_a_rule_error_not_a_crash():
    """Found by this fuzzing: the YAML loader overflowed the stack on deep nesting."""
    from vigie_rules.domain.spec import RuleSpecError, load_rules

    for text in ("a: " + "[" * 2000 + "]" * 2000, "- " * 3000):
        with pytest.raises(RuleSpecError, match="nested more than"):
            load_rules(text, fuzz.NOW)


# -- the consume loops of the embedded services -----------------------------------------------

def weird(message, rng: random.Random, depth: int = 0):
    """`message` with random, often extreme, values in its fields (a valid protobuf that no
    well-behaved producer would send): NaN and huge numbers, empty and odd strings, long lists."""
    from google.protobuf.descriptor import FieldDescriptor as F

    floats = [float("nan"), float("inf"), -1.0, 0.0, 1e30, 0.5]
    ints = [0, -1, 1, 2**31 - 1, 2**53, 7]
    strings = ["", "cam-fuzz", "x" * 300, "é/../\0", "a:b:c"]
    for field in message.DESCRIPTOR.fields:
        if rng.random() < 0.4:
            continue
        repeated = field.is_repeated
        if field.type == F.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry or depth > 2:
                continue
            if repeated:
                for _ in range(rng.randrange(0, 4)):
                    weird(getattr(message, field.name).add(), rng, depth + 1)
            else:
                weird(getattr(message, field.name), rng, depth + 1)
            continue
        if field.type in (F.TYPE_FLOAT, F.TYPE_DOUBLE):
            values = floats
        elif field.type in (F.TYPE_STRING,):
            values = strings
        elif field.type == F.TYPE_BYTES:
            values = [b"", rng.randbytes(20)]
        elif field.type == F.TYPE_BOOL:
            values = [True, False]
        elif field.type == F.TYPE_ENUM:
            values = [v.number for v in field.enum_type.values] + [999]
        elif field.type in (F.TYPE_UINT32, F.TYPE_UINT64, F.TYPE_FIXED32, F.TYPE_FIXED64):
            values = [v for v in ints if v >= 0]
        else:
            values = ints
        try:
            if repeated:
                getattr(message, field.name).extend(rng.choice(values)
                                                    for _ in range(rng.randrange(0, 5)))
            else:
                setattr(message, field.name, rng.choice(values))
        except (ValueError, TypeError):
            pass  # out of the field's range
    return message


def _records(seed: int, count: int) -> list[tuple[str, bytes | None, bytes | None,
                                                  list[tuple[str, bytes]]]]:
    """(topic, key, value, headers) for every topic: garbage, right headers with a garbage
    payload, mutated golden messages, golden messages under mutated headers, and valid messages
    with weird values."""
    from vigie_core.codec import encode, new_envelope
    from vigie_core.topics import REGISTRY

    rng = random.Random(seed)
    golden = {p.name.removesuffix(".binpb"): p.read_bytes()
              for p in (fuzz.REPO / "tests/golden").glob("*.binpb")}
    out = []
    for topic in REGISTRY:
        payload = golden.get(topic.type_name, b"")
        _, headers = encode(None, new_envelope(topic, "fuzz", None))
        for i in range(count):
            kind = i % 5
            key = rng.choice([b"cam-fuzz", b"\xff\xfe", None, rng.randbytes(8)])
            if kind == 0:
                out.append((topic.name, key, rng.randbytes(rng.randrange(0, 300)), []))
            elif kind == 1:
                out.append((topic.name, key, rng.randbytes(rng.randrange(0, 300)),
                            list(headers)))
            elif kind == 2:
                edits = [(rng.randrange(1 << 16), rng.randrange(4), rng.randrange(256))
                         for _ in range(rng.randrange(1, 6))]
                out.append((topic.name, key, fuzz.mutate(payload, edits), list(headers)))
            elif kind == 3:
                shuffled = [(n, v if rng.random() < 0.9 else rng.randbytes(5))
                            for n, v in headers]
                out.append((topic.name, key, payload, shuffled))
            else:  # decodes, with values no producer should send
                message = weird(topic.message_type.FromString(payload), rng)
                out.append((topic.name, key, message.SerializeToString(), list(headers)))
    return out


@pytest.mark.timeout(300)
async def test_services_dead_letter_what_they_cannot_read_and_keep_going(tmp_path):
    from vigie_core.bus.memory import MemoryBus
    from vigie_core.codec import DecodeError, decode, header
    from vigie_core.runtime import start
    from vigie_core.settings import CoreSettings
    from vigie_core.topics import REGISTRY

    bus = MemoryBus("fuzz", max_backlog=5000, retain_records=10000)
    running = await start(["ingest", "detect", "rules", "alerts"],
                          CoreSettings(http_port=0, grpc_port=0, data_dir=tmp_path), bus,
                          {"alerts": {"database_url": f"sqlite:///{tmp_path / 'a.db'}",
                                      "snapshot_wait_s": 0}})
    try:
        records = _records(7, 60)
        for topic, key, value, headers in records:
            await bus.produce(topic, key, value, tuple(headers))
        consumed: dict[str, set[str]] = {}  # topic -> groups that consume it (and commit)
        for service in running.services:
            for group, processor in service.processors.items():
                if processor.store_offsets:
                    for name in processor.handlers:
                        consumed.setdefault(name, set()).add(group)
        deadline = asyncio.get_running_loop().time() + 240
        while True:
            behind = [(g, t) for t, groups in consumed.items() for g in groups
                      if bus.committed(g, t) != [e or None for e in bus.end_offsets(t)]
                      and any(e for e in bus.end_offsets(t))]
            if not behind:
                break
            assert asyncio.get_running_loop().time() < deadline, f"still consuming: {behind}"
            for task in (t for s in running.services for t in s.tasks):
                if task.done():  # a stream died on a record: the bug this test looks for
                    raise AssertionError(f"{task.get_name()} ended: {task.exception()!r}")
            await asyncio.sleep(0.5)
        alive = [t for s in running.services for t in s.tasks if not t.done()]
        assert len(alive) == sum(len(s.tasks) for s in running.services)
        checked = decodable = 0
        for name, groups in consumed.items():
            topic = REGISTRY.get(name)
            undecodable = set()
            for r in await bus.read_all(name):
                try:
                    decode(topic, r.key, r.value, r.headers)
                except DecodeError:
                    undecodable.add((r.partition, r.offset))
            dead = {(header(r.headers, "dlq_group"), int(header(r.headers, "dlq_partition")),
                     int(header(r.headers, "dlq_offset"))) for r in await bus.read_all(topic.dlq)}
            for group in groups:
                missing = {po for po in undecodable if (group, *po) not in dead}
                assert not missing, (name, group, sorted(missing)[:5])
            checked += len(undecodable) * len(groups)
            decodable += len(await bus.read_all(name)) - len(undecodable)
        print(f"\n{len(records)} records on {len(consumed)} consumed topics: {checked} "
              f"dead-letterings checked, {decodable} records decoded and handled")
        assert checked > 100 and decodable > 50  # both paths were exercised
    finally:
        await running.stop()


def test_a_malformed_png_is_refused_before_opencv_allocates_for_it():
    """Found by the atheris runs: this 100-byte PNG made cv2.imdecode take ~3.8 GB."""
    import resource

    from vigie_core.processing import PoisonError
    from vigie_detect.adapters.images import decode_image

    data = FINDINGS.joinpath("detect-image-oom.png").read_bytes()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(PoisonError):
        decode_image(data)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB


@pytest.mark.parametrize("finding", ["ingest-media-no-decoder.mp4",
                                     "ingest-media-bad-metadata.mp4"])
def test_media_found_by_fuzzing_is_a_source_error_or_frames(finding):
    """Found by the atheris runs: a video stream without a decoder (AttributeError) and
    metadata that is not UTF-8 (UnicodeDecodeError) escaped ingest's source."""
    from vigie_ingest.adapters.source import SourceError, SourceLimits, VideoSource

    data = FINDINGS.joinpath(finding).read_bytes()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "media.mp4"
        path.write_bytes(data)
        source = VideoSource(path.as_uri(), SourceLimits(Path(folder)))
        try:
            source.open()
            outcome: object = list(source.frames())
        except SourceError as exc:
            outcome = exc
        finally:
            source.close()
    # anything but frames or ingest's own refusal (with a reason) escapes and fails the test
    assert isinstance(outcome, list) or str(outcome)
