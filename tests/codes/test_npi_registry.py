"""The local NPPES table: reading the files, `priorauth npi import`, and npi_status (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import random
import sys
import zipfile
from contextlib import AsyncExitStack
from datetime import date
from pathlib import Path

import httpx
import pytest
from nppes_sample import NPPES_HEADER, sample_row, synthetic_npi, write_sample
from sqlalchemy import delete, func, select, text

from priorauth.codes import npi_is_valid
from priorauth.codes.models import NpiRecord
from priorauth.codes.nppes import import_nppes, npi_status
from priorauth.codes.nppes_file import (
    DEACTIVATION,
    DISSEMINATION,
    BadRow,
    NppesFormatError,
    NppesReader,
    npi_state,
    open_nppes,
    parse_date,
)
from priorauth.db import Database
from tests.support.apps import own_database, running_app

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "npidata_pfile_sample.csv"  # 11 rows, 4 of them bad
UPDATE = DATA / "npidata_pfile_update.csv"  # columns reordered, one unknown, fewer taxonomy slots
DEACTIVATED = DATA / "deactivated_npi_report.csv"  # the deactivation report saved as CSV

SMITH, ACME, GONE, DOE, NORTH, LEE, PATEL, GARCIA, NEW_GONE = (
    "1000000012", "2000000010", "1000000020", "1000000038", "2000000028", "1000000053", "1000000061",
    "1000000087", "2000000036")
UNLISTED = "1234567893"  # valid check digit, in none of the files
ANOTHER = "1000000095"  # valid too, in none of the files
BAD_CHECK = "1234567890"


def _read(path: Path) -> tuple[str, dict[str, dict], list[BadRow]]:
    with open_nppes(path) as (stream, _pos, _total):
        reader = NppesReader(stream)
        items = list(reader)
    good = {r["npi"]: r for _, r in items if not isinstance(r, BadRow)}
    return reader.layout, good, [r for _, r in items if isinstance(r, BadRow)]


# --- reading the files (no database) ---------------------------------------------------------


def test_dissemination_sample_rows() -> None:
    layout, rows, bad = _read(SAMPLE)
    assert layout == DISSEMINATION
    assert rows[SMITH] == {"npi": SMITH, "entity_type": 1, "name": "SMITH, JANE M.D.", "status": "active",
                           "deactivation_date": None, "reactivation_date": None,
                           "primary_taxonomy": "207X00000X",  # slot 2 is the one flagged primary
                           "state": "CA"}
    assert rows[ACME]["name"] == "ACME ORTHOPEDIC GROUP, LLC"
    assert (rows[ACME]["entity_type"], rows[ACME]["state"]) == (2, "TX")
    assert rows[ACME]["primary_taxonomy"] == "261QM1300X"  # switch "X": the first listed
    assert rows[GONE] == {"npi": GONE, "entity_type": None, "name": None, "status": "deactivated",
                          "deactivation_date": date(2019, 5, 23), "reactivation_date": None,
                          "primary_taxonomy": None, "state": None}
    assert (rows[DOE]["status"], rows[DOE]["reactivation_date"]) == ("active", date(2018, 3, 1))
    assert rows[PATEL]["status"] == "deactivated"  # deactivated again after its reactivation
    assert rows[NORTH]["state"] is None  # not a two-letter US state
    assert (rows[LEE]["name"], rows[LEE]["primary_taxonomy"]) == ("LEE, ANN", None)
    assert [(b.line, b.reason) for b in bad] == [
        (6, f"NPI {BAD_CHECK} fails the check digit"),
        (7, "deactivation date '13/45/2020' is not a MM/DD/YYYY date"),
        (8, "NPI 'ABC1234567' is not 10 digits"),
        (12, "entity type code '3' is not 1 or 2"),
    ]


def test_columns_found_by_name_whatever_the_order() -> None:
    layout, rows, bad = _read(UPDATE)
    assert (layout, bad) == (DISSEMINATION, [])
    assert rows[SMITH]["name"] == "SMITH-JONES, JANE M.D."
    assert rows[SMITH]["state"] == "OR"
    assert rows[LEE]["status"] == "deactivated"


def test_the_real_330_column_header() -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(NPPES_HEADER)
    rng = random.Random(1)
    rows = [sample_row(n, rng) for n in range(300)]
    writer.writerows(rows)
    buf.seek(0)
    reader = NppesReader(buf)
    parsed = [r for _, r in reader]
    assert reader.layout == DISSEMINATION and len(parsed) == 300
    assert not any(isinstance(r, BadRow) for r in parsed)
    col = {name: i for i, name in enumerate(NPPES_HEADER)}
    for raw, rec in zip(rows, parsed, strict=True):
        assert rec["npi"] == raw[col["NPI"]]
        if raw[col["NPI Deactivation Date"]] and not raw[col["NPI Reactivation Date"]]:
            assert rec["status"] == "deactivated" and rec["name"] is None
        else:
            assert rec["status"] == "active"
            assert rec["state"] == raw[col["Provider Business Practice Location Address State Name"]]
            assert rec["primary_taxonomy"] == raw[col["Healthcare Provider Taxonomy Code_1"]]
            expected = (raw[col["Provider Organization Name (Legal Business Name)"]]
                        if raw[col["Entity Type Code"]] == "2" else raw[col["Provider Last Name (Legal Name)"]])
            assert rec["name"].startswith(expected)


def test_deactivation_report_layout() -> None:
    layout, rows, bad = _read(DEACTIVATED)
    assert layout == DEACTIVATION
    assert rows[ACME] == {"npi": ACME, "deactivation_date": date(2024, 4, 30), "status": "deactivated"}
    assert set(rows) == {ACME, DOE, NEW_GONE}
    assert [(b.line, b.reason) for b in bad] == [(6, f"NPI {BAD_CHECK} fails the check digit")]


def test_short_rows_and_blank_lines() -> None:
    text = 'NPI,Entity Type Code,Provider Last Name (Legal Name),Provider First Name\n\n1000000012,1,SMITH\n,,,\n'
    reader = NppesReader(io.StringIO(text))
    assert [(line, r["name"]) for line, r in reader] == [(3, "SMITH")]


@pytest.mark.parametrize("text", [
    "Name,Address\nA,B\n",  # no NPI column
    "NPI,Provider First Name\n1000000012,JANE\n",  # an NPI column but not an NPPES layout
    "",
])
def test_not_an_nppes_file(text: str) -> None:
    with pytest.raises(NppesFormatError):
        NppesReader(io.StringIO(text))


def test_zip_reads_the_data_member(tmp_path: Path) -> None:
    path = tmp_path / "NPPES_Data_Dissemination_July_2024.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("npidata_pfile_20050523-20240707_fileheader.csv", '"NPI","Entity Type Code"\n')
        zf.write(SAMPLE, "npidata_pfile_20050523-20240707.csv")
        zf.writestr("othername_pfile_20050523-20240707.csv", "")
        zf.writestr("NPPES_Data_Dissemination_Readme.pdf", b"%PDF")
    layout, rows, bad = _read(path)
    assert (layout, len(rows), len(bad)) == (DISSEMINATION, 7, 4)


def test_zip_with_no_way_to_choose(tmp_path: Path) -> None:
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.csv", "NPI\n")
        zf.writestr("b.csv", "NPI\n")
    with pytest.raises(NppesFormatError, match="a.csv, b.csv"), open_nppes(path):
        pass


def test_dates_and_status() -> None:
    assert parse_date("05/23/2019") == date(2019, 5, 23)
    assert parse_date("2019-05-23") == date(2019, 5, 23)
    assert parse_date("  ") is None
    for bad in ("5/23/2019", "13/45/2020", "2019/05/23", "yesterday"):
        with pytest.raises(ValueError):
            parse_date(bad)
    d, later, earlier = date(2020, 1, 1), date(2020, 2, 1), date(2019, 1, 1)
    assert npi_state(None, None) == "active"
    assert npi_state(d, None) == "deactivated"
    assert npi_state(d, later) == "active"
    assert npi_state(d, d) == "active"  # reactivated the same day
    assert npi_state(d, earlier) == "deactivated"  # deactivated again


def test_synthetic_npis_are_valid_and_distinct() -> None:
    npis = [synthetic_npi(n) for n in range(2000)]
    assert len(set(npis)) == 2000 and all(npi_is_valid(n) for n in npis)


# --- the table, on every backend -------------------------------------------------------------


@pytest.fixture
async def registry(registry_app):
    """A database of this module's own (the registry is one table for every organization), emptied."""
    db = registry_app.state.db
    async with db.write() as session:
        await session.execute(delete(NpiRecord))
    return db


