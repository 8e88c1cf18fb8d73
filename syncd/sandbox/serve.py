"""Serve the vendor sandboxes over real sockets on loopback: one uvicorn server per vendor, all
in the running asyncio loop. ``syncd sandbox serve`` and ``syncd demo`` use it; tests talk to the
sandboxes in-process through their transports instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from syncd.clock import Clock
from syncd.sandbox.harness import VendorSandbox
from syncd.sandbox.population import TOOLS, Population

LOOPBACK = "127.0.0.1"
#: where each vendor's sandbox class lives (imported on use, so one missing vendor is clear)
SANDBOX_CLASSES: Mapping[str, str] = {
    "hubspot": "syncd.sandbox.hubspot:HubSpotSandbox",
    "brevo": "syncd.sandbox.brevo:BrevoSandbox",
    "mailchimp": "syncd.sandbox.mailchimp:MailchimpSandbox",
}
#: how long to wait for a server to come up before giving up
STARTUP_TIMEOUT_S = 10.0


def sandbox_class(vendor: str) -> type[VendorSandbox]:
    module_name, _, class_name = SANDBOX_CLASSES[vendor].partition(":")
    cls: type[VendorSandbox] = getattr(importlib.import_module(module_name), class_name)
    return cls


def build_sandboxes(
    population: Population, *, vendors: Sequence[str] = TOOLS, clock: Clock | None = None
) -> dict[str, VendorSandbox]:
    """One seeded sandbox per vendor, by vendor name."""
    sandboxes: dict[str, VendorSandbox] = {}
    for vendor in vendors:
        sandbox = sandbox_class(vendor)(clock=clock)
        sandbox.seed(population)
        sandboxes[vendor] = sandbox
    return sandboxes


@dataclass(frozen=True)
class ServedSandbox:
    vendor: str
    sandbox: VendorSandbox
    #: where to point a client: loopback host and port, plus the vendor's base path (/3.0 ...)
    url: str
    api_key: str
    port: int


class _VendorHost:
    """Presents every request with the vendor's own host name: the sandboxes check it (a
    Mailchimp key only opens its own data centre's host), and a served sandbox stands for it."""

    def __init__(self, app: ASGIApp, host: str) -> None:
        self.app = app
        self.host = host.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"host"]
            scope = {**scope, "headers": [*headers, (b"host", self.host)]}
        await self.app(scope, receive, send)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals alone: several share one loop, and the owner of
    the loop decides when they all stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(port: int, host: str = LOOPBACK) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class SandboxServer:
    """``async with SandboxServer(sandboxes) as served:`` serves them until the block ends.

    ``port_base`` gives the vendors consecutive ports in the order given; ``None`` takes
    ephemeral ports (what the demo and tests want: nothing else can collide with them).
    """

    def __init__(
        self,
        sandboxes: Mapping[str, VendorSandbox],
        *,
        port_base: int | None = None,
        host: str = LOOPBACK,
    ) -> None:
        self.sandboxes = dict(sandboxes)
        self.port_base = port_base
        #: loopback unless told otherwise (a container network in the compose example)
        self.host = host
        self.served: list[ServedSandbox] = []
        self._servers: list[_Server] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> SandboxServer:
        try:
            for offset, (vendor, sandbox) in enumerate(self.sandboxes.items()):
                port = 0 if self.port_base is None else self.port_base + offset
                self._start(vendor, sandbox, _bind(port, self.host))
            await self._wait_started()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _start(self, vendor: str, sandbox: VendorSandbox, sock: socket.socket) -> None:
        port = sock.getsockname()[1]
        base = urlsplit(sandbox.base_url)
        app = _VendorHost(sandbox.app, base.netloc)
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
        server = _Server(config)
        self._servers.append(server)
        self._tasks.append(asyncio.create_task(server.serve(sockets=[sock])))
        api_key = str(getattr(sandbox, "api_key", ""))
        url = f"http://{self.host}:{port}{base.path.rstrip('/')}"
        self.served.append(ServedSandbox(vendor, sandbox, url, api_key, port))

    async def _wait_started(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_TIMEOUT_S
        while not all(s.started for s in self._servers):
            failed = [t for t in self._tasks if t.done()]
            if failed:
                failed[0].result()  # re-raises why the server stopped
                raise RuntimeError("a sandbox server stopped while starting")
            if loop.time() > deadline:
                raise TimeoutError("the sandbox servers did not start in time")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._servers.clear()
        self._tasks.clear()

    def by_vendor(self, vendor: str) -> ServedSandbox:
        return next(s for s in self.served if s.vendor == vendor)


async def serve_until_stopped(server: SandboxServer, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set (the CLI sets it on Ctrl-C or SIGTERM)."""
    async with server:
        await stop.wait()


def summaries(sandboxes: Mapping[str, VendorSandbox]) -> dict[str, dict[str, Any]]:
    return {vendor: sandbox.summary() for vendor, sandbox in sandboxes.items()}
