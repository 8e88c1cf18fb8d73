"""``syncd demo``: seed the vendor sandboxes, serve them on loopback, and ask each one over real
HTTP (plain httpx, the vendors' own endpoints and auth) what it holds. The sync-engine issue
grows this into the full pull -> score -> segment -> push cycle.
"""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from syncd.sandbox.serve import SandboxServer, ServedSandbox

#: activity is counted over the window Brevo's campaignStats allows
ACTIVITY_WINDOW_DAYS = 90
_MAX_ATTEMPTS = 8


@dataclass
class Holding:
    """What one vendor answered: contact count, consent states, activity of a sample."""

    contacts: int = 0
    consent: Counter[str] = field(default_factory=Counter)
    activity: Counter[str] = field(default_factory=Counter)
    sampled: int = 0
    requests: int = 0


class VendorClient:
    """Plain httpx with the one courtesy every vendor asks for: wait and retry on 429."""

    def __init__(self, client: httpx.AsyncClient, served: ServedSandbox, headers: dict[str, str]):
        self.client = client
        self.base = served.url
        self.headers = headers
        self.requests = 0

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        for _ in range(_MAX_ATTEMPTS):
            self.requests += 1
            response = await self.client.request(
                method, self.base + path, headers=self.headers, **kwargs
            )
            if response.status_code != 429:
                response.raise_for_status()
                return response.json()
            await asyncio.sleep(_retry_after(response))
        raise httpx.HTTPStatusError(
            "still rate-limited", request=response.request, response=response
        )


def _retry_after(response: httpx.Response) -> float:
    for header in ("retry-after", "x-sib-ratelimit-reset"):
        value = response.headers.get(header)
        if value:
            try:
                return min(max(float(value), 0.1), 10.0)
            except ValueError:
                pass
    return 1.0


def _since() -> datetime:
    return datetime.now(UTC) - timedelta(days=ACTIVITY_WINDOW_DAYS)


async def query_hubspot(client: VendorClient, sample: int) -> Holding:
    held = Holding()
    contacts: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params = {
            "limit": 100,
            "properties": "email,hs_email_optout",
            **({"after": after} if after else {}),
        }
        page = await client.call("GET", "/crm/v3/objects/contacts", params=params)
        contacts += page["results"]
        after = page.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    held.contacts = len(contacts)
    emails = [c["properties"]["email"] for c in contacts if c["properties"].get("email")]
    for c in contacts:
        if c["properties"].get("hs_email_optout") == "true":
            held.consent["opted out of all email"] += 1
    for start in range(0, len(emails), 100):
        body = {"inputs": emails[start : start + 100]}
        answer = await client.call(
            "POST",
            "/communication-preferences/v4/statuses/batch/read",
            params={"channel": "EMAIL"},
            json=body,
        )
        for result in answer["results"]:
            for status in result.get("statuses", [])[:1]:
                held.consent[f"{status['subscriptionName']}: {status['status']}"] += 1
    since = _since().isoformat().replace("+00:00", "Z")
    for contact in contacts[:sample]:
        after = None
        while True:
            params = {"objectType": "contact", "objectId": contact["id"], "occurredAfter": since}
            page = await client.call(
                "GET",
                "/events/v3/events",
                params={**params, "limit": 100, **({"after": after} if after else {})},
            )
            held.activity.update(e["eventType"] for e in page["results"])
            after = page.get("paging", {}).get("next", {}).get("after")
            if not after:
                break
    held.sampled = min(sample, len(contacts))
    return held


async def query_brevo(client: VendorClient, sample: int) -> Holding:
    held = Holding()
    contacts: list[dict[str, Any]] = []
    while True:
        page = await client.call(
            "GET", "/contacts", params={"limit": 1000, "offset": len(contacts)}
        )
        contacts += page["contacts"]
        if not page["contacts"] or len(contacts) >= page["count"]:
            break
    held.contacts = len(contacts)
    for c in contacts:
        held.consent["blacklisted" if c.get("emailBlacklisted") else "not blacklisted"] += 1
        if c.get("listUnsubscribed"):
            held.consent["unsubscribed from a list"] += 1
    for contact in contacts[:sample]:
        stats = await client.call("GET", f"/contacts/{contact['id']}/campaignStats")
        for kind, items in stats.items():
            if kind == "clicked":
                held.activity[kind] += sum(len(i.get("links", [])) for i in items)
            elif isinstance(items, list):
                held.activity[kind] += len(items)
    held.sampled = min(sample, len(contacts))
    return held


