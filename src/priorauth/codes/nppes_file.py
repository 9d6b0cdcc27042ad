"""Reading the CMS NPPES files, one row at a time (the full dissemination file is ~9 GB).

Two layouts are understood, both looked up by header name so extra, missing or reordered columns
are fine (only "NPI" is required):

- the NPI dissemination file (`npidata_pfile_*.csv`, monthly full and weekly incremental), and
- the deactivated-NPI report saved as CSV: "NPI" and "NPPES Deactivation Date", possibly below a
  title line.

A `.zip` is read in place (the `npidata_pfile_*.csv` member, or its only CSV). Pure apart from
reading the file: no database here.
"""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TextIO

from priorauth.codes.formats import npi_is_valid

DISSEMINATION = "dissemination"
DEACTIVATION = "deactivation"

_TAXONOMY_SLOTS = 15
_MISSING = -1  # the column index of a column the header lacks (see NppesReader.__iter__)
_HEADER_SCAN_ROWS = 10  # the deactivation report starts with a title line or two
_NPI_SHAPE = re.compile(r"[0-9]{10}")

# Lower-cased header names.
_NPI = "npi"
_ENTITY = "entity type code"
_ORG_NAME = "provider organization name (legal business name)"
_LAST = "provider last name (legal name)"
_FIRST = "provider first name"
_CREDENTIAL = "provider credential text"
_DEACTIVATED = ("npi deactivation date", "nppes deactivation date")
_REACTIVATED = "npi reactivation date"
_STATE = "provider business practice location address state name"


def _taxonomy(i: int) -> str:
    return f"healthcare provider taxonomy code_{i}"


def _switch(i: int) -> str:
    return f"healthcare provider primary taxonomy switch_{i}"


class NppesFormatError(ValueError):
    """The file is not one of the NPPES layouts we read."""


@dataclass(frozen=True)
class BadRow:
    line: int  # physical line in the file where the row ends (the header is line 1)
    reason: str


def parse_date(value: str) -> date | None:
    """NPPES dates are MM/DD/YYYY; ISO YYYY-MM-DD (a spreadsheet export) is accepted too."""
    v = value.strip()
    if not v:
        return None
    if len(v) == 10 and v[2] == "/" and v[5] == "/":
        return date(int(v[6:10]), int(v[0:2]), int(v[3:5]))
    if len(v) == 10 and v[4] == "-" and v[7] == "-":
        return date(int(v[0:4]), int(v[5:7]), int(v[8:10]))
    raise ValueError(v)


def npi_state(deactivation: date | None, reactivation: date | None) -> str:
    """Deactivated when there is a deactivation date and no reactivation on or after it."""
    if deactivation is None or (reactivation is not None and reactivation >= deactivation):
        return "active"
    return "deactivated"


def individual_name(last: str, first: str, credential: str) -> str:
    name = last
    if first:
        name = f"{name}, {first}" if name else first
    if credential:
        name = f"{name} {credential}" if name else credential
    return name


