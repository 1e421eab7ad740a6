"""The alerts service in a process of its own, made to stop at one point of an SMS attempt so the
test can SIGKILL it exactly there.

    python sms_crash_child.py DATA_DIR DATABASE_URL ROUTES_FILE INSTANCE POINT

POINT after-answer: the provider's answer reaches the SMS channel, which prints ANSWERED and
then waits (before recording it). before-request: the send intent is committed, then INTENT is
printed and the request never leaves. Either way the process waits to be killed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from vigie_alerts.adapters.channels import sms
from vigie_alerts.adapters.channels.base import Outcome
from vigie_core.bus.memory import MemoryBus
from vigie_core.runtime import start
from vigie_core.settings import CoreSettings


async def main(data_dir: str, url: str, routes: str, instance: str, point: str) -> None:
    send = sms.http_call

    async def stopping(http: Any, method: str, target: str, **kwargs: Any) -> Outcome:
        if point == "before-request":
            print("INTENT", flush=True)
            await asyncio.sleep(3600)
        outcome = await send(http, method, target, **kwargs)
        print(f"ANSWERED ok={outcome.ok}", flush=True)
        await asyncio.sleep(3600)  # killed here: answered, not recorded
        return outcome

    sms.http_call = stopping  # the SMS channel's request
    core = CoreSettings(http_port=0, grpc_port=0, data_dir=Path(data_dir), instance=instance)
    await start(["alerts"], core, MemoryBus("sms-crash-child"),
                {"alerts": {"routes_file": Path(routes), "database_url": url,
                            "dispatch_interval_s": 0.05}})
    print("STARTED", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
