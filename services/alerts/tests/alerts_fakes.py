"""Test doubles of the outside world, on 127.0.0.1: an SMS provider (Twilio's API shape) and a
webhook receiver, both recording every request; a stand-in RulesService (gRPC, in process);
plus alert and frame builders."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

import grpc
from aiohttp import web
from PIL import Image
from vigie.alerts.v1.alert_pb2 import AlertRaised
from vigie.common.v1.common_pb2 import BoundingBox
from vigie.ingest.v1.frame_pb2 import FrameSampled
from vigie.rules.v1 import rules_service_pb2 as rpb
from vigie.rules.v1 import rules_service_pb2_grpc as rpb_grpc
from vigie.rules.v1.rule_pb2 import Rule, RuleKind, Severity
from vigie_alerts.domain import signing

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def make_alert(alert_id: str = "a" * 32, *, camera_id: str = "cam-1", rule_id: str = "r1",
               kind: int = RuleKind.RULE_KIND_ZONE_INTRUSION,
               severity: int = Severity.SEVERITY_HIGH, at: datetime = T0,
               frame_id: str = "", boxes: Sequence[tuple[float, float, float, float]] = (),
               requires: int = 0, subject_id: str = "", title: str = "Zone intrusion"
               ) -> AlertRaised:
    alert = AlertRaised(alert_id=alert_id, rule_id=rule_id, rule_kind=kind, camera_id=camera_id,
                        severity=severity, title=title, frame_id=frame_id, track_ids=[7],
                        requires_confirmations=requires, subject_id=subject_id)
    alert.raised_at.FromDatetime(at)
    alert.started_at.FromDatetime(at)
    for x0, y0, x1, y1 in boxes:
        alert.boxes.append(BoundingBox(x_min=x0, y_min=y0, x_max=x1, y_max=y1))
    return alert


def jpeg(width: int = 320, height: int = 240, colour: tuple[int, int, int] = (90, 90, 90)
         ) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="JPEG")
    return out.getvalue()


def make_frame(camera_id: str, micros: int, data: bytes, width: int = 320,
               height: int = 240) -> FrameSampled:
    frame = FrameSampled(frame_id=f"{camera_id}:{micros}", camera_id=camera_id, jpeg=data,
                         width=width, height=height)
    frame.captured_at.FromMicroseconds(micros)
    return frame


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)


class RecordingServer:
    """An aiohttp server on 127.0.0.1 that records requests. `plan` is a list of statuses to
    answer in turn (then 2xx); `delays` delays the next answers, in seconds (to make the client
    time out)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.plan: list[int] = []
        self.delays: list[float] = []
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.arrived = asyncio.Event()

    def app(self) -> web.Application:
        raise NotImplementedError

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app())
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _next_status(self, default: int) -> int:
        return self.plan.pop(0) if self.plan else default

    async def wait_for(self, n: int, timeout: float) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.requests) < n:
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True


class SmsProvider(RecordingServer):
    """Twilio's Messages resource: POST /2010-04-01/Accounts/{sid}/Messages.json, basic auth,
    form fields To, From, Body; answers 201 with a message sid. With `lists` (Twilio has it),
    GET on the same path lists the messages (filters To and From, PageSize, newest first,
    next_page_uri); without, GET is 405 like a provider that cannot be asked. With
    `honours_keys`, a repeated Idempotency-Key gets the first answer again and sends nothing (some
    providers and gateways do; Twilio does not). `late_answers`: seconds to hold the next answers
    after the message was taken (the client may time out on a message that went out)."""

    def __init__(self, account_sid: str = "AC0123", token: str = "sms-token", *,
                 lists: bool = True, honours_keys: bool = False) -> None:
        super().__init__()
        self.account_sid, self.token = account_sid, token
        self.lists, self.honours_keys = lists, honours_keys
        self.messages: list[dict[str, str]] = []
        self.created: list[datetime] = []
        self.late_answers: list[float] = []
        self._by_key: dict[str, int] = {}

    def app(self) -> web.Application:
        app = web.Application()
        path = "/2010-04-01/Accounts/{sid}/Messages.json"
        app.add_routes([web.post(path, self.handle)])
        if self.lists:
            app.add_routes([web.get(path, self.list_messages)])
        return app

    def _refused(self, request: web.Request) -> web.Response | None:
        import base64

        expected = "Basic " + base64.b64encode(
            f"{self.account_sid}:{self.token}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        if request.match_info["sid"] != self.account_sid:
            return web.json_response({"code": 20404, "message": "Not found"}, status=404)
        return None

    def _resource(self, i: int) -> dict[str, Any]:
        form = self.messages[i]
        return {"sid": f"SM{i + 1:032d}", "status": "queued", "to": form.get("To"),
                "from": form.get("From"), "body": form.get("Body"),
                "date_created": format_datetime(self.created[i])}

    async def handle(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append(Recorded(request.path, dict(request.headers), b"", form))
        if (refused := self._refused(request)) is not None:
            return refused
        if self.delays:
            await asyncio.sleep(self.delays.pop(0))
        status = self._next_status(201)
        if status != 201:
            return web.json_response({"code": 20500, "message": "error"}, status=status)
        key = request.headers.get(signing.IDEMPOTENCY_HEADER, "")
        if self.honours_keys and key in self._by_key:
            return web.json_response(self._resource(self._by_key[key]), status=201)
        self.messages.append(form)
        self.created.append(datetime.now(UTC))
        self._by_key[key] = len(self.messages) - 1
        if self.late_answers:  # taken, but the answer comes too late for the client
            await asyncio.sleep(self.late_answers.pop(0))
        return web.json_response(self._resource(len(self.messages) - 1), status=201)

    async def list_messages(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        q = request.query
        size, page = int(q.get("PageSize", "50")), int(q.get("Page", "0"))
        found = [self._resource(i) for i in reversed(range(len(self.messages)))
                 if q.get("To") in (None, self.messages[i].get("To"))
                 and q.get("From") in (None, self.messages[i].get("From"))]
        chunk = found[page * size:(page + 1) * size]
        following = None
        if len(found) > (page + 1) * size:
            following = (f"{request.path}?To={quote(q.get('To', ''))}&From="
                         f"{quote(q.get('From', ''))}&PageSize={size}&Page={page + 1}")
        return web.json_response({"messages": chunk, "page": page, "page_size": size,
                                  "next_page_uri": following})


class WebhookReceiver(RecordingServer):
    """A webhook endpoint that checks signatures and honours Idempotency-Key: a key it has
    already processed is answered 200 again without processing twice (what receivers are asked
    to do); `accepted` holds the bodies processed, once each."""

    def __init__(self, secret: bytes) -> None:
        super().__init__()
        self.secret = secret
        self.accepted: dict[str, dict[str, Any]] = {}
        self.bad_signatures = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.post("/hook", self.handle)])
        return app

    async def wait_accepted(self, n: int, timeout: float) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.accepted) < n:
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Recorded(request.path, dict(request.headers), body))
        header = request.headers.get(signing.SIGNATURE_HEADER, "")
        import time

        if not signing.verify(self.secret, header, body, int(time.time())):
            self.bad_signatures += 1
            return web.json_response({"error": "bad signature"}, status=401)
        status = self._next_status(200)
        key = request.headers.get(signing.IDEMPOTENCY_HEADER, "")
        if status >= 300:
            return web.json_response({"error": "down"}, status=status)
        if key not in self.accepted:
            self.accepted[key] = json.loads(body)
        if self.delays:  # processed, but the answer comes too late for the client
            await asyncio.sleep(self.delays.pop(0))
        return web.json_response({"ok": True})


