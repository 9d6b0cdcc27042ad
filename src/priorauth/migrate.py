"""Apply Alembic migrations programmatically (no alembic.ini needed), and tell whether a database is current."""
from __future__ import annotations

import asyncio
import functools
import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from priorauth.db import Database, unavailable


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        # A file that cannot be opened fails here, plainly: through aiosqlite, its worker thread would also
        # print a traceback once the failed migration's event loop is closed.
        sqlite3.connect(path).close()
    command.upgrade(alembic_config(url), "head")


async def upgrade_async(url: str) -> None:
    # env.py runs its own event loop, so it needs a thread without one.
    await asyncio.to_thread(upgrade, url)


@functools.cache
def _scripts() -> tuple[frozenset[str], frozenset[str]]:
    """The head revisions of this version's migrations, and every revision it knows."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(scripts.get_heads()), frozenset(s.revision for s in scripts.walk_revisions())


async def readiness(db: Database) -> tuple[str, str] | None:
    """None when the database answers and its schema is at the head revision; else (reason, message), with
    no URL, host or secret in it."""
    try:
        async with db.read() as session:
            current = frozenset(await session.run_sync(
                lambda s: MigrationContext.configure(s.connection()).get_current_heads()))
    except Exception as exc:
        if not unavailable(exc):
            raise
        return "database_unreachable", "The database cannot be reached."
    heads, known = _scripts()
    if current == heads:
        return None
    at, needs = ", ".join(sorted(current)) or "none (empty database)", ", ".join(sorted(heads))
    if current <= known:
        return "schema_not_current", f"The database schema is at revision {at}; this version needs {needs}: " \
                                     "run `priorauth migrate`."
    return "schema_not_current", f"The database schema is at revision {at}, unknown to this version (which needs " \
                                 f"{needs}): a newer release migrated it."
