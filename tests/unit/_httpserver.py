"""A scriptable HTTP server on 127.0.0.1 for tests, plus a guard against other traffic.

    async with LocalServer() as server:
        server.route("/a", lambda request: web.Response(text="<html>hi</html>", content_type="text/html"))
        url = server.url("/a")
        ...
        assert server.hits["/a"] == 1

``server.max_concurrent`` is the largest number of requests the server was
handling at once (per-host limit tests).  Every handler may be a plain or an
async function of the aiohttp ``web.Request``; a path not routed answers 404,
``/robots.txt`` included.

:func:`loopback_only_connections` wraps aiohttp's connection setup so that a
test fails instead of sending a single packet anywhere but 127.0.0.1 / ::1,
even when the code under test is broken.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp.connector
from aiohttp import web

__all__ = ["LocalServer", "loopback_only_connections", "trickle", "Handler"]

Handler = Callable[[web.Request], web.StreamResponse | Awaitable[web.StreamResponse]]


class LocalServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.routes: dict[str, Handler] = {}
        self.hits: collections.Counter[str] = collections.Counter()
        self.requests: list[web.Request] = []
        self.in_flight = 0
        self.max_concurrent = 0
        self._runner: web.AppRunner | None = None

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def html(self, path: str, body: str | bytes, *, status: int = 200, **headers: str) -> None:
        """Route ``path`` to a fixed HTML response."""
        data = body.encode() if isinstance(body, str) else body
        hdrs = {"Content-Type": "text/html; charset=utf-8", **headers}
        self.route(path, lambda _request: web.Response(body=data, status=status, headers=hdrs))

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] += 1
        self.requests.append(request)
        self.in_flight += 1
        self.max_concurrent = max(self.max_concurrent, self.in_flight)
        try:
            handler = self.routes.get(request.path)
            if handler is None:
                return web.Response(status=404, text="not found")
            result = handler(request)
            if inspect.isawaitable(result):
                result = await result
            return result
        finally:
            self.in_flight -= 1

    async def start(self) -> LocalServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LocalServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def _is_loopback(address: Any) -> bool:
    try:
        return ipaddress.ip_address(str(address).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def loopback_only_connections() -> Iterator[list[str]]:
    """Make aiohttp refuse (with AssertionError) to connect anywhere but loopback.

    Yields the list of addresses connection attempts were made to.
    """
    original = aiohttp.connector.aiohappyeyeballs.start_connection
    attempted: list[str] = []

    async def guarded(addr_infos: Any, *args: Any, **kwargs: Any) -> socket.socket:
        for info in addr_infos:
            address = info[4][0]
            attempted.append(address)
            if not _is_loopback(address):
                raise AssertionError(f"test tried to connect to non-loopback address {address}")
        return await original(addr_infos, *args, **kwargs)

    aiohttp.connector.aiohappyeyeballs.start_connection = guarded  # type: ignore[assignment]
    try:
        yield attempted
    finally:
        aiohttp.connector.aiohappyeyeballs.start_connection = original  # type: ignore[assignment]


async def trickle(request: web.Request, *, chunk: bytes = b"<p>x</p>", interval_s: float = 0.05,
                  forever: bool = True) -> web.StreamResponse:
    """A handler body that sends ``chunk`` every ``interval_s`` seconds, forever."""
    response = web.StreamResponse(headers={"Content-Type": "text/html"})
    await response.prepare(request)
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        while forever:
            await response.write(chunk)
            await asyncio.sleep(interval_s)
    return response
