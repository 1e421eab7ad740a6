"""The `vigie` command.

  vigie run [SERVICE ...] [--video FILE]   every installed service in one process, in memory
  vigie serve <service>       one service against Kafka (what a pod runs); `vigie <service>`
                              too, for services whose name is not also a command (rules is)
  vigie topics create|list    Kafka topics from the registry
  vigie audit verify          check every audit hash chain on Kafka
  vigie doctor [--distributed]
  vigie services              installed services
  vigie tokens create|list|revoke   client tokens with roles (vigie_core.auth.commands)
  vigie certs ca|server|client      a development CA and certificates for mutual TLS
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
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
    return asyncio.run(serve([args.service], core, bus))


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

    async def create() -> list[str]:
        await bus.ping()
        return await bus.ensure_topics(REGISTRY)
    try:
        created = asyncio.run(create())
    except ConnectionError as exc:
        sys.exit(f"vigie: {exc}")
    print(f"created {len(created)} topics" + (": " + ", ".join(created) if created else
                                              " (all existed)"))
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """`vigie audit verify`: recompute every chain of the audit topic on Kafka."""
    from vigie_core.audit import read_audit, verify_records
    from vigie_core.bus.kafka import KafkaBus

    core = _core_settings()
    bus = KafkaBus(core.kafka_bootstrap, "vigie-audit-verify",
                   client_config=core.kafka_client_config())

    async def verify() -> int:
        await bus.ping()
        results = verify_records(await read_audit(bus))
        if not results:
            print("no audit records")
        bad = 0
        for chain, result in results.items():
            if result.valid:
                print(f"{chain}: ok, {result.records_checked} records, head "
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
    topics.add_argument("action", choices=["create", "list"])
    topics.set_defaults(func=cmd_topics)
    audit = sub.add_parser("audit", help="the hash-chained audit trail")
    audit.add_argument("action", choices=["verify"])
    audit.set_defaults(func=cmd_audit)
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
