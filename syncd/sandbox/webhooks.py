"""The sandboxes' webhooks: each vendor sandbox tells a subscriber about the consent changes it
makes, in that vendor's own format and with its own authentication, so that the whole loop
(a person unsubscribes in one tool -> syncd removes them everywhere) runs in tests and benches.

:func:`attach` wraps a sandbox's app: around every write request (and around a
:meth:`WebhookEmitter.watching` block, for changes made straight on the state) it compares
the members' consent before and after and delivers one webhook per change:

- Mailchimp: ``unsubscribe`` / ``cleaned`` / ``subscribe`` form posts to a secret URL;
- Brevo: ``unsubscribed`` / ``hard_bounce`` / ``spam`` / ``list_addition`` JSON, Basic auth;
- HubSpot: a ``contact.propertyChange`` of ``hs_email_optout`` in a v3-signed JSON array.

Deliveries run in background tasks (a vendor never waits for its subscriber); ``drain()``
waits for them. They go to a URL over the network, or in-process to an ASGI app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from syncd.clock import Clock
from syncd.sandbox.harness import VendorSandbox
from syncd.webhooks.hubspot import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature

Snapshot = dict[Any, tuple[Any, ...]]


@dataclass
class Outgoing:
    body: bytes
    content_type: str
    #: the email it is about (for latency measurements)
    email: str | None = None
    kind: str = ""


@dataclass
class Delivered:
    vendor: str
    kind: str
    email: str | None
    status: int | None
    error: str | None
    #: perf_counter seconds, for latency figures
    sent_at: float
    answered_at: float


@dataclass
class WebhookEmitter:
    sandbox: VendorSandbox
    url: str
    secret: str
    username: str = "syncd"
    transport: httpx.AsyncBaseTransport | None = None
    delivered: list[Delivered] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _on_send: list[Callable[[Outgoing], None]] = field(default_factory=list)

    @property
    def vendor(self) -> str:
        return self.sandbox.vendor

    @property
    def clock(self) -> Clock:
        return self.sandbox.clock

    def on_send(self, callback: Callable[[Outgoing], None]) -> None:
        self._on_send.append(callback)

    # --- watching ---------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        return _SNAPSHOTS[self.vendor](self.sandbox)

    def emit_changes(self, before: Snapshot) -> list[Outgoing]:
        outgoing = _DIFFS[self.vendor](self, before, self.snapshot())
        for item in outgoing:
            self.send(item)
        return outgoing

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Changes made on the sandbox state inside the block are delivered as webhooks."""
        before = self.snapshot()
        yield
        self.emit_changes(before)

    # --- delivery ---------------------------------------------------------------------------

    def send(self, item: Outgoing) -> None:
        for callback in self._on_send:
            callback(item)
        task = asyncio.get_running_loop().create_task(self._deliver(item))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, item: Outgoing) -> None:
        headers = {"content-type": item.content_type, "user-agent": f"{self.vendor}-sandbox"}
        auth: tuple[str, str] | None = None
        if self.vendor == "hubspot":
            stamp = str(int(self.clock.now().timestamp() * 1000))
            headers[TIMESTAMP_HEADER] = stamp
            headers[SIGNATURE_HEADER] = signature(self.secret, "POST", self.url, item.body, stamp)
        elif self.vendor == "brevo":
            auth = (self.username, self.secret)
        started = time.perf_counter()
        status, error = None, None
        try:
            async with httpx.AsyncClient(transport=self.transport, timeout=30) as client:
                response = await client.post(
                    self.url,
                    content=item.body,
                    headers=headers,
                    auth=auth or httpx.USE_CLIENT_DEFAULT,
                )
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        self.delivered.append(
            Delivered(
                self.vendor, item.kind, item.email, status, error, started, time.perf_counter()
            )
        )

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class _Watch:
    """Outermost layer of a sandbox app: snapshot before a write request, emit after it."""

    def __init__(self, app: ASGIApp, emitter: WebhookEmitter) -> None:
        self.app = app
        self.emitter = emitter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        before = self.emitter.snapshot()
        try:
            await self.app(scope, receive, send)
        finally:
            self.emitter.emit_changes(before)


def attach(
    sandbox: VendorSandbox,
    url: str,
    secret: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    username: str = "syncd",
) -> WebhookEmitter:
    """Make ``sandbox`` deliver its consent changes to ``url`` (in-process through
    ``transport`` when given). ``secret``: for Brevo the Basic-auth password, for HubSpot the
    app's client secret; Mailchimp's secret is part of ``url``."""
    emitter = WebhookEmitter(sandbox, url, secret, username, transport)
    sandbox.app = _Watch(sandbox.app, emitter)
    return emitter


# --- Mailchimp ------------------------------------------------------------------------------


def _mailchimp_snapshot(sandbox: Any) -> Snapshot:
    return {
        m.id: (m.email_address, m.status, m.unsubscribe_reason or "")
        for m in sandbox.audience.members.values()
    }


