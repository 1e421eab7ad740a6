"""A consumer process that dies without committing: polls N records, stores and commits the first
K, prints what it polled, then waits to be SIGKILLed (used by the Kafka bus contract tests)."""

import asyncio
import json
import sys

from vigie_core.bus.kafka import KafkaBus


async def main(bootstrap: str, group: str, topic: str, polled_n: int, stored_k: int) -> None:
    bus = KafkaBus(bootstrap, "crash-consumer")
    consumer = bus.consumer(group, [topic])
    records = []
    while len(records) < polled_n:
        record = await consumer.poll(1.0)
        if record is not None:
            records.append(record)
    for record in records[:stored_k]:
        consumer.store(record)
    await consumer.commit()
    print(json.dumps([[r.partition, r.offset] for r in records]), flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    bootstrap, group, topic, n, k = sys.argv[1:]
    asyncio.run(main(bootstrap, group, topic, int(n), int(k)))
