"""Erasure tombstones: a salted hash of an erased person's email, and nothing else.

The salt is a secret the store generates for itself on the first erasure (``store_secret``),
so the hashes cannot be matched against a list of addresses by anyone holding only a dump of
the tombstone table. A pull checks every incoming email against the account's tombstones.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import Connection, Table, select

from syncd.store.models import ErasureTombstone, StoreSecret

SALT_NAME = "erasure_salt"


def _t(model: object) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


TOMBSTONE, SECRET = _t(ErasureTombstone), _t(StoreSecret)


def store_salt(conn: Connection, now: datetime | None = None) -> str | None:
    """The store's erasure salt; with ``now``, made (once) when there is none yet."""
    salt: str | None = conn.scalar(select(SECRET.c.value).where(SECRET.c.name == SALT_NAME))
    if salt is None and now is not None:
        salt = secrets.token_hex(32)
        conn.execute(SECRET.insert().values(name=SALT_NAME, value=salt, created_at=now))
    return salt


def email_hash(salt: str, email: str) -> str:
    return hmac.new(salt.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()


def tombstoned(conn: Connection, account_id: str) -> set[str]:
    return set(
        conn.scalars(select(TOMBSTONE.c.email_hash).where(TOMBSTONE.c.account_id == account_id))
    )


class ErasedFilter:
    """Tells whether an email belongs to an erased person of one account (loaded once)."""

    def __init__(self, conn: Connection, account_id: str) -> None:
        self.hashes = tombstoned(conn, account_id)
        self.salt = store_salt(conn) if self.hashes else None

    def erased(self, email: str) -> bool:
        if not self.hashes or self.salt is None:
            return False
        return email_hash(self.salt, email) in self.hashes
