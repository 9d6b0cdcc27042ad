"""The `priorauth` command: serve, worker, migrate, clients, orgs, npi."""
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
orgs_app = typer.Typer(help="Organizations and their settings.", no_args_is_help=True)
app.add_typer(orgs_app, name="orgs")
npi_app = typer.Typer(help="The local NPI registry (the public CMS NPPES file).", no_args_is_help=True)
app.add_typer(npi_app, name="npi")
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
    from priorauth.app import build_worker, warn_loosened_guards
    from priorauth.db import Database
    from priorauth.logging_setup import configure

    _use_data_dir(data_dir)
    settings = get_settings()
    configure(settings)
    warn_loosened_guards(settings)

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


@orgs_app.command("sandbox")
def orgs_sandbox(org: Annotated[str, typer.Option(help="Organization id.")],
                 enabled: Annotated[bool, typer.Option("--on/--off", help="Let every client of the organization "
                                                       "play the sandbox payer, or only its admin clients.")],
                 data_dir: DataDir = None) -> None:
    """Turn the sandbox payer on or off for an organization's non-admin clients (never on in production)."""
    from priorauth.auth.service import set_sandbox
    from priorauth.db import Database

    _use_data_dir(data_dir)

    async def main() -> None:
        await _prepare(bootstrap=False)
        db = Database(get_settings().effective_database_url)
        try:
            await set_sandbox(db, org, enabled)
        finally:
            await db.dispose()

    try:
        asyncio.run(main())
    except LookupError as exc:
        console.print(f"error: {exc.args[0]}", style="red")
        raise typer.Exit(2) from None
    console.print(f"organization {org}: sandbox payer {'on for every client' if enabled else 'admin clients only'}")


@npi_app.command("import")
def npi_import(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                                    help="NPPES NPI dissemination CSV (npidata_pfile_*.csv, "
                                                         "or its .zip), or the deactivation report as CSV.")],
               batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Rows per transaction.")] = 5000,
               data_dir: DataDir = None) -> None:
    """Load or update the local NPI table from an NPPES file (streamed; migrations are applied first)."""
    import time

    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    from priorauth.codes.nppes import import_nppes
    from priorauth.codes.nppes_file import NppesFormatError
    from priorauth.db import Database

    _use_data_dir(data_dir)
    progress = Progress(TextColumn("importing NPIs"), BarColumn(), DownloadColumn(),
                        TextColumn("{task.fields[rows]:,} rows"), TimeElapsedColumn(), console=console)
    task = progress.add_task("import", total=None, rows=0)

    def on_progress(rows: int, done: int, total: int) -> None:
        progress.update(task, completed=done, total=total or None, rows=rows)

    async def main():
        await _prepare(bootstrap=False)
        db = Database(get_settings().effective_database_url)
        try:
            with progress:
                return await import_nppes(db, file, batch_size=batch_size, progress=on_progress)
        finally:
            await db.dispose()

    started = time.perf_counter()
    try:
        summary = asyncio.run(main())
    except NppesFormatError as exc:
        console.print(f"error: {exc}", style="red")
        raise typer.Exit(2) from None
    elapsed = time.perf_counter() - started
    console.print(f"{summary.layout} file: {summary.rows_read:,} rows read, {summary.upserted:,} upserted, "
                  f"{summary.skipped:,} skipped in {elapsed:.1f} s")
    shown = summary.bad_rows[:20]
    for bad in shown:
        console.print(f"  line {bad.line}: {bad.reason}", style="yellow", highlight=False)
    if summary.skipped > len(shown):
        console.print(f"  ... and {summary.skipped - len(shown):,} more skipped rows", style="yellow")
