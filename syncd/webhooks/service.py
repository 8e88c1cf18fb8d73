"""The webhook receivers as Starlette routes, and the per-account workers that propagate
withdrawn consent right away.

Routes (authenticated the vendor's way, never with the admin token):

- ``GET|POST /webhooks/mailchimp/{account_id}/{secret}``  (the secret in the path; GET is
  Mailchimp's URL check)
- ``POST /webhooks/brevo/{account_id}``  (Basic auth: ``username`` from the config, the secret as
  password) and ``POST /webhooks/brevo/{account_id}/{secret}``
- ``POST /webhooks/hubspot/{account_id}``  (``X-HubSpot-Signature-v3``)

401: not authenticated (also a stale timestamp); 409: a replayed delivery; 400: a malformed
one; 413: too large. None of them changes the store. A delivery that withdraws consent is
applied before the answer; its removals go out from a background worker per account that
holds the account's lock (so it never races a scheduled run's push) and batches whatever
arrived meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from syncd.clock import Clock
from syncd.config import AccountConfig, SyncdConfig
from syncd.daemon.locks import AccountLease, AccountLocks
from syncd.webhooks import brevo, hubspot, mailchimp
from syncd.webhooks.events import WebhookEvent, WebhookRejected, unauthorised
from syncd.webhooks.processor import Applied, apply_events
from syncd.webhooks.propagate import propagate_consent

log = logging.getLogger("syncd.webhooks")
MAX_BODY = 1_000_000
LOCK_POLL_S = 0.02

HttpOptions = Mapping[str, Mapping[str, Any]]
Vendor = Literal["mailchimp", "brevo", "hubspot"]


class WebhookHost(Protocol):
    """What the receivers need from the process serving them (the daemon)."""

    @property
    def config(self) -> SyncdConfig: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def clock(self) -> Clock: ...


class WebhookService:
    def __init__(
        self,
        host: WebhookHost,
        *,
        locks: Callable[[], AccountLocks | None] = lambda: None,
        http_options: Callable[[str], HttpOptions | None] = lambda _account: None,
    ) -> None:
        self.host = host
        self._locks = locks
        self._http_options = http_options
        self._pending: dict[str, set[int]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self.reports: list[dict[str, Any]] = []

    # --- routes -----------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            Route(
                "/webhooks/mailchimp/{account_id}/{secret}",
                self.mailchimp,
                methods=["GET", "POST"],
            ),
            Route("/webhooks/brevo/{account_id}", self.brevo, methods=["POST"]),
            Route("/webhooks/brevo/{account_id}/{secret}", self.brevo, methods=["POST"]),
            Route("/webhooks/hubspot/{account_id}", self.hubspot, methods=["POST"]),
        ]

    async def mailchimp(self, request: Request) -> Response:
        async def receive(account: AccountConfig, secret: str) -> Applied | None:
            _path_secret(request, secret)
            if request.method == "GET":
                return None  # Mailchimp's URL check
            when, events = mailchimp.events(await _body(request))
            self._fresh(account, "mailchimp", when)
            return self._apply(account, "mailchimp", events)

        return await self._handle(request, "mailchimp", receive)

    async def brevo(self, request: Request) -> Response:
        async def receive(account: AccountConfig, secret: str) -> Applied | None:
            if "secret" in request.path_params:
                _path_secret(request, secret)
            else:
                settings = account.webhooks["brevo"]
                _basic_auth(request, settings.username or "", secret)
            when, events = brevo.events(await _body(request))
            self._fresh(account, "brevo", when)
            return self._apply(account, "brevo", events)

        return await self._handle(request, "brevo", receive)

    async def hubspot(self, request: Request) -> Response:
        async def receive(account: AccountConfig, secret: str) -> Applied | None:
            body = await _body(request)
            hubspot.verify(
                secret,
                request.method,
                str(request.url),
                body,
                request.headers,
                self.host.clock.now(),
                account.webhooks["hubspot"].max_age_s,
            )
            return self._apply(account, "hubspot", hubspot.events(body))

        return await self._handle(request, "hubspot", receive)

    async def _handle(
        self,
        request: Request,
        vendor: str,
        receive: Callable[[AccountConfig, str], Any],
    ) -> Response:
        try:
            account = self.host.config.account(str(request.path_params["account_id"]))
        except KeyError:
            return _refuse(unauthorised("unknown account"))
        secret = account.webhook_secret(vendor)
        if secret is None:
            return _refuse(unauthorised(f"{vendor} webhooks are not configured here"))
        try:
            applied = await receive(account, secret)
        except WebhookRejected as exc:
            log.warning(
                "%s webhook for %s refused: %s", vendor, account.id, exc,
                extra={"account": account.id, "vendor": vendor, "status": exc.status},
            )  # fmt: skip
            return _refuse(exc)
        if applied is None:
            return PlainTextResponse("ok")
        return JSONResponse({"ok": True, **applied.as_dict()})

    # --- processing -------------------------------------------------------------------------

    def _fresh(self, account: AccountConfig, vendor: Vendor, when: datetime) -> None:
        age = (self.host.clock.now() - when).total_seconds()
        if age > account.webhooks[vendor].max_age_s:
            raise unauthorised("the delivery is too old (a replay?)")

    def _apply(self, account: AccountConfig, vendor: str, events: list[WebhookEvent]) -> Applied:
        applied = apply_events(self.host.engine, account.id, vendor, events, self.host.clock.now())
        log.info(
            "%s webhook for %s: %s", vendor, account.id, applied.as_dict(),
            extra={"account": account.id, "vendor": vendor},
        )  # fmt: skip
        if applied.propagate:
            self.propagate(account.id, applied.propagate)
        return applied

    def propagate(self, account_id: str, contact_ids: set[int]) -> None:
        """Queue removals for ``contact_ids``; one worker per account sends them."""
        self._pending.setdefault(account_id, set()).update(contact_ids)
        worker = self._workers.get(account_id)
        if worker is None or worker.done():
            self._workers[account_id] = asyncio.create_task(self._work(account_id))

    async def _work(self, account_id: str) -> None:
        while self._pending.get(account_id):
            lease = await self._lease(account_id)
            try:
                ids = self._pending.pop(account_id, set())
                report = await propagate_consent(
                    self.host.engine,
                    self.host.config.account(account_id),
                    ids,
                    clock=self.host.clock,
                    http_options=self._http_options(account_id),
                )
                self.reports.append(report)
            except Exception:
                log.exception("consent propagation for %s failed", account_id)
            finally:
                locks = self._locks()
                if locks is not None and lease is not None:
                    locks.release(lease)

    async def _lease(self, account_id: str) -> AccountLease | None:
        locks = self._locks()
        if locks is None:
            return None
        while True:
            lease = locks.try_acquire(account_id)
            if lease is not None:
                return lease
            await asyncio.sleep(LOCK_POLL_S)  # a run of the account is in flight: wait it out

    async def idle(self) -> None:
        """Wait until every queued propagation has been pushed."""
        while any(not w.done() for w in self._workers.values()):
            await asyncio.gather(*self._workers.values(), return_exceptions=True)

    async def aclose(self) -> None:
        for worker in self._workers.values():
            worker.cancel()  # safe: what was planned is in the outbox
        await asyncio.gather(*self._workers.values(), return_exceptions=True)


async def _body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise WebhookRejected(413, "the body is too large")
    return body


def _path_secret(request: Request, secret: str) -> None:
    given = str(request.path_params.get("secret", ""))
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise unauthorised("wrong secret")


def _basic_auth(request: Request, username: str, secret: str) -> None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise unauthorised("Basic auth is required")
    try:
        user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise unauthorised("Basic auth is malformed") from None
    ok_user = hmac.compare_digest(user.encode(), username.encode())
    ok_password = hmac.compare_digest(password.encode(), secret.encode())
    if not (ok_user and ok_password):
        raise unauthorised("wrong credentials")


def _refuse(exc: WebhookRejected) -> Response:
    response = JSONResponse({"error": exc.message}, status_code=exc.status)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="syncd webhooks"'
    return response


_BY_DAEMON: weakref.WeakKeyDictionary[Any, WebhookService] = weakref.WeakKeyDictionary()


def for_daemon(daemon: Any) -> WebhookService:
    """The daemon's webhook service (one per daemon: its workers outlive one app build)."""
    service = _BY_DAEMON.get(daemon)
    if service is None:

        def locks() -> AccountLocks | None:
            try:
                found: AccountLocks = daemon.locks
            except RuntimeError:
                return None  # not started: nothing else runs accounts either
            return found

        def http_options(account_id: str) -> HttpOptions | None:
            given = daemon.options.http_options
            result: HttpOptions | None = given(account_id) if callable(given) else given
            return result

        service = WebhookService(daemon, locks=locks, http_options=http_options)
        _BY_DAEMON[daemon] = service
    return service
