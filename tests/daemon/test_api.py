"""The admin API of a daemon running in-process on the sandbox world: auth, each endpoint's
shape, the OpenAPI document, metrics against the run report, the status page, reloads."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families

from syncd.daemon.api import build_app
from syncd.daemon.daemon import Daemon
from syncd.daemon.openapi import openapi_document
from tests.daemon.conftest import TOKEN, Rig, wait_for

pytestmark = pytest.mark.anyio
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _resync_and_wait(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    answer = await client.post("/accounts/demo/resync", json=body, headers=AUTH)
    assert answer.status_code == 202, answer.text
    request_id = answer.json()["request_id"]

    async def finished() -> bool:
        got = (await client.get(f"/resync/{request_id}", headers=AUTH)).json()
        return got["status"] in ("done", "failed")

    await wait_for(finished)
    request = (await client.get(f"/resync/{request_id}", headers=AUTH)).json()
    assert request["status"] == "done", request
    return request


@pytest.fixture
async def started(rig: Rig) -> Daemon:
    daemon = rig.daemon()
    await daemon.start()
    return daemon


@pytest.fixture
async def client(started: Daemon) -> Any:
    assert started.api_url is not None
    async with httpx.AsyncClient(base_url=started.api_url, timeout=30) as http:
        yield http


async def test_token_guards_everything_but_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).json() == {"ready": True, "problems": []}
    for path in ("/accounts", "/metrics", "/", "/accounts/demo/runs", "/runs/1"):
        missing = await client.get(path)
        assert missing.status_code == 401, path
        assert "WWW-Authenticate" in missing.headers
        wrong = await client.get(path, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401, path
    assert (await client.post("/accounts/demo/resync", json={})).status_code == 401
    assert (await client.post("/admin/reload")).status_code == 401
    assert (await client.get("/accounts", headers=AUTH)).status_code == 200
    # the status page takes the token as Basic auth, so a browser can ask for it
    page = await client.get("/", auth=("admin", TOKEN))
    assert page.status_code == 200


async def test_open_without_token_env(rig: Rig) -> None:
    daemon = rig.daemon(config_path=rig.write_config(token=False))
    await daemon.start()
    async with httpx.AsyncClient(base_url=str(daemon.api_url)) as http:
        assert (await http.get("/accounts")).status_code == 200


async def test_resync_runs_and_endpoint_shapes(client: httpx.AsyncClient) -> None:
    request = await _resync_and_wait(client, full=True)
    run_id = request["run_id"]
    assert request["claimed_by"] == "test-0" and request["full"] is True

    accounts = (await client.get("/accounts", headers=AUTH)).json()["accounts"]
    assert [a["id"] for a in accounts] == ["demo"]
    assert accounts[0]["last_run"]["id"] >= run_id  # the engine records its recompute too
    assert accounts[0]["last_success_at"] is not None and accounts[0]["queued"] == 0

    runs = (await client.get("/accounts/demo/runs", headers=AUTH)).json()
    assert runs["account"] == "demo"
    first = next(r for r in runs["runs"] if r["id"] == run_id)
    assert first["kind"] == "full" and first["status"] == "ok"
    assert set(first["timings"]) >= {"pull", "recompute", "plan", "push"}
    assert first["counts"]["acknowledged"] > 0

    detail = (await client.get(f"/runs/{run_id}", headers=AUTH)).json()
    assert detail["report"]["pushed"] and detail["report"]["plan"]["changes"] > 0

    segments = (await client.get("/accounts/demo/segments", headers=AUTH)).json()
    names = {s["segment"] for s in segments["segments"]}
    assert {"hyper-engaged", "champions", "dormant"} <= names
    assert all(
        isinstance(s["size"], int) and isinstance(s["drift"], bool) for s in segments["segments"]
    )

    assert (await client.get("/accounts/nope/runs", headers=AUTH)).status_code == 404
    assert (await client.get("/runs/999999", headers=AUTH)).status_code == 404
    bad = await client.post("/accounts/demo/resync", json={"full": "yes"}, headers=AUTH)
    assert bad.status_code == 400
    unknown = await client.post("/accounts/demo/resync", json={"fast": True}, headers=AUTH)
    assert unknown.status_code == 400


async def test_dry_run_report_carries_the_plan(client: httpx.AsyncClient) -> None:
    request = await _resync_and_wait(client, full=True, dry_run=True)
    detail = (await client.get(f"/runs/{request['run_id']}", headers=AUTH)).json()
    assert detail["dry_run"] is True
    plan = detail["report"]["plan"]
    assert plan["changes"] > 0 and plan["per_target"]
    assert detail["report"]["pushed"] == {}


async def test_metrics_match_the_run_report(client: httpx.AsyncClient) -> None:
    request = await _resync_and_wait(client, full=True)
    report = (await client.get(f"/runs/{request['run_id']}", headers=AUTH)).json()["report"]
    text = (await client.get("/metrics", headers=AUTH)).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("syncd_runs_total", account="demo", kind="full", status="ok") == 1
    for vendor, api in report["api"].items():
        for operation, count in api["by_operation"].items():
            labels = {"account": "demo", "vendor": vendor, "operation": operation}
            assert value("syncd_api_calls_total", **labels) == count
            for status, answered in api["by_status"].get(operation, {}).items():
                labels_status = {**labels, "status": status}
                assert value("syncd_api_responses_total", **labels_status) == answered
        assert (
            value("syncd_api_write_calls_total", account="demo", vendor=vendor)
            == api["write_calls"]
        )
        assert (
            value("syncd_api_rate_limited_total", account="demo", vendor=vendor)
            == api["rate_limited"]
        )
        pushed = report["pushed"][vendor]["acknowledged"]
        assert (
            value("syncd_records_total", account="demo", vendor=vendor, outcome="pushed") == pushed
        )
    assert value("syncd_consent_blocked_total", account="demo") == report["blocked"]["total"]
    assert value("syncd_run_phase_duration_seconds_count", account="demo", phase="push") == 1
    names = {name for name, _ in samples}
    assert {
        "syncd_segment_size",
        "syncd_segment_drift",
        "syncd_last_success_timestamp_seconds",
    } <= names
    size = value("syncd_segment_size", account="demo", segment="dormant")
    assert size >= 0


async def test_status_page_renders(client: httpx.AsyncClient) -> None:
    await _resync_and_wait(client, full=True)
    page = await client.get("/", headers=AUTH)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "demo" in page.text and "<svg" in page.text and "hyper-engaged" in page.text


async def test_openapi_document_is_valid_and_complete(started: Daemon) -> None:
    document = openapi_document()
    validate(document)
    app = build_app(started)
    routes = {getattr(r, "path", "").replace(":int", "") for r in app.routes}
    assert routes == set(document["paths"])
    async with httpx.AsyncClient(base_url=str(started.api_url)) as http:
        assert (await http.get("/openapi.json")).json() == document


async def test_reload_refuses_a_broken_config(rig: Rig, client: httpx.AsyncClient) -> None:
    path = rig.tmp / "syncd.toml"
    good = path.read_text()
    path.write_text(good.replace("[[accounts]]", "[[accounts]]\nbogus_key = 1", 1))
    refused = await client.post("/admin/reload", headers=AUTH)
    assert refused.status_code == 400
    assert any("bogus_key" in p["message"] for p in refused.json()["problems"])
    # the old config keeps running
    assert (await client.get("/accounts", headers=AUTH)).json()["accounts"][0]["id"] == "demo"
    path.write_text(good.replace('name = "syncd demo"', 'name = "renamed"', 1))
    accepted = await client.post("/admin/reload", headers=AUTH)
    assert accepted.status_code == 200
    assert (await client.get("/accounts", headers=AUTH)).json()["accounts"][0]["name"] == "renamed"
