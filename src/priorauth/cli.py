"""The `priorauth` command: serve, worker, migrate, clients, orgs, npi."""
from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated, Any, NoReturn, Optional, TypeVar

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
# Lines are never broken at the terminal's width (scripts and logs read them), and names are printed as
# given, never read as markup.
console = Console(soft_wrap=True, highlight=False, markup=False)
errors = Console(stderr=True, soft_wrap=True, highlight=False, markup=False)
T = TypeVar("T")
FIRST_SECRET_FILE = "first-admin-secret"

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Where embedded SQLite lives (PRIORAUTH_DATA_DIR).")]


def _use_data_dir(data_dir: Path | None) -> None:
    if data_dir is not None:
        os.environ["PRIORAUTH_DATA_DIR"] = str(data_dir)
        get_settings.cache_clear()


def _fail(message: str) -> NoReturn:
    errors.print(f"error: {message}", style="red")
    raise typer.Exit(2)


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run `work`; a database that cannot be used (bad URL, server down, no such database) is one line on
    stderr and exit code 2, never a traceback."""
    from priorauth.db import connection_problem

    try:
        return asyncio.run(work)
    except Exception as exc:
        problem = connection_problem(exc, get_settings().effective_database_url)
        if problem is not None:
            _fail(f"cannot connect to the database: {problem}")
        if isinstance(exc, OSError) and exc.filename:  # e.g. a data dir this user cannot write
            _fail(f"cannot use {exc.filename}: {exc.strerror}")
        raise


def _print_client(created, heading: str, *, secret_file: Path | None = None) -> None:
    console.print(heading, style="bold")
    console.print(f"  organization: {created.organization_id}")
    console.print(f"  role:         {created.role}")
    console.print(f"  client id:    {created.client_id}")
    if secret_file is None:
        console.print(f"  secret:       {created.secret}")
        console.print("  The secret is shown once and only its hash is stored. Use it as "
                      "'Authorization: Bearer <secret>'.", style="dim")
    else:
        console.print(f"  secret:       in {secret_file} (readable by this user only)")
        console.print("  Only its hash is stored: keep the secret somewhere safe and delete the file. Use it as "
                      "'Authorization: Bearer <secret>'.", style="dim")


@contextmanager
def owner_only_file(path: Path) -> Iterator[IO[str]]:
    """A new file at `path` that only this user can read, from its first byte on (created with mode 0600,
    never chmod-ed later). A file already there (a secret of an earlier database) is replaced; a symbolic
    link there is replaced, never followed. Removed again if the block fails."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            yield out
    except BaseException:
        path.unlink(missing_ok=True)
        raise


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
            # Not printed: service output ends up in logs. The file exists before the client does, so a
            # data dir we cannot write to fails the start instead of making a client nobody can use.
            path = settings.data_dir / FIRST_SECRET_FILE
            with owner_only_file(path) as out:
                created = await create_client(db, "default", "first admin", "admin")
                out.write(created.secret + "\n")
            _print_client(created, "No API clients existed, so one was created:", secret_file=path)
    finally:
        await db.dispose()


async def _with_database(use):
    """Migrations first, then `use(db)` on a database that is disposed of afterwards."""
    from priorauth.db import Database

    await _prepare(bootstrap=False)
    db = Database(get_settings().effective_database_url)
    try:
        return await use(db)
    finally:
        await db.dispose()


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000,
          workers: Annotated[int, typer.Option(help="Processes (use >1 with PostgreSQL).")] = 1,
          data_dir: DataDir = None) -> None:
    """Run the HTTP service (migrations are applied first)."""
    import uvicorn

    _use_data_dir(data_dir)
    _run(_prepare(bootstrap=True))
    settings = get_settings()
    console.print(f"priorauth on http://{host}:{port} — database: "
                  f"{'SQLite ' + str(settings.data_dir) if not settings.database_url else 'PostgreSQL'}")
    uvicorn.run("priorauth.app:create_app", factory=True, host=host, port=port, workers=workers,
                access_log=False, log_level="warning", server_header=False)


