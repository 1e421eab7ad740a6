"""The `vigie` command.

  vigie run [SERVICE ...] [--video FILE]   every installed service in one process, in memory
  vigie serve <service>       one service against Kafka (what a pod runs); `vigie <service>`
                              too, for services whose name is not also a command (rules is)
  vigie topics create|check|list   Kafka topics from the registry (create also corrects drift)
  vigie audit verify [--topic T] [--keys FILE]   check every signed hash chain of the audit trail
  vigie retention report      what retention deleted, from the audit trail
  vigie doctor [--distributed]
  vigie services              installed services
  vigie tokens create|list|revoke   client tokens with roles (vigie_core.auth.commands)
  vigie certs ca|server|client      a development CA and certificates for mutual TLS
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from vigie_core.service import installed_commands, installed_services
from vigie_core.settings import CoreSettings
from vigie_core.telemetry import configure_logging
from vigie_core.topics import CAMERAS, REGISTRY

if TYPE_CHECKING:
    from vigie_core.runtime import Running


def _core_settings() -> CoreSettings:
    try:
        return CoreSettings()
    except ValidationError as exc:
        sys.exit(f"vigie: invalid settings: {exc}")


def cmd_run(args: argparse.Namespace) -> int:
    from vigie_core.bus.memory import MemoryBus
    from vigie_core.runtime import serve

    core = _core_settings()
    names = args.services or sorted(installed_services())
    if not names:
        sys.exit("vigie: no service installed (make setup)")
    configure_logging("vigie", core.log_level, core.log_json)
    _local_token(core)
    overrides: dict[str, dict[str, Any]] = {}
    then = None
    if args.video:
        video = Path(args.video).resolve()
        if not video.is_file():
            sys.exit(f"vigie: no such video: {video}")
        overrides["ingest"] = {"media_root": video.parent, "loop_files": args.loop}
        then = _register_video(video, args.fps)
    return asyncio.run(serve(names, core, MemoryBus(f"vigie-embedded/{core.instance}"),
                             overrides, then))


LOCAL_ROLES = ("admin", "integrator", "metrics", "reporter")


def _local_token(core: CoreSettings) -> None:
    """First start of the embedded runtime: a random local token (no default credential) for
    the vigie commands of whoever runs it, readable by them only. It holds no watchlist role and,
    being no person's, cannot decide alerts."""
    from vigie_core.auth.tokens import TokenStore, TokenStoreError, ensure_local_token

    log = logging.getLogger(__name__)
    try:
        if ensure_local_token(TokenStore(core.tokens_file), core.local_token_file, LOCAL_ROLES):
            log.info("created the local token %s (roles %s) for vigie commands on this machine",
                     core.local_token_file, ", ".join(LOCAL_ROLES))
    except (OSError, TokenStoreError, ValueError) as exc:
        log.warning("no local token (%s): create one with vigie tokens create", exc)


def _register_video(video: Path, fps: float) -> Callable[[Running], Awaitable[None]]:
    """A camera for a local video file, published once the services run."""
    camera_id = re.sub(r"[^a-z0-9._-]+", "-", video.stem.lower()).strip("-._")[:63] or "video"

    async def register(running: Running) -> None:
        from vigie.camera.v1.camera_pb2 import PURPOSE_OBJECTS, Camera

        camera = Camera(camera_id=camera_id, name=video.name, source_url=video.as_uri(),
                        sample_fps=fps, enabled=True, purposes=[PURPOSE_OBJECTS])
        await (await running.bus.publish(CAMERAS, camera_id, camera))
        logging.getLogger(__name__).info("camera %s reads %s at %g frames/s", camera_id,
                                         video.name, fps, extra={"camera_id": camera_id})
    return register


def cmd_service(args: argparse.Namespace) -> int:
    from vigie_core.bus.kafka import KafkaBus
    from vigie_core.runtime import serve

    core = _core_settings()
    configure_logging(args.service, core.log_level, core.log_json)
    bus = KafkaBus(core.kafka_bootstrap, f"vigie-{args.service}/{core.instance}",
                   replication_factor=core.kafka_replication_factor,
                   client_config=core.kafka_client_config(),
                   producer_config={"linger.ms": core.kafka_linger_ms})
    try:
        code = asyncio.run(serve([args.service], core, bus))
    except Exception:
        traceback.print_exc()  # on stderr, as for any uncaught error
        code = 1
    if code != 0:
        # A library's thread (Faust's consumer thread after a failed start) must not keep a
        # failed service alive: exit now, for the supervisor to restart it.
        logging.shutdown()
        sys.stderr.flush()
        os._exit(code)
    return code


