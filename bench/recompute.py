"""Recompute benchmark on SQLite: `python bench/recompute.py [--contacts N] [--dir D]`.

Builds (or reuses) stores of 100 k and 1 M contacts with about 20 events each in a temp
directory outside the repo, then runs each phase in its own subprocess so that each peak RSS is
that phase's own:

- floor: one plain ``SELECT contact_id, count(*) ... GROUP BY contact_id`` over the events;
- train: churn + propensity (+ clusters, which E3's ``train`` fits too) stored as models;
- clusters: K-means alone on the current frame (frame built before the clock starts);
- full: a full recompute (features, scores, stages, predictions from the stored models,
  every segment, score and membership writes);
- incremental: after 1 % of the contacts got new events (added before the clock starts,
  removed afterwards so the store can be reused).

Ends with one JSON line for the largest size: contacts, floor_s, full_s, incremental_s,
train_s, peak_rss_mb (the largest of the phases' peaks).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ACCOUNT = "bench"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
EVENTS_PER_CONTACT = 20
DAYS = 730
PHASES = ("floor", "train", "clusters", "full", "incremental")
TYPES = np.array(["send", "open", "click", "purchase", "bounce", "unsubscribe", "complaint"])
COUNTRIES = np.array(["FR", "DE", "ES", "IT", "GB", "US", "NL", "BE"])
CITIES = np.array(["Paris", "Berlin", "Madrid", "Rome", "London", "Boston", "Utrecht", "Ghent"])
PLANS = np.array(["free", "pro", "team"])


def segment_defs() -> list[Any]:
    from syncd.engine.segments import SegmentDef

    return [
        SegmentDef("hyper-engaged", "opens_7d >= 1 and clicks_total >= 2"),
        SegmentDef("buyers", "purchases_total >= 1", holdout=0.1),
        SegmentDef("at-risk-buyers", 'segment("buyers") and lifecycle = "at_risk"'),
        SegmentDef("champions", 'rfm_group in ["champions", "loyal"]'),
        SegmentDef("french-active", 'country = "FR" and days_since_last_activity <= 30'),
        SegmentDef("high-tier", 'engagement_tier = "high" and engagement_score > 50'),
    ]


# --- building the store -------------------------------------------------------------------


def _stamp(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def build_store(path: Path, n: int, seed: int = 7) -> None:
    """A store of ``n`` contacts, generated with NumPy and inserted with executemany."""
    from sqlmodel import SQLModel

    import syncd.store.models  # noqa: F401  (registers the tables)
    from syncd.store.engine import make_engine

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".building")
    partial.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{partial}")
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    rng = np.random.default_rng(seed)
    conn = sqlite3.connect(partial, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    now_ts = int(NOW.timestamp())
    conn.execute(
        "INSERT INTO account (id, name, created_at) VALUES (?, ?, ?)",
        (ACCOUNT, ACCOUNT, _stamp(now_ts)),
    )
    ids = np.arange(1, n + 1, dtype=np.int64)
    created = now_ts - rng.integers(1, DAYS, n) * 86_400
    changed = _stamp(now_ts - 2 * 86_400)
    country = COUNTRIES[rng.integers(0, len(COUNTRIES), n)]
    city = CITIES[rng.integers(0, len(CITIES), n)]
    plan = PLANS[rng.integers(0, len(PLANS), n)]
    attributes = [
        f'{{"country": "{c}", "city": "{t}", "language": "en", "plan": "{p}"}}'
        for c, t, p in zip(country.tolist(), city.tolist(), plan.tolist(), strict=True)
    ]
    conn.executemany(
        "INSERT INTO contact (id, account_id, email, attributes, provenance, created_at, "
        "updated_at, changed_at) VALUES (?, ?, 'c' || ? || '@ex' || (? % 97) || '.com', ?, '{}', "
        "?, ?, ?)",
        (
            (i, ACCOUNT, i, i, a, _stamp(c), changed, changed)
            for i, a, c in zip(ids.tolist(), attributes, created.tolist(), strict=True)
        ),
    )
    tools = rng.integers(1, 8, n)  # bit mask over the three tools
    for bit, tool in enumerate(("hubspot", "brevo", "mailchimp")):
        have = ids[(tools >> bit) & 1 == 1].tolist()
        conn.executemany(
            "INSERT INTO identity (account_id, contact_id, tool, remote_id, email_in_tool, "
            "memberships, updated_at) VALUES (?, ?, ?, ? || '-' || ?, '', '[]', ?)",
            ((ACCOUNT, i, tool, tool, i, changed) for i in have),
        )
    _insert_events(conn, rng, ids, created, now_ts)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    partial.rename(path)
    for suffix in ("-wal", "-shm"):
        Path(str(partial) + suffix).unlink(missing_ok=True)


def _insert_events(
    conn: sqlite3.Connection,
    rng: np.random.Generator,
    ids: np.ndarray,
    created: np.ndarray,
    now_ts: int,
) -> None:
    # a latent engagement per contact and a lapse date after which it stops engaging: the
    # models then have something real to learn
    n = len(ids)
    engagement = rng.beta(2, 5, n)
    lapsed = rng.random(n) < 0.35
    lapse_ts = np.where(lapsed, now_ts - rng.integers(0, 200, n) * 86_400, now_ts + 1)
    per_contact = rng.poisson(EVENTS_PER_CONTACT, n)
    contact = np.repeat(ids, per_contact)
    row = np.repeat(np.arange(n), per_contact)
    start = np.maximum(created[row], now_ts - DAYS * 86_400)
    ts = start + (rng.random(len(contact)) * (now_ts - start)).astype(np.int64)
    e = engagement[row]
    draw = rng.random(len(contact))
    # send / open / click / purchase / bounce / unsubscribe / complaint
    probs = np.stack(
        [0.55 - 0.3 * e, 0.3 * e + 0.2, 0.12 * e + 0.03, 0.05 * e + 0.01, 0.01 + 0 * e,
         0.005 + 0 * e, 0.001 + 0 * e],
        axis=1,
    )  # fmt: skip
    probs /= probs.sum(axis=1, keepdims=True)
    code = (draw[:, None] > probs.cumsum(axis=1)).sum(axis=1)
    code = np.where((ts > lapse_ts[row]) & np.isin(code, (1, 2, 3)), 0, code)
    order = np.lexsort((ts, contact))
    contact, ts, code = contact[order], ts[order], code[order]
    value = np.where(code == 3, np.round(rng.gamma(2.0, 35.0, len(code)), 2), np.nan)
    currency = np.where(rng.random(len(code)) < 0.1, "USD", "EUR")
    tool = np.array(["hubspot", "brevo", "mailchimp"])[rng.integers(0, 3, len(code))]
    values = [None if v != v else v for v in value.tolist()]
    currencies = [
        c if v is not None else None for c, v in zip(currency.tolist(), values, strict=True)
    ]
    conn.executemany(
        "INSERT INTO activity_event (account_id, contact_id, tool, event_id, type, occurred_at, "
        "occurred_ts, campaign, value, currency) VALUES "
        "(?, ?, ?, printf('e%010d', ?), ?, datetime(?, 'unixepoch'), ?, 'c1', ?, ?)",
        (
            (ACCOUNT, c, t, i, kind, s, s, v, cur)
            for i, (c, t, kind, s, v, cur) in enumerate(
                zip(
                    contact.tolist(),
                    tool.tolist(),
                    TYPES[code].tolist(),
                    ts.tolist(),
                    values,
                    currencies,
                    strict=True,
                )
            )
        ),
    )


# --- phases (each runs in its own process) ------------------------------------------------


def _engine(path: Path) -> Any:
    from syncd.store.engine import make_engine

    return make_engine(f"sqlite:///{path}")


def phase_floor(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    started = time.perf_counter()
    rows = conn.execute(
        "SELECT contact_id, count(*) FROM activity_event WHERE account_id = ? GROUP BY contact_id",
        (ACCOUNT,),
    ).fetchall()
    return {"seconds": time.perf_counter() - started, "rows": len(rows)}


def phase_train(path: Path) -> dict[str, Any]:
    from syncd.engine import models

    engine = _engine(path)
    started = time.perf_counter()
    report = models.train(engine, ACCOUNT, NOW)
    return {
        "seconds": time.perf_counter() - started,
        "timings": report.timings,
        "models": report.lines(),
    }


def phase_clusters(path: Path) -> dict[str, Any]:
    from syncd.engine.clusters import ClusterSettings, fit_clusters
    from syncd.engine.features import compute_features

    frame = compute_features(_engine(path), ACCOUNT, NOW)
    started = time.perf_counter()
    outcome = fit_clusters(frame, ClusterSettings())
    return {"seconds": time.perf_counter() - started, "message": outcome.message}


def phase_full(path: Path) -> dict[str, Any]:
    """A cold full run (no scores or memberships stored yet), then a warm one on top of it."""
    from syncd.engine.recompute import recompute
    from syncd.engine.settings import ScoringSettings

    conn = sqlite3.connect(path, isolation_level=None)
    for table in ("contact_score", "segment_membership", "segment_snapshot"):
        conn.execute(f"DELETE FROM {table}")
    conn.close()
    engine = _engine(path)
    started = time.perf_counter()
    cold = recompute(engine, ACCOUNT, ScoringSettings(), segment_defs(), NOW, full=True)
    seconds = time.perf_counter() - started
    # the report carries its frame: kept, the cold run's frame would sit under the warm run's
    # peak (2.9 GB instead of one run's 1.4 GB at 1 M), which no daemon run would see
    cold.frame = None
    started = time.perf_counter()
    warm = recompute(engine, ACCOUNT, ScoringSettings(), segment_defs(), NOW, full=True)
    return {
        "seconds": seconds,
        "warm_seconds": time.perf_counter() - started,
        "contacts": cold.contacts,
        "timings": cold.timings,
        "warm_timings": warm.timings,
        "warm_scores_written": warm.scores_written,
        "segments": cold.segments,
    }


def phase_incremental(path: Path) -> dict[str, Any]:
    from syncd.engine.recompute import recompute
    from syncd.engine.settings import ScoringSettings

    engine = _engine(path)
    conn = sqlite3.connect(path, isolation_level=None)
    (n,) = conn.execute("SELECT count(*) FROM contact WHERE account_id = ?", (ACCOUNT,)).fetchone()
    rng = np.random.default_rng(11)
    touched = np.sort(rng.choice(np.arange(1, n + 1), max(1, n // 100), replace=False))
    at = int((NOW + timedelta(hours=1)).timestamp())
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO activity_event (account_id, contact_id, tool, event_id, type, occurred_at, "
        "occurred_ts, campaign) VALUES (?, ?, 'hubspot', 'inc-' || ? || '-' || ?, ?, "
        "datetime(?, 'unixepoch'), ?, 'c2')",
        (
            (ACCOUNT, c, c, k, kind, at, at)
            for c in touched.tolist()
            for k, kind in enumerate(("send", "open", "click"))
        ),
    )
    stamp = _stamp(at)
    conn.executemany(
        "UPDATE contact SET changed_at = ? WHERE id = ?", ((stamp, c) for c in touched.tolist())
    )
    conn.execute("COMMIT")
    later = NOW + timedelta(hours=2)
    try:
        started = time.perf_counter()
        report = recompute(engine, ACCOUNT, ScoringSettings(), segment_defs(), later, full=False)
        seconds = time.perf_counter() - started
    finally:
        # put the store back as it was, so the next bench run measures the same thing
        conn.execute("DELETE FROM activity_event WHERE event_id LIKE 'inc-%'")
        before = _stamp(int(NOW.timestamp()) - 2 * 86_400)
        conn.execute("UPDATE contact SET changed_at = ? WHERE changed_at = ?", (before, stamp))
        conn.execute("DELETE FROM run WHERE kind = 'recompute' AND report LIKE '%\"full\": false%'")
    return {
        "seconds": seconds,
        "contacts": report.contacts,
        "full": report.full,
        "timings": report.timings,
    }


def run_phase(name: str, path: Path, timeout: float | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--phase", name, "--db", str(path)],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": [f"stopped after {timeout:.0f} s"], "seconds": None, "peak_rss_mb": None}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"], "seconds": None,
                "peak_rss_mb": None, "wall": time.perf_counter() - started}  # fmt: skip
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def borrow_models(path: Path, directory: Path) -> str | None:
    """When training could not finish on this store, copy the models of a smaller one, so the
    full and incremental runs still pay for predictions from stored models."""
    conn = sqlite3.connect(path, isolation_level=None)
    if conn.execute("SELECT count(*) FROM model_artifact").fetchone()[0]:
        return None
    for other in sorted(directory.glob("store-*.db")):
        if other == path:
            continue
        conn.execute("ATTACH DATABASE ? AS other", (str(other),))
        copied = conn.execute(
            "INSERT INTO model_artifact (account_id, kind, version, trained_at, metrics, blob) "
            "SELECT account_id, kind, version, trained_at, metrics, blob "
            "FROM other.model_artifact"
        ).rowcount
        conn.execute("DETACH DATABASE other")
        if copied:
            return f"no models trained here: using the {copied} models of {other.name}"
    return None


def _peak_rss_mb() -> float:
    # VmHWM is this process's own peak (ru_maxrss would include the parent's pages at fork)
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(name: str, path: Path) -> None:
    # a daemon has its modules loaded: imports are not part of any phase's time
    import sklearn.ensemble  # noqa: F401

    import syncd.engine.recompute
    import syncd.engine.segments

    with contextlib.suppress(ImportError):
        import syncd.engine.models  # noqa: F401
    if name == "build":
        n = int(path.stem.rsplit("-", 1)[1])
        started = time.perf_counter()
        build_store(path, n)
        result: dict[str, Any] = {"seconds": time.perf_counter() - started}
    else:
        result = globals()[f"phase_{name}"](path)
    result["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(result, default=str))


# --- driver -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, action="append")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/syncd-bench"))
    parser.add_argument("--phase", choices=(*PHASES, "build"))
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds before a phase is stopped"
    )
    parser.add_argument("--db", type=Path)
    parser.add_argument("--skip", action="append", default=[], choices=PHASES)
    args = parser.parse_args()
    if args.phase:
        child(args.phase, args.db)
        return
    sizes = args.contacts or [100_000, 1_000_000]
    results: dict[int, dict[str, dict[str, Any]]] = {}
    for n in sizes:
        path = args.dir / f"store-{n}.db"
        if not path.exists():
            print(f"building {path} ...", flush=True)
            built = run_phase("build", path)
            print(f"  built in {_fmt(built.get('seconds'))} s {built.get('error', '')}", flush=True)
        if args.build_only:
            continue
        results[n] = {}
        for name in PHASES:
            if name in args.skip:
                if name == "train" and (note := borrow_models(path, args.dir)):
                    print(f"  {note}", flush=True)
                continue
            results[n][name] = run_phase(name, path, args.timeout)
            r = results[n][name]
            if name == "train" and "error" in r and (note := borrow_models(path, args.dir)):
                print(f"  {note}", flush=True)
            print(f"  {n:>9} {name:<12} {_fmt(r.get('seconds'))} s  "
                  f"peak {_fmt(r.get('peak_rss_mb'))} MB  {_detail(r)}", flush=True)  # fmt: skip
    if not results:
        return
    _table(results)
    largest = max(results)
    r = results[largest]
    line = {
        "contacts": largest,
        "floor_s": _round(r.get("floor", {}).get("seconds")),
        "full_s": _round(r.get("full", {}).get("seconds")),
        "full_warm_s": _round(r.get("full", {}).get("warm_seconds")),
        "incremental_s": _round(r.get("incremental", {}).get("seconds")),
        "train_s": _round(r.get("train", {}).get("seconds")),
        "peak_rss_mb": _round(max((p.get("peak_rss_mb") or 0) for p in r.values())),
    }
    print(json.dumps(line))


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 2)


def _fmt(x: float | None) -> str:
    return "   -  " if x is None else f"{x:7.2f}"


def _detail(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"ERROR {r['error']}"
    if "warm_seconds" in r:
        return (
            f"{json.dumps(r['timings'])}\n{'':>26}warm (scores stored): {r['warm_seconds']:.2f} s "
            f"{json.dumps(r['warm_timings'])}, {r['warm_scores_written']} rows written"
        )
    if "timings" in r:
        return json.dumps(r["timings"])
    return ""


def _table(results: dict[int, dict[str, dict[str, Any]]]) -> None:
    sizes = sorted(results)
    print()
    print(f"{'phase':<14}" + "".join(f"{n:>14,} s {'peak MB':>9}" for n in sizes))
    for name in PHASES:
        cells = []
        for n in sizes:
            r = results[n].get(name, {})
            cells.append(f"{_fmt(r.get('seconds')):>16} {_fmt(r.get('peak_rss_mb')):>9}")
        print(f"{name:<14}" + "".join(cells))
    for n in sizes:
        floor = results[n].get("floor", {}).get("seconds")
        full = results[n].get("full", {}).get("seconds")
        inc = results[n].get("incremental", {}).get("seconds")
        if floor and full:
            ratio = f"full/floor {full / floor:.2f}x"
            if inc:
                ratio += f", incremental/full {100 * inc / full:.1f}%"
            print(f"{n:>9,}: {ratio}")


if __name__ == "__main__":
    main()
