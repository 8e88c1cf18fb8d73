"""The loopback sandbox server and the demo: real sockets, real HTTP, ephemeral ports."""

from __future__ import annotations

import httpx
import pytest

from syncd.sandbox.generate import generate
from syncd.sandbox.serve import SandboxServer, build_sandboxes


@pytest.fixture(scope="module")
def population():  # type: ignore[no-untyped-def]
    return generate(40, seed=3)


@pytest.mark.anyio
async def test_served_sandboxes_answer_over_http_and_check_keys(population) -> None:  # type: ignore[no-untyped-def]
    sandboxes = build_sandboxes(population)
    async with SandboxServer(sandboxes) as server:
        assert {s.vendor for s in server.served} == {"hubspot", "brevo", "mailchimp"}
        assert len({s.port for s in server.served}) == 3
        hubspot = server.by_vendor("hubspot")
        assert hubspot.url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(timeout=10) as client:
            ok = await client.get(
                f"{hubspot.url}/crm/v3/objects/contacts",
                headers={"authorization": f"Bearer {hubspot.api_key}"},
            )
            assert ok.status_code == 200
            assert len(ok.json()["results"]) > 0
            wrong = await client.get(
                f"{hubspot.url}/crm/v3/objects/contacts",
                headers={"authorization": "Bearer nope"},
            )
            assert wrong.status_code == 401
            mailchimp = server.by_vendor("mailchimp")
            lists = await client.get(f"{mailchimp.url}/lists", auth=("any", mailchimp.api_key))
            assert lists.status_code == 200 and lists.json()["lists"]
    async with httpx.AsyncClient(timeout=2) as client:  # stopped: nothing listens any more
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{hubspot.url}/crm/v3/objects/contacts")


def test_the_demo_syncs_twice_and_the_second_run_pushes_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "syncd", "demo", "-n", "60", "--seed", "3", "--keep", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "what each vendor holds before the first sync" in out
    assert "first run: full sync" in out and "consent blocked" in out
    assert "write calls: 0 (nothing to push, as it should be)" in out
    assert (tmp_path / "syncd.db").exists() and (tmp_path / "syncd.toml").exists()


def test_sandbox_seed_command_prints_each_vendor() -> None:
    import json

    from typer.testing import CliRunner

    from syncd.cli.main import app

    result = CliRunner().invoke(app, ["sandbox", "seed", "-n", "30", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert set(body) == {"hubspot", "brevo", "mailchimp"}
    assert all(summary["contacts"] > 0 for summary in body.values())
