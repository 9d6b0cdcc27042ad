"""The `priorauth` command: serve, worker, migrate, clients."""
from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from priorauth.config import get_settings

app = typer.Typer(help="priorauth: an open-source prior-authorization engine.", no_args_is_help=True)
clients_app = typer.Typer(help="API clients (credentials).", no_args_is_help=True)
app.add_typer(clients_app, name="clients")
console = Console()

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Where embedded SQLite lives (PRIORAUTH_DATA_DIR).")]


def _use_data_dir(data_dir: Path | None) -> None:
    if data_dir is not None:
        os.environ["PRIORAUTH_DATA_DIR"] = str(data_dir)
        get_settings.cache_clear()


def _print_client(created, heading: str) -> None:
    console.print(heading, style="bold")
    console.print(f"  organization: {created.organization_id}")
    console.print(f"  role:         {created.role}")
    console.print(f"  client id:    {created.client_id}")
    console.print(f"  secret:       {created.secret}")
    console.print("  The secret is shown once and only its hash is stored. Use it as "
                  "'Authorization: Bearer <secret>'.", style="dim")


async def _prepare(bootstrap: bool) -> None:
    from priorauth.auth.service import count_clients, create_client
    from priorauth.db import Database
    from priorauth.migrate import upgrade_async

    settings = get_settings()
    await upgrade_async(settings.effective_database_url)
    if not bootstrap:
        return
    db = Database(settings.effective_database_url)
    try:
        if await count_clients(db) == 0:
            created = await create_client(db, "default", "first admin", "admin")
            _print_client(created, "No API clients existed, so one was created:")
    finally:
        await db.dispose()


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000,
          workers: Annotated[int, typer.Option(help="Processes (use >1 with PostgreSQL).")] = 1,
          data_dir: DataDir = None) -> None:
    """Run the HTTP service (migrations are applied first)."""
    import uvicorn

    _use_data_dir(data_dir)
    asyncio.run(_prepare(bootstrap=True))
    settings = get_settings()
    console.print(f"priorauth on http://{host}:{port} — database: "
                  f"{'SQLite ' + str(settings.data_dir) if not settings.database_url else 'PostgreSQL'}")
    uvicorn.run("priorauth.app:create_app", factory=True, host=host, port=port, workers=workers,
                access_log=False, log_level="warning", server_header=False)


@app.command()
def worker(data_dir: DataDir = None) -> None:
    """Run the outbox worker loop as its own process."""
    from priorauth.app import build_worker
    from priorauth.db import Database
    from priorauth.logging_setup import configure

    _use_data_dir(data_dir)
    settings = get_settings()
    configure(settings)

    async def main() -> None:
        await _prepare(bootstrap=False)
        db = Database(settings.effective_database_url)
        loop_worker = build_worker(db, settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, loop_worker.stop)
        try:
            await loop_worker.run()
        finally:
            await db.dispose()

    asyncio.run(main())


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Apply database migrations and exit."""
    _use_data_dir(data_dir)
    asyncio.run(_prepare(bootstrap=False))
    console.print("database is up to date")


@clients_app.command("create")
def clients_create(org: Annotated[str, typer.Option(help="Organization id (created if new).")],
                   name: Annotated[str, typer.Option(help="A name for this client.")],
                   role: Annotated[str, typer.Option(help="provider | reviewer | admin")] = "provider",
                   data_dir: DataDir = None) -> None:
    """Create an API client and print its secret once."""
    from priorauth.auth.service import create_client
    from priorauth.db import Database

    _use_data_dir(data_dir)

    async def main():
        await _prepare(bootstrap=False)
        db = Database(get_settings().effective_database_url)
        try:
            return await create_client(db, org, name, role)
        finally:
            await db.dispose()

    try:
        created = asyncio.run(main())
    except ValueError as exc:
        console.print(f"error: {exc}", style="red")
        raise typer.Exit(2) from None
    _print_client(created, "API client created:")
