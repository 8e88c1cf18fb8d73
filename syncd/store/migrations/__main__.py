"""``python -m syncd.store.migrations revision "message"``: autogenerate the next migration
against a scratch SQLite database brought to head (review the file before committing it)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from syncd.store.engine import make_engine
from syncd.store.migrations import alembic_config, upgrade


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "revision":
        print(__doc__)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'scratch.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        config = alembic_config(url)
        count = len(list(ScriptDirectory.from_config(config).walk_revisions()))
        command.revision(config, message=argv[1], autogenerate=True, rev_id=f"{count + 1:04d}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
