"""The one entry point: settings -> Kafka, the Kubernetes API, the HTTP server -> run -> stop.

    python -m vigie_controller      (or vigie-controller)

Serves /healthz, /readyz (ready after the first full sync), /metrics and /status (metrics or
admin role) on
VIGIE_HTTP_HOST:VIGIE_HTTP_PORT, over HTTPS as soon as the host is not loopback (like every Vigie
process, it refuses a non-loopback listener without VIGIE_TLS_CERT_FILE and VIGIE_TLS_KEY_FILE).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from pydantic import ValidationError
from vigie_core.auth.authenticator import Authenticator
from vigie_core.bus.base import Bus
from vigie_core.bus.kafka import KafkaBus
from vigie_core.servers import http_app, start_http
from vigie_core.settings import CoreSettings
from vigie_core.telemetry import configure_logging
from vigie_core.topics import CAMERAS, RULES

from vigie_controller.adapters.kube import KubeApi, load_client
from vigie_controller.config import Settings
from vigie_controller.controller import Controller

log = logging.getLogger("vigie_controller")


async def serve(core: CoreSettings, settings: Settings, api: KubeApi, bus: Bus) -> int:
    exposed = [e for e in core.insecure_listeners() if e.startswith("http")]
    if exposed:
        raise PermissionError(f"refusing to serve {', '.join(exposed)} without TLS: set "
                              "VIGIE_TLS_CERT_FILE and VIGIE_TLS_KEY_FILE, or listen on 127.0.0.1")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await bus.start()
    await bus.ensure_topics([CAMERAS, RULES])
    controller = Controller(api, bus, settings)
    # /metrics and /status need the metrics or admin role (a client certificate or a token
    # of VIGIE_AUTH_TOKENS_FILE), like every Vigie process; the probes are open.
    app = http_app(controller.health, lambda: {"controller": controller.status(),
                                               "ready": controller.health.ready,
                                               "namespaces": api.namespaces or "all"},
                   Authenticator(core), public_metrics=core.auth_public_metrics)
    runner, port = await start_http(app, core)
    log.info("controller started (http %d, namespaces %s)", port, api.namespaces or "all")
    try:
        await controller.run(stop)
    finally:
        await bus.close()
        await runner.cleanup()
    log.info("stopped")
    return 0


def main() -> int:
    try:
        core, settings = CoreSettings(), Settings()
    except ValidationError as exc:
        sys.exit(f"vigie-controller: invalid settings: {exc}")
    configure_logging("controller", core.log_level, core.log_json)
    api = KubeApi(load_client(settings.kubeconfig), settings.namespace_list)
    bus = KafkaBus(core.kafka_bootstrap, f"vigie-controller/{core.instance}",
                   replication_factor=core.kafka_replication_factor,
                   client_config=core.kafka_client_config(),
                   producer_config={"linger.ms": core.kafka_linger_ms})
    return asyncio.run(serve(core, settings, api, bus))


if __name__ == "__main__":
    sys.exit(main())
