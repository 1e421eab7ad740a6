"""Console sessions: a hardened cookie (__Host-, Secure, HttpOnly, SameSite=Strict), and CSRF
checked by the process's middleware on every state-changing route a session may reach
(enumerated): no token, a wrong token or another site's Origin are refused. A session is a
credential for the whole process (an admin's session reads /status), with the roles of its
account; a bearer token, which a browser never sends by itself, needs no CSRF token."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

import aiohttp
import pytest
from vigie_alerts.adapters import auth
from vigie_core.auth.web import REFUSED_HEADER, SAFE_METHODS, routes_of

pytestmark = pytest.mark.asyncio(loop_scope="module")
COOKIE = "__Host-vigie-session"
PASSWORD = "a-long-enough-password"
EVIL = "https://evil.example"


async def sign_in(http: aiohttp.ClientSession, system, role: str) -> tuple[str, str]:
    alerts = next(s for s in system.running.services if s.name == "alerts")
    login = f"{role}-user"
    if await alerts.db(alerts.store.accounts.get_user, login) is None:
        await alerts.db(auth.create_user, alerts.store.accounts, login, role, PASSWORD, "test", 12)
    async with http.post(f"{system.http}/alerts/api/session",
                         json={"login": login, "password": PASSWORD},
                         headers={"Origin": system.http}) as r:
        assert r.status == 200
        jar = SimpleCookie()
        jar.load(r.headers["Set-Cookie"])
        return jar[COOKIE].value, (await r.json())["csrf"]


async def test_the_session_cookie_is_hardened(system):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{system.http}/alerts/api/session",
                             json={"login": "nobody", "password": "x" * 20},
                             headers={"Origin": system.http}) as r:
            assert r.status == 401 and "Set-Cookie" not in r.headers
        await sign_in(http, system, "operator")
        async with http.post(f"{system.http}/alerts/api/session",
                             json={"login": "operator-user", "password": PASSWORD},
                             headers={"Origin": system.http}) as r:
            header = r.headers["Set-Cookie"]
    assert header.startswith(f"{COOKIE}=")  # __Host-: Secure, Path=/, no Domain, by the browser
    attributes = {a.strip().split("=")[0].lower(): a for a in header.split(";")[1:]}
    assert {"secure", "httponly", "samesite", "path"} <= set(attributes)
    assert attributes["samesite"].split("=")[1] == "Strict"
    assert attributes["path"].split("=")[1] == "/" and "domain" not in attributes


async def test_every_state_change_of_a_session_needs_the_csrf_token_and_our_origin(system):
    problems, checked = [], []
    async with aiohttp.ClientSession() as http:
        for route in routes_of(system.running.app):
            access = route.access
            if route.method in SAFE_METHODS or access is None or access.public \
                    or not access.sessions:
                continue
            role = next((r for r in ("operator", "supervisor", "admin", "auditor")
                         if r in access.roles or "*" in access.roles), None)
            if role is None:
                continue  # no console account holds these roles (e.g. metrics)
            cookie, csrf = await sign_in(http, system, role)  # fresh: sign-out is a route
            url = system.http + re.sub(r"\{[^}]+\}", "x", route.path)
            base = {"Cookie": f"{COOKIE}={cookie}", "Content-Type": "application/json"}
            for label, headers in (("no token", {"Origin": system.http}),
                                   ("wrong token", {"Origin": system.http,
                                                    "X-CSRF-Token": "forged"}),
                                   ("other site", {"Origin": EVIL, "X-CSRF-Token": csrf})):
                async with http.request(route.method, url, data=b"{}",
                                        headers={**base, **headers}) as r:
                    if not (r.status == 403 and r.headers.get(REFUSED_HEADER) == "auth"):
                        problems.append(f"{route.method} {route.path} {label}: {r.status}")
            async with http.request(route.method, url, data=b"{}", headers={
                    **base, "Origin": system.http, "X-CSRF-Token": csrf}) as r:
                if r.headers.get(REFUSED_HEADER) == "auth":
                    problems.append(f"{route.method} {route.path} as {role}: refused")
            checked.append(f"{route.method} {route.path}")
    assert not problems, "\n".join(problems)
    assert {"POST /alerts/api/alerts/{alert_id}/decisions", "POST /alerts/api/rules",
            "POST /alerts/api/users", "POST /alerts/api/dispatch", "DELETE /alerts/api/session",
            "POST /alerts/api/alerts/{alert_id}/evidence-lock"} <= set(checked), checked


async def test_a_session_is_a_credential_for_the_whole_process_with_its_roles(system):
    async with aiohttp.ClientSession() as http:
        admin, _ = await sign_in(http, system, "admin")
        operator, _ = await sign_in(http, system, "operator")
        async with http.get(f"{system.http}/status",
                            headers={"Cookie": f"{COOKIE}={admin}"}) as r:
            assert r.status == 200 and "auth" in await r.json()
        async with http.get(f"{system.http}/status",
                            headers={"Cookie": f"{COOKIE}={operator}"}) as r:
            assert r.status == 403
        async with http.get(f"{system.http}/status",
                            headers={"Cookie": f"{COOKIE}=forged-session-value"}) as r:
            assert r.status == 401


async def test_bearer_tokens_need_no_csrf_token(system):
    token = system.token("supervisor", name="automation")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{system.http}/alerts/api/dispatch", json={"suspended": False},
                             headers={"Authorization": f"Bearer {token}",
                                      "Origin": EVIL}) as r:
            assert r.status == 200, await r.text()
        # ...but decisions are taken by persons, never by a machine's token
        async with http.post(f"{system.http}/alerts/api/alerts/x/decisions",
                             json={"decision": "confirmed"},
                             headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 403 and "persons" in (await r.json())["error"]
