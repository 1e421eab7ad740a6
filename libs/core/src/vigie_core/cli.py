"""The `vigie` command.

  vigie run [SERVICE ...] [--video FILE]   every installed service in one process, in memory
  vigie serve <service>       one service against Kafka (what a pod runs); `vigie <service>`
                              too, for services whose name is not also a command (rules is)
  vigie topics create|check|list   Kafka topics from the registry (create also corrects drift)
  vigie audit verify [--topic T] [--keys FILE]   check every signed hash chain of the audit trail
  vigie audit public-key [--chain C] FILE...     a signing key's public key, as a --keys line
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
from dataclasses import dataclass, field
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


class KeysFileError(ValueError):
    """A `--keys` file that cannot be used, with a message that says where and why."""


@dataclass
class TrustedKeys:
    """`vigie audit verify --keys FILE`: the public keys an auditor trusts, read from a text file,
    one key (64 hex digits, as `vigie audit public-key` prints them) per line, optionally after
    a chain name: "alerts/0 <hex>" trusts the key for that chain only (which must then be on
    the trail), "alerts/* <hex>" for every chain whose name starts with "alerts/" (a service's
    replicas), a bare "<hex>" for every chain. '#' starts a comment. FILE "-": stdin."""

    path: Path
    anywhere: set[bytes] = field(default_factory=set)
    by_chain: dict[str, set[bytes]] = field(default_factory=dict)
    by_prefix: dict[str, set[bytes]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> TrustedKeys:
        try:
            text = (sys.stdin.read() if str(path) == "-" else
                    path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise KeysFileError(f"{path}: not a text file of public keys (64 hex digits a "
                                "line)") from None
        except OSError as exc:
            raise KeysFileError(f"cannot read the keys file {path}: "
                                f"{exc.strerror or exc}") from None
        keys = cls(path)
        for number, line in enumerate(text.splitlines(), 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            where = f"{path}:{number}"
            if words[0].startswith("-----"):
                raise KeysFileError(
                    f"{where}: a PEM block, not a public key"
                    + (" (this is a PRIVATE key: keep it secret, give the auditor what "
                       "`vigie audit public-key` prints instead)" if "PRIVATE" in line else
                       "; write each key as 64 hex digits (`vigie audit public-key`)"))
            if len(words) > 2:
                raise KeysFileError(f"{where}: expected '[chain] <64 hex digits>', found "
                                    f"{len(words)} words")
            try:
                key = bytes.fromhex(words[-1])
            except ValueError:
                key = b""
            if len(key) != 32:
                raise KeysFileError(f"{where}: not an Ed25519 public key (expected 64 hex "
                                    "digits, as `vigie audit public-key` prints them)")
            if len(words) == 1:
                keys.anywhere.add(key)
                continue
            chain = words[0]
            if "*" in chain[:-1]:
                raise KeysFileError(f"{where}: '*' may only end a chain name ({chain!r})")
            if chain.endswith("*"):
                keys.by_prefix.setdefault(chain[:-1], set()).add(key)
            else:
                keys.by_chain.setdefault(chain, set()).add(key)
        if not (keys.anywhere or keys.by_chain or keys.by_prefix):
            raise KeysFileError(f"{path}: no public key in it")
        return keys

    def for_chain(self, chain: str) -> set[bytes]:
        out = self.by_chain.get(chain, set()) | self.anywhere
        for prefix, keys in self.by_prefix.items():
            if chain.startswith(prefix):
                out |= keys
        return out


def cmd_audit(args: argparse.Namespace) -> int:
    """`vigie audit verify`: recompute every chain of the audit topic (or of a copy of it)."""
    from vigie_core.audit import decode_records, key_id, verify_records
    from vigie_core.bus.kafka import KafkaBus
    from vigie_core.topics import AUDIT

    try:
        trusted = TrustedKeys.read(args.keys) if args.keys else None
    except KeysFileError as exc:
        print(f"vigie: {exc}", file=sys.stderr)
        return 2
    core = _core_settings()
    topic = args.topic or AUDIT.name
    bus = KafkaBus(core.kafka_bootstrap, "vigie-audit-verify",
                   client_config=core.kafka_client_config())

    async def verify() -> int:
        try:
            await bus.ping()
            records = decode_records(await bus.read_all(topic))
        finally:
            await bus.close()
        keys = None
        if trusted is not None:
            keys = {chain: trusted.for_chain(chain) for chain in {r.chain for r in records}}
        results = verify_records(records, keys)
        bad = 0
        if not results:
            print(f"no audit records on {topic}")
            if args.topic:  # an export to check: empty (or a mistyped name) proves nothing
                bad += 1
        for chain, result in results.items():
            signer = (", signed by " + ", ".join(key_id(k) for k in result.public_keys)
                      if result.signed else ", UNSIGNED (a record appended at its end would "
                                            "go unnoticed)")
            if result.valid:
                print(f"{chain}: ok, {result.records_checked} records{signer}, head "
                      f"{result.head_hash.hex()}")
                continue
            bad += 1
            print(f"{chain}: INVALID at sequence {result.first_invalid_sequence}: "
                  f"{result.error}")
            if trusted is not None:
                mine = sorted(key_id(k) for k in trusted.for_chain(chain))
                print(f"  {trusted.path} trusts for {chain}: " + (", ".join(mine) if mine else
                                                                   "no key"))
        if trusted is not None:
            for chain in sorted(set(trusted.by_chain) - set(results)):
                bad += 1
                print(f"{chain}: MISSING: {trusted.path} names it, but {topic} has no record "
                      "of it")
        return 1 if bad else 0
    try:
        return asyncio.run(verify())
    except (ConnectionError, TimeoutError) as exc:
        sys.exit(f"vigie: {exc}")


def cmd_audit_public_key(args: argparse.Namespace) -> int:
    """`vigie audit public-key FILE...`: the lines of a `--keys` file, from signing keys (the
    PEM files services sign with, e.g. read from the chart's Secret); '-' reads stdin."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from vigie_core.audit import key_id, public_key_bytes

    if args.chain is not None and (not args.chain or len(args.chain.split()) != 1
                                   or "#" in args.chain or "*" in args.chain[:-1]):
        print(f"vigie: --chain {args.chain!r}: one chain name, or a prefix ending in '*'",
              file=sys.stderr)
        return 2
    for name in args.files:
        try:
            data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            print(f"vigie: cannot read {name}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        try:
            key = load_pem_private_key(data, password=None)
        except (ValueError, TypeError):  # never echo what was read: it may be a secret
            key = None
        if not isinstance(key, Ed25519PrivateKey):
            print(f"vigie: {'stdin' if name == '-' else name}: not an unencrypted Ed25519 "
                  "private key in PEM (what VIGIE_AUDIT_KEY_FILE holds)", file=sys.stderr)
            return 2
        public = public_key_bytes(key)
        chain = f"{args.chain} " if args.chain else ""
        print(f"{chain}{public.hex()}  # key {key_id(public)}")
    return 0


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
    audit_actions = audit.add_subparsers(dest="action", required=True)
    verify = audit_actions.add_parser(
        "verify", help="check every hash chain and signature; exit 1 if one fails")
    verify.add_argument("--topic", help="verify this topic (an exported or restored copy of the "
                                        "audit trail) instead of vigie.audit.v1")
    verify.add_argument("--keys", type=Path, help="trusted public keys, one per line, "
                                                   "'[chain] <hex>' ('face/*': every chain "
                                                   "starting so; no chain: any): every record "
                                                   "must be signed by one of its chain's keys "
                                                   "(accepts a key rotation); a chain named "
                                                   "here must be on the trail")
    verify.set_defaults(func=cmd_audit)
    public_key = audit_actions.add_parser(
        "public-key", help="print the public key of signing key files, as a --keys line")
    public_key.add_argument("files", nargs="+", metavar="FILE",
                            help="PEM Ed25519 private key (VIGIE_AUDIT_KEY_FILE); - reads stdin")
    public_key.add_argument("--chain", help="chain name or 'service/*' to put before each key")
    public_key.set_defaults(func=cmd_audit_public_key)
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
