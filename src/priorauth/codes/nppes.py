"""The local NPI registry: load the NPPES file into it, and answer "is this NPI real and active?".

The table (`npi_registry`) is public reference data shared by every organization. Parsing the
file is in `nppes_file` (no database there).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import structlog
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from priorauth.codes.formats import npi_is_valid
from priorauth.codes.models import NpiRecord
from priorauth.codes.nppes_file import DEACTIVATION, BadRow, NppesReader, individual_name, open_nppes
from priorauth.db import Database
from priorauth.timeutil import utcnow

log = structlog.get_logger(__name__)

NPPES_API_URL = "https://npiregistry.cms.hhs.gov/api/"
SOURCE_LOCAL = "NPPES local table"
SOURCE_API = "NPPES API"
SOURCE_CHECK_DIGIT = "check digit only"
_KEPT_BAD_ROWS = 1000  # bad rows remembered for the summary; all of them are counted

ProgressFn = Callable[[int, int, int], None]  # (rows read, bytes read, total bytes)


# --- import ----------------------------------------------------------------------------------


@dataclass
class NpiImportSummary:
    layout: str  # "dissemination" | "deactivation"
    rows_read: int = 0  # data rows (blank lines not counted); rows_read == upserted + skipped
    upserted: int = 0
    skipped: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)  # the first _KEPT_BAD_ROWS of them


def _upsert_statement(db: Database, layout: str) -> Any:
    stmt = db.insert(NpiRecord.__table__)
    t, new = NpiRecord.__table__.c, stmt.excluded
    if layout == DEACTIVATION:
        # The report has no reactivation dates: keep ours, and stay active if the NPI was
        # reactivated on or after the reported deactivation (an older report loaded after a newer file).
        values = {
            "deactivation_date": new.deactivation_date,
            "status": case((t.reactivation_date >= new.deactivation_date, "active"), else_="deactivated"),
            "updated_at": new.updated_at,
        }
    else:
        # NPPES blanks every field of a deactivated NPI but the NPI and its dates: keep the last
        # name, type, taxonomy and state we saw so a lookup can still say whose NPI it was.
        values = {c: func.coalesce(getattr(new, c), getattr(t, c))
                  for c in ("entity_type", "name", "primary_taxonomy", "state")}
        values |= {c: getattr(new, c) for c in ("status", "deactivation_date", "reactivation_date", "updated_at")}
    return stmt.on_conflict_do_update(index_elements=[t.npi], set_=values)


async def _write_batch(db: Database, layout: str, batch: dict[str, dict]) -> None:
    rows = list(batch.values())
    now = utcnow()
    for r in rows:
        r["updated_at"] = now
    if layout == DEACTIVATION:  # a first sight of an NPI through the report: nothing else known
        rows = [{"entity_type": None, "name": None, "reactivation_date": None, "primary_taxonomy": None,
                 "state": None, **r} for r in rows]
    async with db.write() as session:
        stmt = _upsert_statement(db, layout)
        await session.execute(stmt, rows)


async def import_nppes(db: Database, path: str | os.PathLike, *, batch_size: int = 5000,
                       progress: ProgressFn | None = None) -> NpiImportSummary:
    """Stream an NPPES CSV (or .zip) into `npi_registry`, one transaction per batch.

    Rows are upserted by NPI, so importing a newer monthly or weekly file updates the table in
    place. Rows with a bad NPI, date or entity type are skipped and counted. Raises
    NppesFormatError when the header is not an NPPES layout (before anything is written).
    Memory stays at one batch whatever the file size. (Parsing the next batch in a thread while
    this one is written was measured: no faster, the GIL serialises the two.)
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    with open_nppes(path) as (stream, position, total):
        reader = NppesReader(stream)
        summary = NpiImportSummary(layout=reader.layout)
        # Keyed by NPI: one statement may not touch a row twice (PostgreSQL refuses); last one wins.
        batch: dict[str, dict] = {}
        pending = 0
        for _line, item in reader:
            summary.rows_read += 1
            if isinstance(item, BadRow):
                summary.skipped += 1
                if len(summary.bad_rows) < _KEPT_BAD_ROWS:
                    summary.bad_rows.append(item)
                continue
            batch[item["npi"]] = item
            pending += 1
            if pending >= batch_size:
                await _write_batch(db, reader.layout, batch)
                summary.upserted += pending
                batch, pending = {}, 0
                if progress:
                    progress(summary.rows_read, position(), total)
        if batch:
            await _write_batch(db, reader.layout, batch)
            summary.upserted += pending
        if progress:
            progress(summary.rows_read, total, total)
    return summary