async def query_mailchimp(client: VendorClient, sample: int) -> Holding:
    held = Holding()
    lists = await client.call("GET", "/lists", params={"count": 10})
    list_id = lists["lists"][0]["id"]
    members: list[dict[str, Any]] = []
    while True:
        page = await client.call(
            "GET", f"/lists/{list_id}/members", params={"count": 1000, "offset": len(members)}
        )
        members += page["members"]
        if not page["members"] or len(members) >= page["total_items"]:
            break
    held.contacts = len(members)
    held.consent.update(m["status"] for m in members)
    since = _since()
    for member in members[:sample]:
        feed = await client.call(
            "GET", f"/lists/{list_id}/members/{member['id']}/activity-feed", params={"count": 1000}
        )
        for item in feed["activity"]:
            at = datetime.fromisoformat(item["created_at_timestamp"].replace("Z", "+00:00"))
            if at >= since:
                held.activity[item["activity_type"]] += 1
    held.sampled = min(sample, len(members))
    return held


def _auth_headers(served: ServedSandbox) -> dict[str, str]:
    if served.vendor == "brevo":
        return {"api-key": served.api_key, "accept": "application/json"}
    if served.vendor == "mailchimp":
        token = base64.b64encode(f"syncd:{served.api_key}".encode()).decode()
        return {"authorization": f"Basic {token}"}
    return {"authorization": f"Bearer {served.api_key}"}


QUERIES: dict[str, Callable[[VendorClient, int], Awaitable[Holding]]] = {
    "hubspot": query_hubspot,
    "brevo": query_brevo,
    "mailchimp": query_mailchimp,
}


async def run_demo(contacts: int, seed: int, sample: int) -> dict[str, Holding]:
    from syncd.sandbox.generate import generate
    from syncd.sandbox.serve import build_sandboxes

    sandboxes = build_sandboxes(generate(contacts, seed=seed))
    found: dict[str, Holding] = {}
    async with SandboxServer(sandboxes) as server, httpx.AsyncClient(timeout=30) as http:
        for served in server.served:
            client = VendorClient(http, served, _auth_headers(served))
            held = await QUERIES[served.vendor](client, sample)
            held.requests = client.requests
            found[served.vendor] = held
    return found


def demo(
    contacts: Annotated[int, typer.Option("--contacts", "-n", min=1)] = 300,
    seed: Annotated[int, typer.Option("--seed")] = 7,
    sample: Annotated[
        int, typer.Option(help="Contacts per vendor whose activity is fetched one by one.")
    ] = 25,
) -> None:
    """Seed the vendor sandboxes, serve them on loopback and show what each vendor holds."""
    console = Console(highlight=False)
    console.print(
        f"Seeding {contacts} people (seed {seed}) into the HubSpot, Brevo and Mailchimp "
        "sandboxes, serving them on 127.0.0.1 and asking each over HTTP what it holds..."
    )
    found = asyncio.run(run_demo(contacts, seed, sample))
    for vendor, held in found.items():
        console.print(
            f"[bold]{escape(vendor)}[/bold]: {held.contacts} contacts "
            f"({held.requests} HTTP requests)"
        )
        table = Table()
        table.add_column("consent")
        table.add_column("contacts", justify="right")
        for state, count in held.consent.most_common():
            table.add_row(escape(state), str(count))
        console.print(table)
        shown = ", ".join(f"{k} {v}" for k, v in held.activity.most_common()) or "(none)"
        console.print(
            f"  activity of {held.sampled} sampled contacts, last {ACTIVITY_WINDOW_DAYS} days: "
            f"{escape(shown)}\n"
        )