@pytest.fixture(scope="module")
async def registry_app(backend, tmp_path_factory):
    async with running_app(backend, tmp_path_factory.mktemp("npi"), worker_enabled=False) as application:
        yield application


async def _status(db, npi: str, **kw) -> dict:
    async with db.read() as session:
        return await npi_status(session, npi, **kw)


async def _row(db, npi: str) -> NpiRecord | None:
    async with db.read() as session:
        return await session.get(NpiRecord, npi)


async def test_import_then_status(registry) -> None:
    seen = []
    summary = await import_nppes(registry, SAMPLE, batch_size=3, progress=lambda *a: seen.append(a))
    assert (summary.layout, summary.rows_read, summary.upserted, summary.skipped) == (DISSEMINATION, 11, 7, 4)
    assert [b.line for b in summary.bad_rows] == [6, 7, 8, 12]
    size = SAMPLE.stat().st_size
    assert seen[-1] == (11, size, size) and len(seen) >= 3

    assert await _status(registry, SMITH) == {
        "npi": SMITH, "check_digit_valid": True, "status": "active", "name": "SMITH, JANE M.D.",
        "deactivation_date": None, "source": "NPPES local table"}
    assert (await _status(registry, ACME))["name"] == "ACME ORTHOPEDIC GROUP, LLC"
    assert await _status(registry, GONE) == {
        "npi": GONE, "check_digit_valid": True, "status": "deactivated", "name": None,
        "deactivation_date": "2019-05-23", "source": "NPPES local table"}
    assert (await _status(registry, DOE))["status"] == "active"  # reactivated
    assert (await _status(registry, f"  {PATEL} "))["status"] == "deactivated"
    assert await _status(registry, UNLISTED) == {
        "npi": UNLISTED, "check_digit_valid": True, "status": "not_found", "name": None,
        "deactivation_date": None, "source": "NPPES local table"}
    assert await _status(registry, BAD_CHECK) == {
        "npi": BAD_CHECK, "check_digit_valid": False, "status": "invalid", "name": None,
        "deactivation_date": None, "source": "check digit only"}
    assert (await _status(registry, "12345"))["status"] == "invalid"

    row = await _row(registry, SMITH)
    assert (row.entity_type, row.primary_taxonomy, row.state) == (1, "207X00000X", "CA")
    assert row.updated_at.tzinfo is not None