# --- lookup ----------------------------------------------------------------------------------


def _result(npi: str, valid: bool, status: str, source: str, name: str | None = None,
            deactivation_date: date | None = None) -> dict:
    return {"npi": npi, "check_digit_valid": valid, "status": status, "name": name,
            "deactivation_date": deactivation_date.isoformat() if deactivation_date else None,
            "source": source}


def check_digit_status(npi: str) -> dict:
    """What can be said of an NPI without any registry: "invalid", or "not_found" (check digit right)."""
    npi = npi.strip() if isinstance(npi, str) else ""
    valid = npi_is_valid(npi)
    return _result(npi, valid, "not_found" if valid else "invalid", SOURCE_CHECK_DIGIT)


async def _live_lookup(npi: str, http: httpx.AsyncClient | None) -> dict | None:
    """Ask the NPPES API; None when it cannot be reached or answers something unexpected."""
    params = {"version": "2.1", "number": npi}
    try:
        if http is None:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(NPPES_API_URL, params=params)
        else:
            response = await http.get(NPPES_API_URL, params=params)
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("nppes_api_unavailable", error=type(exc).__name__)
        return None
    if not isinstance(body, dict) or "Errors" in body:
        log.warning("nppes_api_error_answer")
        return None
    results = [r for r in body.get("results") or [] if isinstance(r, dict) and str(r.get("number")) == npi]
    if not results:
        # The API lists active NPIs only, so a deactivated NPI is simply absent.
        return _result(npi, True, "not_found", SOURCE_API)
    basic = results[0].get("basic") or {}
    if results[0].get("enumeration_type") == "NPI-2" or basic.get("organization_name"):
        name = basic.get("organization_name")
    else:
        name = individual_name(*(str(basic.get(k) or "").strip() for k in ("last_name", "first_name", "credential")))
    status = "active" if basic.get("status", "A") == "A" else "deactivated"
    return _result(npi, True, status, SOURCE_API, name or None)


async def npi_status(session: AsyncSession, npi: str, *, live: bool = False,
                     http: httpx.AsyncClient | None = None) -> dict:
    """Is this NPI real and active?

    Returns {"npi", "check_digit_valid", "status", "name", "deactivation_date", "source"}:

    - status "invalid", source "check digit only": not 10 digits, or the check digit is wrong;
    - "active" / "deactivated", source "NPPES local table": the imported NPPES row says so (name and
      deactivation_date, ISO YYYY-MM-DD, come from it; a deactivated row keeps the last name seen);
    - "not_found", source "NPPES local table": a table is loaded and this NPI is not in it;
    - "not_found", source "check digit only": the check digit is right but no table has been
      imported, so nothing more is known (read the source before treating it as a problem).

    The live NPPES API is asked only for an NPI the local table lacks, and only when `live` is on (the
    `nppes_live` setting, PRIORAUTH_NPPES_LIVE); its answers have source "NPPES API". If
    the API cannot be reached, the local answer stands.
    """
    unchecked = check_digit_status(npi)
    npi = unchecked["npi"]
    if not unchecked["check_digit_valid"]:
        return unchecked
    record = await session.get(NpiRecord, npi)
    if record is not None:
        return _result(npi, True, record.status, SOURCE_LOCAL, record.name, record.deactivation_date)
    if live:
        answer = await _live_lookup(npi, http)
        if answer is not None:
            return answer
    loaded = (await session.execute(select(NpiRecord.npi).limit(1))).first() is not None
    return _result(npi, True, "not_found", SOURCE_LOCAL) if loaded else unchecked
