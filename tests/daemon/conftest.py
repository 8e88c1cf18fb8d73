"""Daemon fixtures: a small sandbox world on a virtual clock, a config file for it, and a
factory for daemons running in-process on that world (admin API on an ephemeral port)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text

from syncd.clock import VirtualClock
from syncd.daemon.daemon import Daemon, DaemonOptions
from syncd.sandbox.generate import generate
from syncd.sandbox.population import Population
from syncd.sandbox.world import SandboxWorld
from syncd.store.engine import make_engine

PG_ENV = "SYNCD_TEST_DATABASE_URL"
TOKEN_ENV = "SYNCD_TEST_ADMIN_TOKEN"
TOKEN = "admin-token-0123456789"
PEOPLE = 30


@pytest.fixture(scope="session")
def population() -> Population:
    return generate(PEOPLE, seed=11)


@dataclass
class Rig:
    tmp: Path
    store_url: str
    worlds: dict[str, SandboxWorld]
    clocks: dict[str, VirtualClock]
    env: dict[str, str]
    daemons: list[Daemon] = field(default_factory=list)

    def config_text(self, *, token: bool = True, extra: str = "") -> str:
        """One account per world; each account's section comes from its world's config."""
        head = ["[store]", f'url = "{self.store_url}"', ""]
        if token:
            head += ["[admin]", f'token_env = "{TOKEN_ENV}"', ""]
        body: list[str] = []
        for account_id, world in self.worlds.items():
            toml = world.config_toml(self.store_url)
            section = toml[toml.index("[[accounts]]") :]
            body.append(section.replace('id = "demo"', f'id = "{account_id}"', 1))
        return "\n".join([*head, extra, *body])

    def write_config(self, **kwargs: Any) -> Path:
        path = self.tmp / "syncd.toml"
        path.write_text(self.config_text(**kwargs), encoding="utf-8")
        return path

    def daemon(self, **overrides: Any) -> Daemon:
        path = overrides.pop("config_path", None) or self.write_config()
        options = DaemonOptions(
            daemon_id=f"test-{len(self.daemons)}",
            poll_interval_s=0.05,
            shutdown_grace_s=0.0,
            api_port=0,
            env=self.env,
            http_options=lambda account: self.worlds[account].http_options(self.clocks[account]),
            clock=next(iter(self.clocks.values())),
        )
        for key, value in overrides.items():
            setattr(options, key, value)
        daemon = Daemon(path, options=options)
        self.daemons.append(daemon)
        return daemon


def _rig(tmp: Path, store_url: str, population: Population, accounts: list[str]) -> Rig:
    clocks = {a: VirtualClock() for a in accounts}
    worlds = {a: SandboxWorld.build(population, clock=clocks[a]) for a in accounts}
    env = {**next(iter(worlds.values())).env(), TOKEN_ENV: TOKEN}
    return Rig(tmp, store_url, worlds, clocks, env)


@pytest.fixture
async def rig(tmp_path: Path, population: Population) -> AsyncIterator[Rig]:
    made = _rig(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", population, ["demo"])
    yield made
    for daemon in made.daemons:
        await daemon.shutdown()


@pytest.fixture
def pg_url() -> Iterator[str]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    schema = f"syncd_daemon_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
async def pg_rig(tmp_path: Path, population: Population, pg_url: str) -> AsyncIterator[Rig]:
    made = _rig(tmp_path, pg_url, population, ["acme", "globex", "initech"])
    yield made
    for daemon in made.daemons:
        await daemon.shutdown()


async def wait_for(
    predicate: Callable[[], bool | Awaitable[bool]], within: float = 20.0, step: float = 0.02
) -> None:
    """Poll until ``predicate`` holds (the daemon works on its own loop tasks)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        got = predicate()
        if not isinstance(got, bool):
            got = await got
        if got:
            return
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(step)
