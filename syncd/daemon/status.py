"""The status page at ``/``: accounts, last runs, segment sizes over time (an inline SVG line
chart per account), recent errors. Server-rendered HTML, no script, no build step."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any

from syncd.daemon.metrics import latest_snapshots
from syncd.daemon.views import iso, list_runs, recent_errors, segment_history

if TYPE_CHECKING:
    from syncd.daemon.daemon import Daemon

CHART_W, CHART_H, PAD = 640, 200, 36
#: one colour per segment line (cycled)
PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563")

_CSS = (
    "body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#111;max-width:72rem}"
    "h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem}"
    "table{border-collapse:collapse;margin:.5rem 0}"
    "td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:left}"
    "th{background:#f5f5f5}.ok{color:#15803d}.failed,.interrupted{color:#b91c1c}"
    ".running{color:#a16207}.muted{color:#666}.drift{color:#b91c1c;font-weight:600}"
)


def render_status(daemon: Daemon) -> str:
    engine = daemon.engine
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='refresh' content='30'><title>syncd status</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>syncd status</h1>",
        f"<p class='muted'>daemon {escape(daemon.options.daemon_id)} · "
        f"{'ready' if daemon.ready else 'not ready'} · "
        f"{len(daemon.runs)} run(s) in flight</p>",
    ]
    for account in daemon.config.accounts:
        parts.append(f"<h2 id='{escape(account.id)}'>{escape(account.id)}")
        if account.name:
            parts.append(f" <span class='muted'>{escape(account.name)}</span>")
        parts.append("</h2>")
        parts.append(_runs_table(list_runs(engine, account.id, limit=8)))
        parts.append(_segments_table(latest_snapshots(engine, account.id)))
        parts.append(segment_chart(segment_history(engine, account.id)))
    parts.append("<h2>Recent errors</h2>")
    parts.append(_errors_table(recent_errors(engine, limit=15)))
    parts.append("</body></html>")
    return "".join(parts)


def _runs_table(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "<p class='muted'>No runs yet.</p>"
    rows = [
        "<table><tr><th>run</th><th>kind</th><th>status</th><th>started</th><th>duration</th>"
        "<th>planned</th><th>acknowledged</th><th>rejected</th><th>blocked</th></tr>"
    ]
    for run in runs:
        counts = run["counts"]
        kind = run["kind"] + (" (dry-run)" if run["dry_run"] else "")
        duration = "" if run["duration_s"] is None else f"{run['duration_s']:.1f} s"
        rows.append(
            f"<tr><td>{run['id']}</td><td>{escape(kind)}</td>"
            f"<td class='{escape(run['status'])}'>{escape(run['status'])}</td>"
            f"<td>{escape(run['started_at'] or '')}</td><td>{duration}</td>"
            + "".join(
                f"<td>{int(counts.get(k, 0))}</td>"
                for k in ("changes_planned", "acknowledged", "rejected", "blocked")
            )
            + "</tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _segments_table(snapshots: list[dict[str, Any]]) -> str:
    if not snapshots:
        return "<p class='muted'>No segments computed yet.</p>"
    rows = ["<table><tr><th>segment</th><th>size</th><th>previous</th><th>drift</th></tr>"]
    for snap in snapshots:
        drift = "<span class='drift'>drift</span>" if snap["drift"] else ""
        previous = "" if snap["previous_size"] is None else str(snap["previous_size"])
        rows.append(
            f"<tr><td>{escape(snap['segment'])}</td><td>{snap['size']}</td>"
            f"<td>{previous}</td><td>{drift}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _errors_table(errors: list[dict[str, Any]]) -> str:
    if not errors:
        return "<p class='muted'>None.</p>"
    rows = ["<table><tr><th>run</th><th>account</th><th>at</th><th>phase</th><th>error</th></tr>"]
    for e in errors:
        rows.append(
            f"<tr><td>{e['run_id']}</td><td>{escape(e['account_id'])}</td>"
            f"<td>{escape(e['at'] or '')}</td><td>{escape(str(e['phase'] or ''))}</td>"
            f"<td>{escape(str(e['error'] or ''))}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def segment_chart(history: dict[str, list[tuple[datetime, int]]]) -> str:
    """Sizes over time, one polyline per segment, on shared axes."""
    points = [p for series in history.values() for p in series]
    if not points:
        return ""
    t0 = min(p[0] for p in points).timestamp()
    t1 = max(p[0] for p in points).timestamp()
    top = max(1, max(p[1] for p in points))
    span = max(1.0, t1 - t0)

    def x(at: datetime) -> float:
        return PAD + (at.timestamp() - t0) / span * (CHART_W - 2 * PAD)

    def y(size: int) -> float:
        return CHART_H - PAD + -(size / top) * (CHART_H - 2 * PAD)

    height = CHART_H + 20 * len(history)
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{CHART_W}' height='{height}' "
        f"viewBox='0 0 {CHART_W} {height}' role='img' "
        "aria-label='segment sizes over time'>",
        f"<line x1='{PAD}' y1='{CHART_H - PAD}' x2='{CHART_W - PAD}' y2='{CHART_H - PAD}' "
        "stroke='#999'/>",
        f"<line x1='{PAD}' y1='{PAD}' x2='{PAD}' y2='{CHART_H - PAD}' stroke='#999'/>",
        f"<text x='{PAD - 4}' y='{PAD + 4}' font-size='10' text-anchor='end'>{top}</text>",
        f"<text x='{PAD - 4}' y='{CHART_H - PAD}' font-size='10' text-anchor='end'>0</text>",
        f"<text x='{PAD}' y='{CHART_H - PAD + 14}' font-size='10'>"
        f"{escape(iso(min(p[0] for p in points)) or '')}</text>",
        f"<text x='{CHART_W - PAD}' y='{CHART_H - PAD + 14}' font-size='10' text-anchor='end'>"
        f"{escape(iso(max(p[0] for p in points)) or '')}</text>",
    ]
    for i, (name, series) in enumerate(sorted(history.items())):
        colour = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{x(at):.1f},{y(size):.1f}" for at, size in series)
        out.append(
            f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{coords}'>"
            f"<title>{escape(name)}</title></polyline>"
        )
        for at, size in series[-1:]:
            out.append(f"<circle cx='{x(at):.1f}' cy='{y(size):.1f}' r='3' fill='{colour}'/>")
        legend_y = CHART_H + 14 * (i + 1)
        out.append(
            f"<rect x='{PAD}' y='{legend_y - 8}' width='10' height='10' fill='{colour}'/>"
            f"<text x='{PAD + 16}' y='{legend_y + 1}' font-size='11'>"
            f"{escape(name)} ({series[-1][1]})</text>"
        )
    out.append("</svg>")
    return "".join(out)
