"""The console's page, script and style, served as they are (no third-party code), public:
they show nothing before sign-in."""

from __future__ import annotations

from importlib import resources

from aiohttp import web
from vigie_alerts.adapters.console.web import COMMON_HEADERS, PAGE_HEADERS
from vigie_core.auth.model import public
from vigie_core.auth.web import declare

WEB_FILES = {"console": ("console.html", "text/html"),
             "console.js": ("console.js", "text/javascript"),
             "console.css": ("console.css", "text/css")}


async def index(_: web.Request) -> web.Response:
    raise web.HTTPFound("/alerts/console", headers=COMMON_HEADERS)


def routes() -> list[web.RouteDef]:
    access = public("the console's page, script and style: they show nothing before sign-in",
                    max_body_bytes=1024)
    out = [declare(web.get("/", index), access)]
    for path, (filename, content_type) in WEB_FILES.items():
        body = (resources.files("vigie_alerts") / "web" / filename).read_bytes()

        async def serve(_: web.Request, body: bytes = body, ctype: str = content_type
                        ) -> web.Response:
            return web.Response(body=body, content_type=ctype, charset="utf-8",
                                headers=PAGE_HEADERS)

        out.append(declare(web.get(f"/{path}", serve), access))
    return out
