"""Retention: activity older than the account's ``retention_days`` is dropped, on the
daemon's schedule (and by replayed webhook keys older than the same window)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, Table, and_, delete

from syncd.store.models import ActivityEvent, WebhookDelivery

#: webhook replay keys are kept this long at least (deliveries older are refused anyway)
DELIVERY_KEYS_DAYS = 7


def _t(model: object) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def drop_old_activity(
    engine: Engine, account_id: str, retention_days: int, now: datetime
) -> dict[str, int]:
    activity, deliveries = _t(ActivityEvent), _t(WebhookDelivery)
    cut = now - timedelta(days=retention_days)
    keys_cut = now - timedelta(days=max(DELIVERY_KEYS_DAYS, 1))
    with engine.begin() as conn:
        dropped = conn.execute(
            delete(activity).where(
                and_(
                    activity.c.account_id == account_id,
                    activity.c.occurred_ts < int(cut.timestamp()),
                )
            )
        ).rowcount
        keys = conn.execute(
            delete(deliveries).where(
                and_(deliveries.c.account_id == account_id, deliveries.c.received_at < keys_cut)
            )
        ).rowcount
    return {"activity_dropped": int(dropped or 0), "webhook_keys_dropped": int(keys or 0)}
