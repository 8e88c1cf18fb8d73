"""``syncd run`` as a real process against sandboxes served on loopback: it serves the admin
API, runs a queued resync, logs JSON lines, and exits 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from syncd.sandbox.population import Population
from syncd.sandbox.serve import SandboxServer
from syncd.sandbox.world import SandboxWorld
from tests.daemon.conftest import TOKEN, TOKEN_ENV, wait_for

pytestmark = pytest.mark.anyio


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_syncd_run_serves_runs_and_stops_on_sigterm(
    tmp_path: Path, population: Population
) -> None:
    world = SandboxWorld.build(population)
    port = _free_port()
    async with SandboxServer(world.sandboxes) as served:
        urls = {s.vendor: s.url for s in served.served}
        toml = world.config_toml(f"sqlite:///{tmp_path / 'store.db'}", base_urls=urls)
        admin = f'[admin]\nport = {port}\ntoken_env = "{TOKEN_ENV}"\n\n'
        config = tmp_path / "syncd.toml"
        config.write_text(admin + toml, encoding="utf-8")
        env = {**os.environ, **world.env(), TOKEN_ENV: TOKEN}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from syncd.cli.main import app; app()",
            "run", "--config", str(config), "--log-format", "json",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            # generous timeouts: on a loaded CI machine the daemon may answer slowly mid-run
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:

                async def healthy() -> bool:
                    try:
                        return (await http.get("/healthz")).status_code == 200
                    except httpx.TransportError:
                        return False

                await wait_for(healthy, within=60, step=0.1)
                answer = await http.post("/accounts/demo/resync", json={"full": True}, headers=auth)
                request_id = answer.json()["request_id"]

                async def done() -> bool:
                    try:
                        got = (await http.get(f"/resync/{request_id}", headers=auth)).json()
                    except httpx.TimeoutException:
                        return False
                    return bool(got["status"] == "done")

                await wait_for(done, within=180, step=0.1)
            process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), timeout=20)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.stderr is not None
        err = (await process.stderr.read()).decode()
        assert code == 0, err
        entries = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        assert any(e["logger"] == "syncd.sync" and e.get("phase") == "push" for e in entries)
        assert any("stopped" in e["message"] for e in entries)
        for secret in world.env().values():
            assert secret not in err