def _mailchimp_diff(emitter: WebhookEmitter, before: Snapshot, after: Snapshot) -> list[Outgoing]:
    sandbox: Any = emitter.sandbox
    fired = emitter.clock.now().strftime("%Y-%m-%d %H:%M:%S")
    out: list[Outgoing] = []
    for member_id in sorted(set(before) | set(after)):
        old, new = before.get(member_id), after.get(member_id)
        if new is None and old is not None:
            kind, extra, email = "unsubscribe", {"action": "delete", "reason": "manual"}, old[0]
        elif new is not None and (old is None or old[1] != new[1]):
            email, status, reason = new
            if status == "unsubscribed":
                why = "abuse" if "abuse" in reason.lower() else "manual"
                kind, extra = "unsubscribe", {"action": "unsub", "reason": why}
            elif status == "cleaned":
                kind, extra = "cleaned", {"reason": "hard"}
            elif status == "subscribed":
                kind, extra = "subscribe", {}
            else:
                continue
        else:
            continue
        data = {
            "id": member_id,
            "email": email,
            "email_type": "html",
            "list_id": sandbox.list_id,
            **extra,
        }
        pairs = [("type", kind), ("fired_at", fired)]
        pairs += [(f"data[{k}]", str(v)) for k, v in data.items()]
        pairs.append(("data[merges][EMAIL]", email))
        out.append(
            Outgoing(urlencode(pairs).encode(), "application/x-www-form-urlencoded", email, kind)
        )
    return out


# --- Brevo ----------------------------------------------------------------------------------

_BREVO_CAUSE = {"hardBounces": "hard_bounce", "complaints": "spam"}


def _brevo_snapshot(sandbox: Any) -> Snapshot:
    return {
        c.id: (c.email, c.email_blacklisted, frozenset(c.list_ids), len(c.events))
        for c in sandbox.state.contacts.values()
    }


def _brevo_diff(emitter: WebhookEmitter, before: Snapshot, after: Snapshot) -> list[Outgoing]:
    sandbox: Any = emitter.sandbox
    now = emitter.clock.now()
    out: list[Outgoing] = []
    for contact_id, new in sorted(after.items()):
        email, blacklisted, lists, _events = new
        old = before.get(contact_id)
        if email is None:
            continue
        base = {
            "id": 1,
            "email": email,
            "ts_event": int(now.timestamp()),
            "ts": int(now.timestamp()),
        }
        base["date_event"] = now.strftime("%Y-%m-%d %H:%M:%S")
        if blacklisted and (old is None or not old[1]):
            contact = sandbox.state.contacts[contact_id]
            latest = max(contact.events, key=lambda e: e.at, default=None)
            event = _BREVO_CAUSE.get(latest.kind if latest else "", "unsubscribed")
            payload = {**base, "event": event, "camp_id": getattr(latest, "campaign_id", None)}
            out.append(Outgoing(json.dumps(payload).encode(), "application/json", email, event))
        added = sorted(lists - (old[2] if old else frozenset()))
        if added and old is not None:
            payload = {**base, "event": "list_addition", "list_id": added}
            out.append(
                Outgoing(json.dumps(payload).encode(), "application/json", email, "list_addition")
            )
    return out


# --- HubSpot --------------------------------------------------------------------------------


def _hubspot_snapshot(sandbox: Any) -> Snapshot:
    return {
        c.id: (c.properties.get("email"), c.properties.get("hs_email_optout") == "true")
        for c in sandbox.state.contacts.values()
    }


def _hubspot_diff(emitter: WebhookEmitter, before: Snapshot, after: Snapshot) -> list[Outgoing]:
    sandbox: Any = emitter.sandbox
    now_ms = int(emitter.clock.now().timestamp() * 1000)
    out: list[Outgoing] = []
    for contact_id, (email, opted_out) in sorted(after.items()):
        old = before.get(contact_id)
        if not opted_out or (old is not None and old[1]):
            continue
        _HUBSPOT_IDS[0] += 1
        event = {
            "eventId": _HUBSPOT_IDS[0],
            "subscriptionId": 1,
            "portalId": sandbox.portal_id,
            "appId": 1,
            "occurredAt": now_ms,
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": int(contact_id),
            "propertyName": "hs_email_optout",
            "propertyValue": "true",
            "changeSource": "CRM",
        }
        body = json.dumps([event]).encode()
        out.append(Outgoing(body, "application/json", email, "contact.propertyChange"))
    return out


_HUBSPOT_IDS = [1000]
_SNAPSHOTS: dict[str, Callable[[Any], Snapshot]] = {
    "mailchimp": _mailchimp_snapshot,
    "brevo": _brevo_snapshot,
    "hubspot": _hubspot_snapshot,
}
_DIFFS: dict[str, Callable[[WebhookEmitter, Snapshot, Snapshot], list[Outgoing]]] = {
    "mailchimp": _mailchimp_diff,
    "brevo": _brevo_diff,
    "hubspot": _hubspot_diff,
}