def cmd_topics(args: argparse.Namespace) -> int:
    if args.action == "list":
        for t in REGISTRY:
            retention = "forever" if t.retention is None else str(t.retention)
            print(f"{t.name:28} {t.type_name:38} key={t.key:10} partitions={t.partitions:<3} "
                  f"{t.cleanup:8} retention={retention}")
        return 0
    from vigie_core.bus.kafka import KafkaBus

    core = _core_settings()
    bus = KafkaBus(core.kafka_bootstrap, "vigie-topics",
                   replication_factor=core.kafka_replication_factor,
                   client_config=core.kafka_client_config())

    async def create() -> int:
        from vigie_core.bus.base import topic_specs

        await bus.ping()
        try:
            if args.action == "create":
                created = await bus.ensure_topics(REGISTRY)
                print(f"created {len(created)} topics" + (": " + ", ".join(created) if created
                                                          else " (all existed)"))
            drifts = await bus.topic_drift(topic_specs(REGISTRY))
            return await _drift(bus, drifts, fix=args.action == "create")
        finally:
            await bus.close()
    try:
        return asyncio.run(create())
    except ConnectionError as exc:
        sys.exit(f"vigie: {exc}")


async def _drift(bus: Any, drifts: list[Any], *, fix: bool) -> int:
    """Print how existing topics differ from the registry; with `fix`, set their configs to the
    registry's (retention included). Partition counts are never changed (more partitions would
    move keys): reported only. Exit code 1 if something differs (check) or still differs."""
    left = 0
    for drift in drifts:
        for name, (actual, wanted) in sorted(drift.configs.items()):
            print(f"{drift.name}: {name} is {actual if actual is not None else 'unset'}, the "
                  f"registry says {wanted}" + (": set" if fix else ""))
        for problem in drift.problems:
            print(f"{drift.name}: {problem}" + (": corrected" if fix else ""))
        if fix and drift.configs:
            await bus.alter_topic_configs(
                drift.name, {k: wanted for k, (_, wanted) in drift.configs.items()})
        elif drift.configs or drift.problems:
            left += 1
        if drift.partitions:
            left += 1
            print(f"{drift.name}: {drift.partitions[0]} partitions, the registry says "
                  f"{drift.partitions[1]} (not changed: more partitions move keys; a new topic "
                  "version is the way)")
    if not drifts:
        print("every existing topic matches the registry")
    return 1 if left else 0


def _trusted_keys(path: Path) -> tuple[set[bytes], dict[str, set[bytes]]]:
    """`--keys FILE`: one public key (64 hex digits) per line, optionally after a chain name
    ("alerts/0 <hex>"); '#' starts a comment. Keys without a chain are trusted for every chain."""
    anywhere: set[bytes] = set()
    by_chain: dict[str, set[bytes]] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        try:
            key = bytes.fromhex(words[-1])
        except ValueError:
            sys.exit(f"vigie: {path}:{number}: not a hex public key")
        if len(key) != 32 or len(words) > 2:
            sys.exit(f"vigie: {path}:{number}: expected [chain] <64 hex digits>")
        (by_chain.setdefault(words[0], set()) if len(words) == 2 else anywhere).add(key)
    return anywhere, by_chain


def cmd_audit(args: argparse.Namespace) -> int:
    """`vigie audit verify`: recompute every chain of the audit topic (or of a copy of it)."""
    from vigie_core.audit import decode_records, key_id, verify_records
    from vigie_core.bus.kafka import KafkaBus
    from vigie_core.topics import AUDIT

    core = _core_settings()
    bus = KafkaBus(core.kafka_bootstrap, "vigie-audit-verify",
                   client_config=core.kafka_client_config())
    trusted = _trusted_keys(args.keys) if args.keys else None

    async def verify() -> int:
        await bus.ping()
        try:
            records = decode_records(await bus.read_all(args.topic or AUDIT.name))
        finally:
            await bus.close()
        keys = None
        if trusted is not None:
            anywhere, by_chain = trusted
            keys = {chain: by_chain.get(chain, set()) | anywhere
                    for chain in {r.chain for r in records}}
        results = verify_records(records, keys)
        if not results:
            print("no audit records")
        bad = 0
        for chain, result in results.items():
            signer = (", signed by " + ", ".join(key_id(k) for k in result.public_keys)
                      if result.signed else ", UNSIGNED (a record appended at its end would "
                                            "go unnoticed)")
            if result.valid:
                print(f"{chain}: ok, {result.records_checked} records{signer}, head "
                      f"{result.head_hash.hex()}")
            else:
                bad += 1
                print(f"{chain}: INVALID at sequence {result.first_invalid_sequence}: "
                      f"{result.error}")
        return 1 if bad else 0
    try:
        return asyncio.run(verify())
    except ConnectionError as exc:
        sys.exit(f"vigie: {exc}")