async def test_reimport_updates_rows(registry) -> None:
    await import_nppes(registry, SAMPLE)
    before = await _row(registry, SMITH)
    summary = await import_nppes(registry, UPDATE)
    assert (summary.rows_read, summary.upserted, summary.skipped) == (3, 3, 0)
    after = await _row(registry, SMITH)
    assert (after.name, after.state, after.status) == ("SMITH-JONES, JANE M.D.", "OR", "active")
    assert after.updated_at >= before.updated_at
    # Deactivated since: NPPES blanked the row, we keep the last name seen.
    assert await _status(registry, LEE) == {
        "npi": LEE, "check_digit_valid": True, "status": "deactivated", "name": "LEE, ANN",
        "deactivation_date": "2024-02-02", "source": "NPPES local table"}
    assert (await _row(registry, LEE)).state == "WA"
    assert (await _status(registry, GARCIA))["name"] == "GARCIA, MARIA NP"  # new in the update
    assert (await _status(registry, NORTH))["status"] == "active"  # untouched
    async with registry.read() as session:
        assert len((await session.execute(select(NpiRecord.npi))).all()) == 8


async def test_deactivation_report(registry) -> None:
    await import_nppes(registry, SAMPLE)
    summary = await import_nppes(registry, DEACTIVATED)
    assert (summary.layout, summary.rows_read, summary.upserted, summary.skipped) == (DEACTIVATION, 4, 3, 1)
    acme = await _status(registry, ACME)
    assert (acme["status"], acme["name"], acme["deactivation_date"]) == (
        "deactivated", "ACME ORTHOPEDIC GROUP, LLC", "2024-04-30")
    assert (await _row(registry, ACME)).primary_taxonomy == "261QM1300X"  # the rest kept
    # The report's 01/15/2018 deactivation predates DOE's 03/01/2018 reactivation: still active.
    doe = await _row(registry, DOE)
    assert (doe.status, doe.reactivation_date) == ("active", date(2018, 3, 1))
    new = await _row(registry, NEW_GONE)
    assert (new.status, new.name, new.entity_type, new.deactivation_date) == (
        "deactivated", None, None, date(2023, 3, 3))


async def test_same_npi_twice_in_one_batch(registry, tmp_path: Path) -> None:
    path = tmp_path / "dupes.csv"
    path.write_text("NPI,Entity Type Code,Provider Organization Name (Legal Business Name)\n"
                    f"{ACME},2,FIRST NAME\n{NORTH},2,OTHER\n{ACME},2,SECOND NAME\n")
    summary = await import_nppes(registry, path, batch_size=10)
    assert (summary.rows_read, summary.upserted) == (3, 3)
    assert (await _row(registry, ACME)).name == "SECOND NAME"


async def test_nothing_imported_means_check_digit_only(registry) -> None:
    assert await _status(registry, UNLISTED) == {
        "npi": UNLISTED, "check_digit_valid": True, "status": "not_found", "name": None,
        "deactivation_date": None, "source": "check digit only"}


