"""One side of the cross-process golden round trip: `produce` publishes every golden sample to its
registry topic; `consume` reads them back in another process and writes what it decoded."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))

from make_golden import samples, to_binpb
from vigie_core.bus.kafka import KafkaBus
from vigie_core.codec import decode
from vigie_core.topics import REGISTRY


async def produce(bootstrap: str, key: str) -> None:
    bus = KafkaBus(bootstrap, "golden-producer")
    await bus.ensure_topics(REGISTRY)
    for name, message in samples().items():
        (topic,) = REGISTRY.by_type(name)
        await bus.publish(topic, key, message, event_id=f"{key}/{name}")
    await bus.close()  # flushes


async def consume(bootstrap: str, key: str, out: Path) -> None:
    bus = KafkaBus(bootstrap, "golden-consumer")
    consumer = bus.consumer(f"golden-{key}", [t.name for t in REGISTRY])
    wanted = set(samples())
    deadline = asyncio.get_running_loop().time() + 90
    while wanted and asyncio.get_running_loop().time() < deadline:
        record = await consumer.poll(0.5)
        if record is None or record.key != key.encode():
            continue
        event = decode(REGISTRY.get(record.topic), record.key, record.value, record.headers)
        assert event.envelope.id == f"{key}/{event.envelope.type}"
        (out / f"{event.envelope.type}.binpb").write_bytes(to_binpb(event.message))
        wanted.discard(event.envelope.type)
        consumer.store(record)
    await bus.close()
    if wanted:
        sys.exit(f"not received: {sorted(wanted)}")


if __name__ == "__main__":
    mode, bootstrap, key, *rest = sys.argv[1:]
    if mode == "produce":
        asyncio.run(produce(bootstrap, key))
    else:
        asyncio.run(consume(bootstrap, key, Path(rest[0])))