class CapReceiver(RecordingServer):
    """An emergency system's CAP inbox: records the XML POSTed to /cap."""

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.post("/cap", self.handle)])
        return app

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(Recorded(request.path, dict(request.headers), await request.read()))
        return web.Response(status=self._next_status(200))


def _kind(name: str, kind: int, title: str, geometry: str, required: Sequence[str],
          optional: Sequence[str] = ()) -> rpb.RuleKindInfo:
    return rpb.RuleKindInfo(name=name, kind=kind, title=title, geometry=geometry,  # type: ignore[arg-type]
                            required_fields=required, optional_fields=optional)


# As a rules service declares them, in its own order; zone_occupancy is a plug-in kind.
RULE_KINDS = [
    _kind("zone_occupancy", RuleKind.RULE_KIND_UNSPECIFIED, "Zone occupancy", "zone", ["zone"],
          ["min_count"]),
    _kind("wrong_way", RuleKind.RULE_KIND_WRONG_WAY, "Wrong way", "line", ["direction"]),
    _kind("line_crossing", RuleKind.RULE_KIND_LINE_CROSSING, "Line crossing", "line", ["line"],
          ["direction", "tolerance_deg", "min_count"]),
    _kind("loitering", RuleKind.RULE_KIND_LOITERING, "Loitering", "zone",
          ["zone", "max_dwell_s"]),
    _kind("zone_intrusion", RuleKind.RULE_KIND_ZONE_INTRUSION, "Zone intrusion", "zone",
          ["zone"]),
]


class FakeRules(rpb_grpc.RulesServiceServicer):
    """A RulesService that keeps rules in memory and records who put them."""

    def __init__(self) -> None:
        self.rules: dict[str, Rule] = {}
        self.operators: list[str] = []
        self.server: grpc.aio.Server | None = None

    async def start(self) -> str:
        self.server = grpc.aio.server()
        rpb_grpc.add_RulesServiceServicer_to_server(self, self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        return f"127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(0)

    async def ListRuleKinds(self, request, context):
        return rpb.ListRuleKindsResponse(kinds=RULE_KINDS)

    async def ValidateRule(self, request, context):
        errors = []
        if request.rule.kind == RuleKind.RULE_KIND_UNSPECIFIED and not request.rule.kind_name:
            errors.append(rpb.ValidationError(field_path="kind", message="required"))
        return rpb.ValidateRuleResponse(errors=errors)

    async def PutRule(self, request, context):
        self.operators.append(dict(context.invocation_metadata()).get("x-vigie-operator", ""))
        rule = Rule()
        rule.CopyFrom(request.rule)
        rule.updated_at.GetCurrentTime()
        self.rules[rule.rule_id] = rule
        return rpb.PutRuleResponse(rule=rule)

    async def ListRules(self, request, context):
        return rpb.ListRulesResponse(rules=[r for r in self.rules.values()
                                            if r.camera_id == request.camera_id])

    async def DeleteRule(self, request, context):
        self.rules.pop(request.rule_id, None)
        return rpb.DeleteRuleResponse()


async def until(predicate: Any, timeout: float = 10.0, step: float = 0.02) -> Any:
    """The predicate's first truthy result (awaited if a coroutine) within `timeout`, else
    None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(step)
    return None