class NppesReader:
    """Iterate an NPPES CSV: yields (line, record) for good rows and (line, BadRow) for bad ones.

    A record is a dict with the NpiRecord columns (less updated_at). In the deactivation layout it
    carries only npi, deactivation_date and status.
    """

    def __init__(self, stream: TextIO):
        self._reader = csv.reader(stream)
        header = self._find_header()
        self._width = len(header)
        index = {name.strip().lower(): i for i, name in enumerate(header)}
        # Every row gets an empty cell appended (see __iter__): a missing column reads that one.

        def col(name: str) -> int:
            return index.get(name, _MISSING)

        self._npi = index[_NPI]
        self._deactivated = next((index[h] for h in _DEACTIVATED if h in index), _MISSING)
        if _ENTITY in index:
            self.layout = DISSEMINATION
        elif self._deactivated != _MISSING:
            self.layout = DEACTIVATION
        else:
            raise NppesFormatError("the header has an NPI column but neither 'Entity Type Code' (NPI "
                                   "dissemination file) nor 'NPPES Deactivation Date' (deactivation report)")
        self._entity = col(_ENTITY)
        self._org = col(_ORG_NAME)
        self._last = col(_LAST)
        self._first = col(_FIRST)
        self._credential = col(_CREDENTIAL)
        self._reactivated = col(_REACTIVATED)
        self._state = col(_STATE)
        self._taxonomies = [(index[_taxonomy(i)], col(_switch(i)))
                            for i in range(1, _TAXONOMY_SLOTS + 1) if _taxonomy(i) in index]

    def _find_header(self) -> list[str]:
        for _ in range(_HEADER_SCAN_ROWS):
            row = next(self._reader, None)
            if row is None:
                break
            if any(cell.strip().lower() == _NPI for cell in row):
                return row
        raise NppesFormatError("no header row with an 'NPI' column in the first "
                               f"{_HEADER_SCAN_ROWS} lines; is this an NPPES CSV file?")

    def __iter__(self) -> Iterator[tuple[int, dict | BadRow]]:
        parse = self._parse_dissemination if self.layout == DISSEMINATION else self._parse_deactivation
        width = self._width
        for row in self._reader:
            line = self._reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # a blank line or a spreadsheet's empty row (",,")
            if len(row) < width:
                row.extend([""] * (width - len(row)))
            row.append("")  # the cell every missing column reads
            try:
                yield line, parse(row)
            except _Bad as bad:
                yield line, BadRow(line, str(bad))

    def _npi_of(self, row: list[str]) -> str:
        npi = row[self._npi].strip()
        if not npi:
            raise _Bad("no NPI")
        if not _NPI_SHAPE.fullmatch(npi):
            raise _Bad(f"NPI '{npi[:20]}' is not 10 digits")
        if not npi_is_valid(npi):
            raise _Bad(f"NPI {npi} fails the check digit")
        return npi

    @staticmethod
    def _date(row: list[str], i: int, what: str) -> date | None:
        value = row[i]
        if not value:
            return None
        try:
            return parse_date(value)
        except ValueError:
            raise _Bad(f"{what} '{value.strip()[:20]}' is not a MM/DD/YYYY date") from None

    def _parse_deactivation(self, row: list[str]) -> dict:
        npi = self._npi_of(row)
        deactivated = self._date(row, self._deactivated, "deactivation date")
        if deactivated is None:
            raise _Bad("no deactivation date")
        return {"npi": npi, "deactivation_date": deactivated, "status": "deactivated"}

    def _parse_dissemination(self, row: list[str]) -> dict:
        npi = self._npi_of(row)
        entity_code = row[self._entity].strip()
        if entity_code not in ("", "1", "2"):
            raise _Bad(f"entity type code '{entity_code[:10]}' is not 1 or 2")
        entity = int(entity_code) if entity_code else None
        deactivated = self._date(row, self._deactivated, "deactivation date")
        reactivated = self._date(row, self._reactivated, "reactivation date")
        org = row[self._org].strip()
        person = individual_name(row[self._last].strip(), row[self._first].strip(), row[self._credential].strip())
        name = (org or person) if entity != 1 else (person or org)
        state = row[self._state].strip().upper()
        return {
            "npi": npi,
            "entity_type": entity,
            "name": name[:300] or None,
            "status": npi_state(deactivated, reactivated),
            "deactivation_date": deactivated,
            "reactivation_date": reactivated,
            "primary_taxonomy": self._primary_taxonomy(row),
            "state": state if len(state) == 2 and state.isascii() and state.isalpha() else None,
        }

    def _primary_taxonomy(self, row: list[str]) -> str | None:
        first = None
        for code_i, switch_i in self._taxonomies:
            code = row[code_i].strip()
            if not code:
                continue
            if row[switch_i].strip().upper() == "Y":
                return code[:20]
            first = first or code
        # No slot flagged primary (older organization records say "X"): take the first listed.
        return first[:20] if first else None


class _Bad(Exception):
    pass


def _zip_member(zf: zipfile.ZipFile) -> zipfile.ZipInfo:
    csvs = [i for i in zf.infolist() if i.filename.lower().endswith(".csv")]
    data = [i for i in csvs if re.search(r"npidata_pfile_.*(?<!_fileheader)\.csv$", i.filename, re.IGNORECASE)]
    if len(data) == 1:
        return data[0]
    if len(csvs) == 1:
        return csvs[0]
    names = ", ".join(i.filename for i in zf.infolist()) or "nothing"
    raise NppesFormatError(f"cannot tell which file in the zip to read (it holds {names}); "
                           "extract the npidata_pfile_*.csv and import that")


@contextmanager
def open_nppes(path: str | os.PathLike) -> Iterator[tuple[TextIO, Callable[[], int], int]]:
    """Open a CSV (or a .zip holding one) as text; yields (stream, bytes read so far, total bytes)."""
    path = Path(path)
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            member = _zip_member(zf)
            with zf.open(member) as raw:
                yield _text(raw), raw.tell, member.file_size
    else:
        with open(path, "rb") as raw:
            yield _text(raw), raw.tell, os.fstat(raw.fileno()).st_size


def _text(raw) -> TextIO:
    # NPPES publishes UTF-8; replacing undecodable bytes keeps one odd name from stopping a 9 GB run.
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