async def test_bad_header_writes_nothing(registry, tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("NPI,Name\n1000000012,X\n")
    with pytest.raises(NppesFormatError):
        await import_nppes(registry, path)
    async with registry.read() as session:
        assert (await session.execute(select(NpiRecord.npi))).first() is None


# --- the optional live lookup ----------------------------------------------------------------


def _nppes_api(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _never(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected NPPES API call: {request.url}")


async def test_live_lookup_is_off_by_default(registry) -> None:
    async with _nppes_api(_never) as http:
        assert (await _status(registry, UNLISTED, http=http))["source"] == "check digit only"


async def test_live_lookup(registry) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url)
        number = request.url.params["number"]
        if number == UNLISTED:
            return httpx.Response(200, json={"result_count": 1, "results": [{
                "number": int(number), "enumeration_type": "NPI-1",
                "basic": {"first_name": "ALEX", "last_name": "KIM", "credential": "MD", "status": "A"}}]})
        return httpx.Response(200, json={"result_count": 0, "results": []})

    await import_nppes(registry, SAMPLE)
    async with _nppes_api(handler) as http:
        assert await _status(registry, UNLISTED, live=True, http=http) == {
            "npi": UNLISTED, "check_digit_valid": True, "status": "active", "name": "KIM, ALEX MD",
            "deactivation_date": None, "source": "NPPES API"}
        assert calls[0].params["version"] == "2.1" and calls[0].host == "npiregistry.cms.hhs.gov"
        # The API lists active NPIs only: absent there is "not_found", from the API.
        assert await _status(registry, ANOTHER, live=True, http=http) == {
            "npi": ANOTHER, "check_digit_valid": True, "status": "not_found", "name": None,
            "deactivation_date": None, "source": "NPPES API"}
        # The local table answers first; the API is not asked about an NPI it holds.
        n = len(calls)
        assert (await _status(registry, GONE, live=True, http=http))["source"] == "NPPES local table"
        assert (await _status(registry, BAD_CHECK, live=True, http=http))["status"] == "invalid"
        assert len(calls) == n


async def test_live_lookup_unreachable_falls_back(registry) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route", request=request)

    async with _nppes_api(down) as http:
        assert (await _status(registry, UNLISTED, live=True, http=http))["source"] == "check digit only"
    async with _nppes_api(lambda r: httpx.Response(200, json={"Errors": [{"description": "x"}]})) as http:
        assert (await _status(registry, UNLISTED, live=True, http=http))["source"] == "check digit only"
    async with _nppes_api(lambda r: httpx.Response(503, text="busy")) as http:
        assert (await _status(registry, UNLISTED, live=True, http=http))["status"] == "not_found"


# --- the command, end to end -----------------------------------------------------------------


async def _cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from priorauth.cli import app; app()", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode, " ".join(out.decode().split())


async def test_cli_import(backend, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PRIORAUTH_DATABASE_URL")}
    env |= {"PRIORAUTH_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    async with AsyncExitStack() as stack:
        if backend == "postgresql":
            url = env["DATABASE_URL"] = await stack.enter_async_context(own_database(backend, tmp_path))
        else:  # the command makes its own database under PRIORAUTH_DATA_DIR, migrations and all
            url = f"sqlite+aiosqlite:///{tmp_path}/priorauth.db"

        code, out = await _cli("npi", "import", str(SAMPLE), "--batch-size", "2", env=env)
        assert code == 0, out
        assert "dissemination file: 11 rows read, 7 upserted, 4 skipped" in out
        assert f"line 6: NPI {BAD_CHECK} fails the check digit" in out
        assert "line 12: entity type code '3' is not 1 or 2" in out
        code, out = await _cli("npi", "import", str(UPDATE), env=env)
        assert code == 0 and "3 rows read, 3 upserted, 0 skipped" in out, out

        db = Database(url)
        stack.push_async_callback(db.dispose)
        assert (await _status(db, SMITH))["name"] == "SMITH-JONES, JANE M.D."
        assert (await _status(db, LEE))["status"] == "deactivated"
        async with db.read() as session:
            assert (await session.execute(select(func.count()).select_from(NpiRecord))).scalar_one() == 8
            version = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        assert version >= "0002"

        bad = tmp_path / "not-nppes.csv"
        bad.write_text("Name,Address\nA,B\n")
        code, out = await _cli("npi", "import", str(bad), env=env)
        assert code == 2 and "no header row with an 'NPI' column" in out, out
        code, out = await _cli("npi", "import", str(tmp_path / "missing.csv"), env=env)
        assert code == 2, out
        code, out = await _cli("npi", "import", str(SAMPLE), "--batch-size", "0", env=env)
        assert code == 2, out


def test_generated_sample_file(tmp_path: Path) -> None:
    path = tmp_path / "gen.csv"
    write_sample(path, 50)
    layout, rows, bad = _read(path)
    assert (layout, len(rows), bad) == (DISSEMINATION, 50, [])
