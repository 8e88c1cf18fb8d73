"""A whole sandbox world: the three vendors seeded from one population, and a syncd config
that points an account at them. The demo serves it on loopback; the end-to-end tests run it
in-process through the sandboxes' transports on one virtual clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from syncd.clock import Clock
from syncd.sandbox.harness import VendorSandbox
from syncd.sandbox.population import TOOLS, Population
from syncd.sandbox.serve import sandbox_class

ACCOUNT_ID = "demo"
KEY_ENV = {tool: f"SYNCD_DEMO_{tool.upper()}_KEY" for tool in TOOLS}

#: the demo account's segments: name, rule, holdout share, where each one goes
SEGMENTS: list[dict[str, Any]] = [
    {
        "name": "hyper-engaged",
        "rule": "opens_30d >= 2 and clicks_total >= 2",
        "push": {
            "hubspot": {"lists": ["syncd hyper-engaged"]},
            "brevo": {"lists": ["syncd hyper-engaged"]},
            "mailchimp": {"tags": ["syncd-hyper-engaged"]},
        },
    },
    {
        "name": "customers-at-risk",
        "rule": 'purchases_total >= 1 and lifecycle in ["at_risk", "inactive"]',
        "push": {
            "hubspot": {"lists": ["syncd customers at risk"]},
            "mailchimp": {"tags": ["syncd-customers-at-risk"]},
        },
    },
    {
        "name": "champions",
        "rule": 'rfm_group = "champions"',
        "holdout": 0.1,
        "push": {
            "brevo": {"lists": ["syncd champions"]},
            "mailchimp": {"tags": ["syncd-champions"]},
        },
    },
    {
        "name": "dormant",
        "rule": 'lifecycle = "inactive" and not segment("customers-at-risk")',
        "push": {"mailchimp": {"tags": ["syncd-dormant"]}},
    },
]

PROPERTIES: dict[str, dict[str, str]] = {
    "hubspot": {"syncd_score": "engagement_score", "syncd_segments": "segments"},
    "brevo": {"SYNCD_SCORE": "engagement_score"},
    "mailchimp": {"SCORE": "engagement_score"},
}


@dataclass
class SandboxWorld:
    population: Population
    sandboxes: dict[str, VendorSandbox]

    #: the factor the vendors' request rates were raised by (1 = as documented)
    speed: float = 1.0

    @classmethod
    def build(
        cls, population: Population, clock: Clock | None = None, *, speed: float = 1.0
    ) -> SandboxWorld:
        sandboxes: dict[str, VendorSandbox] = {}
        for tool in TOOLS:
            limits = scaled_limits(tool, speed)
            options: dict[str, Any] = {"clock": clock} | ({"limits": limits} if limits else {})
            sandbox = sandbox_class(tool)(**options)
            sandbox.seed(population)
            sandboxes[tool] = sandbox
        return cls(population, sandboxes, speed)

    def client_rate_limits(self) -> dict[str, dict[str, tuple[int, float]]]:
        """Rate-limit overrides that match raised sandbox rates (none at speed 1)."""
        if self.speed == 1:
            return {}
        f = self.speed
        return {
            "hubspot": {
                "burst": (int(100 * f), 10.0),
                "search": (int(4 * f), 1.0),
                "daily": (int(250_000 * f), 86_400.0),
            },
            "brevo": {
                "contacts_second": (int(10 * f), 1.0),
                "contacts_hour": (int(36_000 * f), 3600.0),
                "other_hour": (int(100 * f), 3600.0),
            },
        }

    def env(self) -> dict[str, str]:
        return {KEY_ENV[tool]: _api_key(sandbox) for tool, sandbox in self.sandboxes.items()}

    def http_options(self, clock: Clock | None = None) -> dict[str, dict[str, Any]]:
        """In-process: each connector talks to its sandbox through the sandbox's transport."""
        return {
            tool: {"transport": sandbox.transport(), **({"clock": clock} if clock else {})}
            for tool, sandbox in self.sandboxes.items()
        }

    def config_toml(
        self,
        store_url: str,
        *,
        base_urls: Mapping[str, str] | None = None,
        rate_limits: Mapping[str, Mapping[str, tuple[int, float]]] | None = None,
        connector_options: Mapping[str, Mapping[str, int | str | bool]] | None = None,
        extra_account: str = "",
    ) -> str:
        """A config for one account over every sandbox (``base_urls`` when served)."""
        lines = [
            "[store]",
            f"url = {_q(store_url)}",
            "",
            "[[accounts]]",
            f"id = {_q(ACCOUNT_ID)}",
            'name = "syncd demo"',
        ]
        if extra_account:
            lines.append(extra_account)
        for tool, sandbox in self.sandboxes.items():
            lines += ["", f"[accounts.connectors.{tool}]", f"api_key_env = {_q(KEY_ENV[tool])}"]
            if base_urls and tool in base_urls:
                lines.append(f"base_url = {_q(base_urls[tool])}")
            if tool == "hubspot":
                lines.append(f"purchase_event_type = {_q(sandbox.purchase_event_type)}")  # type: ignore[attr-defined]
            for key, value in (connector_options or {}).get(tool, {}).items():
                lines.append(f"{key} = {_toml_value(value)}")
            for window, (requests, seconds) in (rate_limits or {}).get(tool, {}).items():
                lines.append(
                    f"rate_limits.{window} = {{ requests = {requests}, per_seconds = {seconds} }}"
                )
        for tool, mapping in PROPERTIES.items():
            if tool in self.sandboxes:
                lines += ["", f"[accounts.properties.{tool}]"]
                lines += [f"{prop} = {_q(source)}" for prop, source in mapping.items()]
        for segment in SEGMENTS:
            lines += [
                "",
                "[[accounts.segments]]",
                f"name = {_q(segment['name'])}",
                f"rule = {_q(segment['rule'])}",
            ]
            if segment.get("holdout"):
                lines.append(f"holdout = {segment['holdout']}")
            for tool, targets in segment["push"].items():
                if tool not in self.sandboxes:
                    continue
                parts = ", ".join(
                    f"{kind} = [{', '.join(_q(n) for n in names)}]"
                    for kind, names in targets.items()
                )
                lines.append(f"push.{tool} = {{ {parts} }}")
        return "\n".join(lines) + "\n"


def scaled_limits(tool: str, speed: float) -> Any:
    """The vendor's documented request rates times ``speed`` (the demo raises them so that a
    5,000-contact sync over loopback takes a minute, not Brevo's real hour). Mailchimp is
    limited by connections, not rates, and keeps its limit."""
    if speed == 1:
        return None
    if tool == "hubspot":
        from syncd.sandbox.hubspot import HubSpotLimits

        d = HubSpotLimits()
        return replace(
            d,
            burst_requests=int(d.burst_requests * speed),
            search_requests=int(d.search_requests * speed),
            daily_requests=int(d.daily_requests * speed),
        )
    if tool == "brevo":
        from syncd.sandbox.brevo import BrevoLimits

        b = BrevoLimits()
        return replace(
            b,
            contacts_per_second=int(b.contacts_per_second * speed),
            contacts_per_hour=int(b.contacts_per_hour * speed),
            other_per_hour=int(b.other_per_hour * speed),
        )
    return None


def _api_key(sandbox: VendorSandbox) -> str:
    key: str = sandbox.api_key  # type: ignore[attr-defined]
    return key


def _toml_value(value: int | str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int) else _q(value)


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
