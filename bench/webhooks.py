"""Webhook consent propagation latency: a person unsubscribes in Mailchimp, Mailchimp's webhook
reaches the daemon, and syncd removes them from their Brevo and HubSpot lists.

Per trial: the Mailchimp sandbox applies an unsubscribe (through its API), emits its webhook
to the daemon's receiver (served on loopback by default, ``--in-process`` for an ASGI call),
the daemon applies consent and pushes the removals through the outbox. Latency is measured
from the unsubscribe request to the last removal acknowledged by Brevo and HubSpot. The vendor
sandboxes run in-process on a virtual clock (their rate limits cost no wall time).

    .venv/bin/python bench/webhooks.py [--contacts 300] [--trials 30] [--in-process]

Prints the figures, then ONE JSON line with ``p50_s`` and ``p99_s`` (goal: p99 < 5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import select  # noqa: E402

from syncd.daemon.api import build_app  # noqa: E402
from syncd.daemon.daemon import Daemon, DaemonOptions  # noqa: E402
from syncd.sandbox.generate import generate  # noqa: E402
from syncd.sandbox.webhooks import attach  # noqa: E402
from syncd.sandbox.world import ACCOUNT_ID  # noqa: E402
from syncd.store.models import Contact, LedgerEntry  # noqa: E402
from syncd.webhooks.service import for_daemon  # noqa: E402
from tests.support.hooked import SECRETS, hooked_account  # noqa: E402


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def _bench(contacts: int, trials: int, served: bool, tmp: Path) -> dict[str, Any]:
    account, env = hooked_account(generate(contacts, seed=7), tmp)
    started = time.perf_counter()
    first = await account.run(full=True)
    assert first.status == "ok", first.errors
    sync_s = time.perf_counter() - started
    options = DaemonOptions(
        daemon_id="bench",
        serve_api=served,
        api_port=0,
        env=env,
        http_options=lambda _a: account.http_options(),
        clock=account.clock,
    )
    daemon = Daemon(None, config=account.config, options=options)
    await daemon.start()
    service = for_daemon(daemon)
    path = f"/webhooks/mailchimp/{ACCOUNT_ID}/{SECRETS['mailchimp']}"
    mailchimp = account.world.sandboxes["mailchimp"]
    if served:
        assert daemon.api_url is not None
        emitter = attach(mailchimp, daemon.api_url + path, SECRETS["mailchimp"])
    else:
        transport = httpx.ASGITransport(app=build_app(daemon))
        emitter = attach(mailchimp, "http://syncd.local" + path, "", transport=transport)
    subscribed = {
        p.email
        for p in account.world.population.people
        if p.email and "mailchimp" in p.tools and p.tools["mailchimp"].status == "subscribed"
    }
    ledger = account.ledger()
    candidates = sorted(
        {e for (t, _), es in ledger.items() if t in ("brevo", "hubspot") for e in es} & subscribed
    )[:trials]
    latencies: list[float] = []
    try:
        async with httpx.AsyncClient(
            transport=mailchimp.transport(),
            base_url=mailchimp.base_url,
            auth=("syncd", mailchimp.api_key),  # type: ignore[attr-defined]
        ) as client:
            for email in candidates:
                digest = hashlib.md5(email.encode()).hexdigest()
                t0 = time.perf_counter()
                answer = await client.patch(
                    f"/lists/{mailchimp.list_id}/members/{digest}",  # type: ignore[attr-defined]
                    json={"status": "unsubscribed"},
                )
                assert answer.status_code == 200, answer.text
                await emitter.drain()
                await service.idle()
                latencies.append(time.perf_counter() - t0)
        left = _still_listed(account.engine, candidates)
        held = await account.holdings()
        still = {e for (t, _), es in held.items() if t in ("brevo", "hubspot") for e in es}
        leaked = sorted(still & set(candidates))
    finally:
        await service.aclose()
        await daemon.shutdown()
    return {
        "contacts": contacts,
        "trials": len(latencies),
        "served": served,
        "first_full_sync_s": round(sync_s, 2),
        "deliveries": [d.status for d in emitter.delivered].count(200),
        "ledger_left": left,
        "vendor_left": len(leaked),
        "latencies": latencies,
    }


def _still_listed(engine: Any, emails: list[str]) -> int:
    with engine.connect() as conn:
        rows = conn.execute(
            select(LedgerEntry.tool)  # type: ignore[call-overload]
            .join(Contact, Contact.id == LedgerEntry.contact_id)
            .where(Contact.email.in_(emails), LedgerEntry.target_kind != "property")  # type: ignore[attr-defined]
        ).all()
    return len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--contacts", type=int, default=300)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--in-process", action="store_true", help="ASGI call, no socket")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(_bench(args.contacts, args.trials, not args.in_process, Path(tmp)))
    latencies = result.pop("latencies")
    p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
    mode = "served on loopback" if result["served"] else "in-process (ASGI)"
    print(f"webhook propagation, daemon {mode}, {result['contacts']} contacts")
    print(f"  first full sync           {result['first_full_sync_s']:.2f} s")
    print(f"  trials                    {result['trials']} (webhooks answered 200: "
          f"{result['deliveries']})")  # fmt: skip
    if latencies:
        print(f"  latency min / mean / max  {min(latencies):.3f} / "
              f"{statistics.fmean(latencies):.3f} / {max(latencies):.3f} s")  # fmt: skip
    print(f"  p50 / p99                 {p50:.3f} / {p99:.3f} s  (goal p99 < 5 s)")
    print(f"  still listed after: ledger {result['ledger_left']}, "
          f"vendors {result['vendor_left']}")  # fmt: skip
    print(json.dumps({**result, "p50_s": round(p50, 4), "p99_s": round(p99, 4)}))
    ok = result["vendor_left"] == 0 and result["ledger_left"] == 0 and p99 < 5
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