def cmd_retention(args: argparse.Namespace) -> int:
    """`vigie retention report`: every retention deletion in the audit trail, with whether the
    chain that records it verifies."""
    from datetime import UTC, datetime

    from vigie_core.audit import read_audit, verify_records
    from vigie_core.bus.kafka import KafkaBus
    from vigie_core.retention import render, report

    core = _core_settings()
    bus = KafkaBus(core.kafka_bootstrap, "vigie-retention-report",
                   client_config=core.kafka_client_config())

    def when(text: str | None) -> datetime | None:
        if not text:
            return None
        at = datetime.fromisoformat(text)
        return at if at.tzinfo else at.replace(tzinfo=UTC)

    async def run() -> int:
        await bus.ping()
        try:
            records = await read_audit(bus)
        finally:
            await bus.close()
        verification = verify_records(records)
        rows = report(records, verification, since=when(args.since), until=when(args.until))
        print(render(rows, args.format))
        return 0 if all(r.chain_verified for r in rows) else 1
    try:
        return asyncio.run(run())
    except ConnectionError as exc:
        sys.exit(f"vigie: {exc}")


def cmd_doctor(args: argparse.Namespace) -> int:
    from vigie_core.doctor import render, run_checks

    checks = asyncio.run(run_checks(args.distributed))
    print(render(checks))
    return 1 if any(c.status == "fail" for c in checks) else 0


def cmd_services(_: argparse.Namespace) -> int:
    for name, ep in sorted(installed_services().items()):
        print(f"{name:10} {ep.value}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="vigie", description="Vigie video analytics.")
    sub = root.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run every installed service in one process, no Kafka")
    run.add_argument("services", nargs="*", help="only these services")
    run.add_argument("--video", help="also register a camera reading this video file")
    run.add_argument("--fps", type=float, default=5.0, help="sampling rate of --video")
    run.add_argument("--loop", action="store_true", help="replay --video forever")
    run.set_defaults(func=cmd_run)
    services = sorted(installed_services())
    serve = sub.add_parser("serve", help="run one service against Kafka (what a pod runs)")
    serve.add_argument("service", choices=services)
    serve.set_defaults(func=cmd_service)
    commands = installed_commands()
    for name in services:
        if name not in commands:  # `vigie rules` is the rules command: `vigie serve rules`
            one = sub.add_parser(name, help=f"run the {name} service against Kafka")
            one.set_defaults(func=cmd_service, service=name)
    topics = sub.add_parser("topics", help="Kafka topics from the registry")
    topics.add_argument("action", choices=["create", "check", "list"],
                        help="create: missing topics, and set the registry's configs (retention "
                             "...) on topics that drifted; check: report drift, exit 1 if any")
    topics.set_defaults(func=cmd_topics)
    audit = sub.add_parser("audit", help="the hash-chained audit trail")
    audit.add_argument("action", choices=["verify"])
    audit.add_argument("--topic", help="verify this topic (an exported or restored copy of the "
                                       "audit trail) instead of vigie.audit.v1")
    audit.add_argument("--keys", type=Path, help="trusted public keys, one per line, "
                                                  "'[chain] <hex>': every record must be signed "
                                                  "by one (accepts a key rotation)")
    audit.set_defaults(func=cmd_audit)
    retention = sub.add_parser("retention", help="what retention deleted, with its proof")
    retention.add_argument("action", choices=["report"])
    retention.add_argument("--since", help="ISO 8601 date or time (UTC unless given)")
    retention.add_argument("--until", help="ISO 8601 date or time (UTC unless given)")
    retention.add_argument("--format", choices=["text", "json", "csv"], default="text")
    retention.set_defaults(func=cmd_retention)
    doctor = sub.add_parser("doctor", help="check the installation and say what to fix")
    doctor.add_argument("--distributed", action="store_true",
                        help="Kafka is required (it is only advised otherwise)")
    doctor.set_defaults(func=cmd_doctor)
    listing = sub.add_parser("services", help="list installed services")
    listing.set_defaults(func=cmd_services)
    from vigie_core.auth import commands as auth_commands

    auth_commands.register(sub)
    for _, entry_point in sorted(commands.items()):
        entry_point.load()(sub)  # adds its parser with set_defaults(func=...)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
