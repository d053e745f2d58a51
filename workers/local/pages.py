"""A small HTTP server on 127.0.0.1 for the demo, tests and benchmarks.

It serves fixed routes (path -> status, content type, body), optionally with a
handler function for special behaviours, and counts requests per path.  It is
not for production: it exists so that everything newswire fetches in a demo or
a test comes from this machine.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["Route", "PageServer"]


@dataclass
class Route:
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[BaseHTTPRequestHandler], None]


class PageServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes: dict[str, Route | Handler] = {}
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?", 1)[0]
                with server._lock:
                    server.hits[path] = server.hits.get(path, 0) + 1
                route = server.routes.get(path)
                if route is None:
                    route = Route(404, "text/html", b"<html><body>not found</body></html>")
                if callable(route):
                    route(self)
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                for name, value in route.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, format: str, *args: Any) -> None:  # keep test and demo output clean
                pass

        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        if isinstance(host, bytes):  # typeshed allows it for AF_UNIX; an IPv4 server has a str
            host = host.decode()
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def add(self, path: str, route: Route | Handler) -> str:
        self.routes[path] = route
        return self.url(path)

    def add_page(self, path: str, html: bytes | str) -> str:
        body = html.encode() if isinstance(html, str) else html
        return self.add(path, Route(body=body))

    def add_directory(self, root: Path, prefix: str = "/") -> list[str]:
        """Serve every .html / .html.gz file of ``root`` under ``prefix``; returns their URLs."""
        urls = []
        for path in sorted(root.iterdir()):
            if path.name.endswith(".html.gz"):
                body, name = gzip.decompress(path.read_bytes()), path.name[:-3]
            elif path.name.endswith(".html"):
                body, name = path.read_bytes(), path.name
            else:
                continue
            urls.append(self.add_page(prefix + name, body))
        return urls

    def start(self) -> PageServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="page-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> PageServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
