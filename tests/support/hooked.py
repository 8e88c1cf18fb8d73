"""A synced sandbox account with a daemon whose webhook receivers the sandboxes call in-process
(no socket): what the webhook and GDPR tests, and bench/webhooks.py, drive."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, select
from sqlmodel import SQLModel
from starlette.applications import Starlette

from syncd.clock import VirtualClock
from syncd.config import check_config_text
from syncd.daemon.api import build_app
from syncd.daemon.daemon import Daemon, DaemonOptions
from syncd.sandbox.population import Population
from syncd.sandbox.webhooks import WebhookEmitter, attach
from syncd.sandbox.world import ACCOUNT_ID, SandboxWorld
from syncd.store.engine import init_store, make_engine
from syncd.webhooks.service import WebhookService, for_daemon
from tests.support.e2e import CONNECTOR_OPTIONS, Account

HOST = "http://syncd.test"
SECRETS = {
    "mailchimp": "mc-path-secret-0123456789abcdef",
    "brevo": "brevo-password-0123456789",
    "hubspot": "hubspot-client-secret-0123456789",
}
SECRET_ENV = {vendor: f"SYNCD_TEST_{vendor.upper()}_HOOK" for vendor in SECRETS}
WEBHOOKS_TOML = "\n".join(
    [
        "retention_days = 365",
        "[accounts.webhooks.mailchimp]",
        f'secret_env = "{SECRET_ENV["mailchimp"]}"',
        "max_age_s = 600",
        "[accounts.webhooks.brevo]",
        f'secret_env = "{SECRET_ENV["brevo"]}"',
        'username = "syncd"',
        "max_age_s = 600",
        "[accounts.webhooks.hubspot]",
        f'secret_env = "{SECRET_ENV["hubspot"]}"',
    ]
)
URLS = {
    "mailchimp": f"{HOST}/webhooks/mailchimp/{ACCOUNT_ID}/{SECRETS['mailchimp']}",
    "brevo": f"{HOST}/webhooks/brevo/{ACCOUNT_ID}",
    "hubspot": f"{HOST}/webhooks/hubspot/{ACCOUNT_ID}",
}


def hooked_account(population: Population, tmp: Path) -> tuple[Account, dict[str, str]]:
    clock = VirtualClock(start=population.now)
    world = SandboxWorld.build(population, clock=clock)
    url = f"sqlite:///{tmp / 'store.db'}"
    text = world.config_toml(url, connector_options=CONNECTOR_OPTIONS, extra_account=WEBHOOKS_TOML)
    env = {**world.env(), **{SECRET_ENV[v]: s for v, s in SECRETS.items()}}
    result = check_config_text(text, env=env)
    assert result.config is not None, result.problems
    init_store(url)
    return Account(world, clock, make_engine(url), result.config), env


@dataclass
class Hooked:
    account: Account
    daemon: Daemon
    app: Starlette
    emitters: dict[str, WebhookEmitter]

    @property
    def service(self) -> WebhookService:
        return for_daemon(self.daemon)

    @property
    def engine(self) -> Engine:
        return self.account.engine

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=HOST)

    async def settle(self) -> None:
        """Every delivery answered and every propagation pushed."""
        for emitter in self.emitters.values():
            await emitter.drain()
        await self.service.idle()

    async def close(self) -> None:
        await self.service.aclose()
        await self.daemon.shutdown()


async def start_hooked(account: Account, env: dict[str, str]) -> Hooked:
    """A daemon (no socket, no schedule firing in a test's time) with the sandboxes wired to
    its webhook routes."""
    options = DaemonOptions(
        daemon_id="hooked",
        serve_api=False,
        env=env,
        http_options=lambda _account: account.http_options(),
        clock=account.clock,
    )
    daemon = Daemon(None, config=account.config, options=options)
    await daemon.start()
    app = build_app(daemon)
    transport = httpx.ASGITransport(app=app)
    emitters = {
        vendor: attach(sandbox, URLS[vendor], SECRETS[vendor], transport=transport)
        for vendor, sandbox in account.world.sandboxes.items()
    }
    return Hooked(account, daemon, app, emitters)


def dump_store(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (small stores only): to show that nothing changed."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            out[table.name] = sorted(
                (tuple(r) for r in conn.execute(select(table))), key=lambda r: repr(r)
            )
    return out
