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


@pytest.mark.anyio
async def test_the_demo_reports_what_each_vendor_holds(population) -> None:  # type: ignore[no-untyped-def]
    from syncd.cli.demo_cmd import run_demo

    found = await run_demo(40, seed=3, sample=3)
    assert set(found) == {"hubspot", "brevo", "mailchimp"}
    sandboxes = build_sandboxes(generate(40, seed=3))
    for vendor, held in found.items():
        assert held.contacts == sandboxes[vendor].summary()["contacts"], vendor
        assert sum(held.consent.values()) >= held.contacts > 0
        assert held.sampled == 3 and held.requests > 0


def test_sandbox_seed_command_prints_each_vendor() -> None:
    import json

    from typer.testing import CliRunner

    from syncd.cli.main import app

    result = CliRunner().invoke(app, ["sandbox", "seed", "-n", "30", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert set(body) == {"hubspot", "brevo", "mailchimp"}
    assert all(summary["contacts"] > 0 for summary in body.values())
