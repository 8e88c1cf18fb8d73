"""The admin HTTP API (Starlette), served by the daemon.

Everything but ``/healthz``, ``/readyz`` and ``/openapi.json`` needs the bearer token named by
``admin.token_env`` (compared in constant time). The status page at ``/`` takes the same token
as HTTP Basic auth (any user name) so that a browser can ask for it. With no ``token_env`` the
API is open, which the config allows only on a loopback address.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from syncd.daemon import queue
from syncd.daemon.metrics import last_success, latest_snapshots
from syncd.daemon.openapi import openapi_document
from syncd.daemon.views import iso, list_runs, run_detail
from syncd.webhooks.service import for_daemon

if TYPE_CHECKING:
    from syncd.daemon.daemon import Daemon

Endpoint = Callable[[Request], Awaitable[Response]]
MAX_RUNS = 200


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def token_matches(expected: str | None, given: str | None) -> bool:
    if expected is None:
        return True
    if given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def build_app(daemon: Daemon) -> Starlette:
    def guarded(endpoint: Endpoint, *, browser: bool = False) -> Endpoint:
        async def check(request: Request) -> Response:
            if not token_matches(daemon.config.admin_token, presented_token(request)):
                challenge = 'Basic realm="syncd"' if browser else 'Bearer realm="syncd"'
                response = _error(401, "missing or wrong admin token")
                response.headers["WWW-Authenticate"] = challenge
                return response
            return await endpoint(request)

        return check

    def account_or_404(request: Request) -> str | JSONResponse:
        account_id = str(request.path_params["account_id"])
        try:
            daemon.config.account(account_id)
        except KeyError:
            return _error(404, f"no account {account_id!r} in the config")
        return account_id

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        problems = []
        if not daemon.ready:
            problems.append("stopping" if daemon.stopping.is_set() else "starting")
        else:
            try:
                with daemon.engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
            except Exception as exc:
                problems.append(f"store: {type(exc).__name__}")
        body = {"ready": not problems, "problems": problems}
        return JSONResponse(body, status_code=200 if not problems else 503)

    async def metrics(request: Request) -> Response:
        return Response(daemon.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def accounts(request: Request) -> Response:
        depth = queue.depth(daemon.engine)
        success = last_success(daemon.engine)
        out = []
        for account in daemon.config.accounts:
            runs = list_runs(daemon.engine, account.id, limit=1)
            out.append(
                {
                    "id": account.id,
                    "name": account.name,
                    "connectors": sorted(account.connectors),
                    "segments": [s.name for s in account.segments],
                    "running": account.id in daemon.locks.busy,
                    "queued": depth.get(account.id, 0),
                    "last_run": runs[0] if runs else None,
                    "last_success_at": iso(success.get(account.id)),
                }
            )
        return JSONResponse({"accounts": out})

    async def account_runs(request: Request) -> Response:
        found = account_or_404(request)
        if isinstance(found, JSONResponse):
            return found
        try:
            limit = max(1, min(MAX_RUNS, int(request.query_params.get("limit", "20"))))
        except ValueError:
            return _error(400, "limit must be an integer")
        return JSONResponse({"account": found, "runs": list_runs(daemon.engine, found, limit)})

    async def run(request: Request) -> Response:
        detail = run_detail(daemon.engine, int(request.path_params["run_id"]))
        if detail is None:
            return _error(404, "no such run")
        return JSONResponse(detail)

    async def resync(request: Request) -> Response:
        found = account_or_404(request)
        if isinstance(found, JSONResponse):
            return found
        raw = await request.body()
        try:
            body = await request.json() if raw.strip() else {}
        except ValueError:
            return _error(400, "the body is not JSON")
        if not isinstance(body, dict) or set(body) - {"full", "dry_run"}:
            return _error(400, 'expected {"full": bool, "dry_run": bool}')
        if not all(isinstance(body.get(k, False), bool) for k in ("full", "dry_run")):
            return _error(400, "full and dry_run must be booleans")
        if daemon.stopping.is_set():
            return _error(503, "the daemon is stopping")
        full, dry_run = bool(body.get("full", False)), bool(body.get("dry_run", False))
        request_id = daemon.enqueue(found, full=full, dry_run=dry_run, requested_by="api")
        return JSONResponse(
            {"request_id": request_id, "account": found, "full": full, "dry_run": dry_run},
            status_code=202,
        )

    async def resync_request(request: Request) -> Response:
        row = queue.get_request(daemon.engine, int(request.path_params["request_id"]))
        if row is None:
            return _error(404, "no such resync request")
        for key in ("requested_at", "claimed_at", "finished_at"):
            row[key] = iso(row[key])
        return JSONResponse(row)

    async def segments(request: Request) -> Response:
        found = account_or_404(request)
        if isinstance(found, JSONResponse):
            return found
        rows = [
            {
                "segment": r["segment"],
                "size": r["size"],
                "holdout_size": r["holdout_size"],
                "previous_size": r["previous_size"],
                "drift": bool(r["drift"]),
                "computed_at": iso(r["computed_at"]),
                "run_id": r["run_id"],
            }
            for r in latest_snapshots(daemon.engine, found)
        ]
        return JSONResponse({"account": found, "segments": rows})

    async def reload(request: Request) -> Response:
        result = daemon.reload()
        if not result.ok:
            problems = [{"path": p.path, "message": p.message} for p in result.problems]
            return JSONResponse({"ok": False, "problems": problems}, status_code=400)
        return JSONResponse({"ok": True, "accounts": [a.id for a in daemon.config.accounts]})

    async def status_page(request: Request) -> Response:
        from syncd.daemon.status import render_status

        return HTMLResponse(render_status(daemon))

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/", guarded(status_page, browser=True), methods=["GET"]),
        Route("/metrics", guarded(metrics), methods=["GET"]),
        Route("/accounts", guarded(accounts), methods=["GET"]),
        Route("/accounts/{account_id}/runs", guarded(account_runs), methods=["GET"]),
        Route("/accounts/{account_id}/resync", guarded(resync), methods=["POST"]),
        Route("/accounts/{account_id}/segments", guarded(segments), methods=["GET"]),
        Route("/runs/{run_id:int}", guarded(run), methods=["GET"]),
        Route("/resync/{request_id:int}", guarded(resync_request), methods=["GET"]),
        Route("/admin/reload", guarded(reload), methods=["POST"]),
    ]
    # vendor webhooks authenticate their own way (secret path, Basic auth, signature)
    routes += for_daemon(daemon).routes()
    return Starlette(routes=routes)