@app.command()
def worker(data_dir: DataDir = None) -> None:
    """Run the outbox worker loop as its own process."""
    from priorauth.app import build_worker, warn_loosened_guards
    from priorauth.logging_setup import configure

    _use_data_dir(data_dir)
    settings = get_settings()
    configure(settings)
    warn_loosened_guards(settings)

    async def run(db) -> None:
        loop_worker = build_worker(db, settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, loop_worker.stop)
        await loop_worker.run()

    _run(_with_database(run))


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Apply database migrations and exit."""
    _use_data_dir(data_dir)
    _run(_prepare(bootstrap=False))
    console.print("database is up to date")


def _clients(use):
    try:
        return _run(_with_database(use))
    except ValueError as exc:
        _fail(str(exc))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"


@clients_app.command("create")
def clients_create(org: Annotated[str, typer.Option(help="Organization id (created if new).")],
                   name: Annotated[str, typer.Option(help="A name for this client.")],
                   role: Annotated[str, typer.Option(help="provider | reviewer | admin")] = "provider",
                   data_dir: DataDir = None) -> None:
    """Create an API client and print its secret once (to this terminal: pass it on, do not log it)."""
    from priorauth.auth.service import create_client

    _use_data_dir(data_dir)
    _print_client(_clients(lambda db: create_client(db, org, name, role)), "API client created:")


@clients_app.command("list")
def clients_list(org: Annotated[Optional[str], typer.Option(help="Only this organization's clients.")] = None,
                 data_dir: DataDir = None) -> None:
    """List API clients: id, organization, name, role, created, revoked (never a secret or its hash)."""
    from priorauth.auth.service import list_clients

    _use_data_dir(data_dir)
    rows = [(c.client_id, c.organization_id, c.name, c.role, _when(c.created_at), _when(c.revoked_at))
            for c in _clients(lambda db: list_clients(db, org))]
    if not rows:
        console.print("no API clients" + (f" in organization {org!r}" if org else ""))
        return
    table = [("ID", "ORGANIZATION", "NAME", "ROLE", "CREATED", "REVOKED"), *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        console.print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@clients_app.command("revoke")
def clients_revoke(client_id: Annotated[str, typer.Argument(help="The client's id (cli_...).")],
                   data_dir: DataDir = None) -> None:
    """Revoke a client: its secret is refused from the next request on, by every running process."""
    from priorauth.auth.service import revoke_client

    _use_data_dir(data_dir)
    info, newly = _clients(lambda db: revoke_client(db, client_id))
    state = "revoked" if newly else "was already revoked"
    console.print(f"API client {info.client_id} ({info.organization_id}, {info.name}) {state} "
                  f"at {_when(info.revoked_at)}")


@clients_app.command("rotate")
def clients_rotate(client_id: Annotated[str, typer.Argument(help="The client's id (cli_...).")],
                   data_dir: DataDir = None) -> None:
    """Give a client a new secret (printed once); the old one is refused from the next request on."""
    from priorauth.auth.service import rotate_secret

    _use_data_dir(data_dir)
    _print_client(_clients(lambda db: rotate_secret(db, client_id)), "New secret (the old one no longer works):")


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

    _use_data_dir(data_dir)
    progress = Progress(TextColumn("importing NPIs"), BarColumn(), DownloadColumn(),
                        TextColumn("{task.fields[rows]:,} rows"), TimeElapsedColumn(), console=console)
    task = progress.add_task("import", total=None, rows=0)

    def on_progress(rows: int, done: int, total: int) -> None:
        progress.update(task, completed=done, total=total or None, rows=rows)

    async def load(db):
        with progress:
            return await import_nppes(db, file, batch_size=batch_size, progress=on_progress)

    started = time.perf_counter()
    try:
        summary = _run(_with_database(load))
    except NppesFormatError as exc:
        _fail(str(exc))
    elapsed = time.perf_counter() - started
    console.print(f"{summary.layout} file: {summary.rows_read:,} rows read, {summary.upserted:,} upserted, "
                  f"{summary.skipped:,} skipped in {elapsed:.1f} s")
    shown = summary.bad_rows[:20]
    for bad in shown:
        console.print(f"  line {bad.line}: {bad.reason}", style="yellow", highlight=False)
    if summary.skipped > len(shown):
        console.print(f"  ... and {summary.skipped - len(shown):,} more skipped rows", style="yellow")
