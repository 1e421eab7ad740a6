"""`vigie rules validate|add|list|rm`: rule specs from a terminal.

`validate` works offline. `add`, `list` and `rm` talk to Kafka directly: rules live on the
compacted topic vigie.rules.v1, keyed by rule_id; `rm` publishes a tombstone; `list` reads the
topic from the beginning in a throwaway consumer group that never commits, and shows the latest
value per key.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import KafkaException
from google.protobuf import json_format
from pydantic import ValidationError
from vigie.rules.v1.rule_pb2 import Rule, Severity
from vigie_core.bus.kafka import KafkaBus
from vigie_core.codec import DecodeError, decode
from vigie_core.settings import CoreSettings
from vigie_core.topics import RULES

from vigie_rules.domain.kinds import kind_of
from vigie_rules.domain.spec import (
    MAX_DOCUMENT_BYTES,
    RuleSpecError,
    load_rules,
    validate_rule_yaml,
)

IDLE_S = 2.0  # `list` stops after this long without a record once partitions are assigned
ASSIGN_TIMEOUT_S = 20.0  # ... and gives up if the group never gets its partitions


def _read(path: str) -> tuple[str | None, str | None]:
    """(text, None) or (None, problem)."""
    try:
        with Path(path).open("rb") as f:
            data = f.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}"
    if len(data) > MAX_DOCUMENT_BYTES:
        return None, (f"document: more than the {MAX_DOCUMENT_BYTES // 1024} KiB allowed for a "
                      "rule file; split it")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"document: not UTF-8 text ({exc.reason} at byte {exc.start})"


def cmd_validate(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    failed = False
    for path in args.files:
        text, problem = _read(path)
        problems = [problem] if problem else validate_rule_yaml(text or "", now)
        for p in problems:
            print(f"{path}: {p}")
        if problems:
            failed = True
        elif not args.quiet:
            print(f"{path}: ok")
    return 1 if failed else 0


def _bootstrap(args: argparse.Namespace) -> str:
    if args.bootstrap:
        return str(args.bootstrap)
    try:
        return str(CoreSettings().kafka_bootstrap)
    except ValidationError as exc:
        sys.exit(f"vigie rules: invalid settings: {exc}")


def _kafka_security() -> dict[str, str]:
    """VIGIE_KAFKA_SECURITY_PROTOCOL and friends (TLS, SASL), as every Vigie client."""
    try:
        return CoreSettings().kafka_client_config()
    except ValidationError as exc:
        sys.exit(f"vigie rules: invalid settings: {exc}")


def _bus(args: argparse.Namespace) -> KafkaBus:
    return KafkaBus(_bootstrap(args), source="vigie-rules-cli",
                    consumer_config={"enable.auto.commit": False},
                    client_config=_kafka_security())


async def _publish(args: argparse.Namespace, items: list[tuple[str, Rule | None]]) -> None:
    bus = _bus(args)
    try:
        await bus.start()
        deliveries = [await bus.publish(RULES, key, rule) for key, rule in items]
        await bus.flush(args.timeout)
        for delivery in deliveries:
            await delivery  # raises if the broker refused the record
    finally:
        await bus.close()


def cmd_add(args: argparse.Namespace) -> int:
    text, problem = _read(args.file)
    if problem:
        print(f"{args.file}: {problem}")
        return 1
    try:
        rules = load_rules(text or "", datetime.now(UTC), args.created_by)
    except RuleSpecError as exc:
        for p in exc.problems:
            print(f"{args.file}: {p}")
        return 1
    try:
        asyncio.run(_publish(args, [(rule.rule_id, rule) for rule in rules]))
    except (TimeoutError, OSError, RuntimeError, KafkaException) as exc:
        sys.exit(f"vigie rules: could not publish to {RULES.name}: {exc}")
    for rule in rules:
        print(f"added {rule.rule_id} ({_kind(rule)} on {rule.camera_id or 'all cameras'})")
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    try:
        asyncio.run(_publish(args, [(rule_id, None) for rule_id in args.rule_ids]))
    except (TimeoutError, OSError, RuntimeError, KafkaException) as exc:
        sys.exit(f"vigie rules: could not publish to {RULES.name}: {exc}")
    for rule_id in args.rule_ids:
        print(f"removed {rule_id}")
    return 0


async def read_rules(bootstrap: str, idle_s: float = IDLE_S,
                     assign_timeout_s: float = ASSIGN_TIMEOUT_S) -> dict[str, Rule]:
    """The current rules on vigie.rules.v1 (latest value per key, tombstones applied), read
    from the beginning in a unique consumer group that stores and commits no offset."""
    bus = KafkaBus(bootstrap, source="vigie-rules-cli",
                   consumer_config={"enable.auto.commit": False},
                   client_config=_kafka_security())
    consumer = bus.consumer(f"vigie-rules-cli-list-{uuid.uuid4()}", [RULES.name])
    rules: dict[str, Rule] = {}
    try:
        started = last = time.monotonic()
        while True:
            record = await consumer.poll(0.2)
            now = time.monotonic()
            if record is not None:
                last = now
                try:
                    event = decode(RULES, record.key, record.value, record.headers)
                except DecodeError as exc:
                    print(f"skipping {record.topic}[{record.partition}]@{record.offset}: {exc}",
                          file=sys.stderr)
                    continue
                if event.key is None:
                    continue
                if event.message is None:
                    rules.pop(event.key, None)
                else:
                    rule = Rule()
                    rule.CopyFrom(event.message)
                    rules[event.key] = rule
            elif not consumer.assignment():
                if now - started > assign_timeout_s:
                    raise TimeoutError(f"no partition of {RULES.name} assigned after "
                                       f"{assign_timeout_s:.0f} s (does the topic exist?)")
                last = now
            elif now - last > idle_s:
                return rules
    finally:
        await consumer.close()
        await bus.close()


def _kind(rule: Rule) -> str:
    kind = kind_of(rule)
    return kind.name if kind is not None else rule.kind_name or f"kind {rule.kind}"


def _row(rule: Rule) -> str:
    kind = _kind(rule)
    severity = Severity.Name(rule.severity).removeprefix("SEVERITY_").lower()
    until = (rule.schedule.valid_until.ToDatetime(tzinfo=UTC).isoformat(timespec="minutes")
             if rule.schedule.HasField("valid_until") else "permanent")
    state = "on" if rule.enabled else "off"
    return (f"{rule.rule_id:28} {kind:18} {rule.camera_id or '*':20} {severity:8} {state:3} "
            f"{until:25} {rule.name}")


def cmd_list(args: argparse.Namespace) -> int:
    try:
        rules = asyncio.run(read_rules(_bootstrap(args), args.idle))
    except (TimeoutError, OSError, RuntimeError, KafkaException) as exc:
        sys.exit(f"vigie rules: could not read {RULES.name}: {exc}")
    chosen = [r for _, r in sorted(rules.items())
              if not args.camera or r.camera_id == args.camera]
    if args.json:
        for rule in chosen:
            print(json_format.MessageToJson(rule, indent=None))
        return 0
    print(f"{'RULE_ID':28} {'KIND':18} {'CAMERA':20} {'SEVERITY':8} {'ON':3} "
          f"{'VALID_UNTIL (UTC)':25} NAME")
    for rule in chosen:
        print(_row(rule))
    return 0


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (e.g. a container with an arbitrary uid)
        return ""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rules = subparsers.add_parser("rules", help="rule specs: validate YAML, add/list/rm on Kafka")
    rules.add_argument("--bootstrap",
                       help="Kafka bootstrap servers (default: $VIGIE_KAFKA_BOOTSTRAP)")
    rules.add_argument("--timeout", type=float, default=30.0,
                       help="seconds to wait for Kafka to acknowledge (add, rm)")
    actions = rules.add_subparsers(dest="action", required=True)

    validate = actions.add_parser("validate", help="check YAML rule files (offline)")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    validate.set_defaults(func=cmd_validate)

    add = actions.add_parser("add", help="validate a YAML rule file and publish its rules")
    add.add_argument("file", metavar="FILE")
    add.add_argument("--created-by", default=_user(),
                     help="operator recorded on the rules (default: the current user)")
    add.set_defaults(func=cmd_add)

    listing = actions.add_parser("list", help="current rules on the topic")
    listing.add_argument("--camera", help="only the rules of this camera")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument("--idle", type=float, default=IDLE_S,
                         help="stop after this many seconds without a record")
    listing.set_defaults(func=cmd_list)

    rm = actions.add_parser("rm", help="delete rules (tombstones)")
    rm.add_argument("rule_ids", nargs="+", metavar="RULE_ID")
    rm.set_defaults(func=cmd_rm)
