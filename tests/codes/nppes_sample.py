"""The real 330-column NPPES dissemination header, and a generator of synthetic rows for it.

`python tests/codes/nppes_sample.py OUT.csv [ROWS]` writes a file for timing `priorauth npi import`.
The NPIs are synthetic (valid check digits, bases from 100000000 up) and so are the names.
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

from priorauth.codes import npi_is_valid

NPPES_HEADER: list[str] = [
    "NPI", "Entity Type Code", "Replacement NPI", "Employer Identification Number (EIN)",
    "Provider Organization Name (Legal Business Name)", "Provider Last Name (Legal Name)", "Provider First Name",
    "Provider Middle Name", "Provider Name Prefix Text", "Provider Name Suffix Text", "Provider Credential Text",
    "Provider Other Organization Name", "Provider Other Organization Name Type Code", "Provider Other Last Name",
    "Provider Other First Name", "Provider Other Middle Name", "Provider Other Name Prefix Text",
    "Provider Other Name Suffix Text", "Provider Other Credential Text", "Provider Other Last Name Type Code",
    "Provider First Line Business Mailing Address", "Provider Second Line Business Mailing Address",
    "Provider Business Mailing Address City Name", "Provider Business Mailing Address State Name",
    "Provider Business Mailing Address Postal Code",
    "Provider Business Mailing Address Country Code (If outside U.S.)",
    "Provider Business Mailing Address Telephone Number", "Provider Business Mailing Address Fax Number",
    "Provider First Line Business Practice Location Address",
    "Provider Second Line Business Practice Location Address",
    "Provider Business Practice Location Address City Name",
    "Provider Business Practice Location Address State Name",
    "Provider Business Practice Location Address Postal Code",
    "Provider Business Practice Location Address Country Code (If outside U.S.)",
    "Provider Business Practice Location Address Telephone Number",
    "Provider Business Practice Location Address Fax Number", "Provider Enumeration Date", "Last Update Date",
    "NPI Deactivation Reason Code", "NPI Deactivation Date", "NPI Reactivation Date", "Provider Sex Code",
    "Authorized Official Last Name", "Authorized Official First Name", "Authorized Official Middle Name",
    "Authorized Official Title or Position", "Authorized Official Telephone Number",
    *[name for i in range(1, 16) for name in (
        f"Healthcare Provider Taxonomy Code_{i}", f"Provider License Number_{i}",
        f"Provider License Number State Code_{i}", f"Healthcare Provider Primary Taxonomy Switch_{i}")],
    *[name for i in range(1, 51) for name in (
        f"Other Provider Identifier_{i}", f"Other Provider Identifier Type Code_{i}",
        f"Other Provider Identifier State_{i}", f"Other Provider Identifier Issuer_{i}")],
    "Is Sole Proprietor", "Is Organization Subpart", "Parent Organization LBN", "Parent Organization TIN",
    "Authorized Official Name Prefix Text", "Authorized Official Name Suffix Text",
    "Authorized Official Credential Text",
    *[f"Healthcare Provider Taxonomy Group_{i}" for i in range(1, 16)],
    "Certification Date",
]
assert len(NPPES_HEADER) == 330

_COL = {name: i for i, name in enumerate(NPPES_HEADER)}
_LAST = ["SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS", "NGUYEN", "PATEL"]
_FIRST = ["JAMES", "MARY", "ROBERT", "PATRICIA", "JOHN", "JENNIFER", "MICHAEL", "LINDA", "DAVID", "ANH"]
_STATES = ["CA", "TX", "NY", "FL", "PA", "IL", "OH", "GA", "NC", "MI"]
_TAXONOMIES = ["207Q00000X", "207R00000X", "363L00000X", "225100000X", "261QM1300X", "207X00000X"]


def synthetic_npi(n: int) -> str:
    base = f"{1 + n // 900_000_000}{(n % 900_000_000) + 100_000_000:09d}"[-9:]
    return next(base + d for d in "0123456789" if npi_is_valid(base + d))


def sample_row(n: int, rng: random.Random) -> list[str]:
    row = [""] * len(NPPES_HEADER)

    def put(name: str, value: str) -> None:
        row[_COL[name]] = value

    put("NPI", synthetic_npi(n))
    put("Last Update Date", "07/08/2024")
    if rng.random() < 0.03:  # deactivated: NPPES blanks everything but the NPI and the date
        put("NPI Deactivation Date", "05/23/2019")
        return row
    org = rng.random() < 0.25
    put("Entity Type Code", "2" if org else "1")
    if org:
        put("Provider Organization Name (Legal Business Name)", f"{rng.choice(_LAST)} MEDICAL GROUP, LLC")
        put("Authorized Official Last Name", rng.choice(_LAST))
        put("Authorized Official First Name", rng.choice(_FIRST))
    else:
        put("Provider Last Name (Legal Name)", rng.choice(_LAST))
        put("Provider First Name", rng.choice(_FIRST))
        put("Provider Credential Text", rng.choice(["M.D.", "D.O.", "NP", "PA-C", ""]))
        put("Provider Sex Code", rng.choice("MF"))
    state = rng.choice(_STATES)
    for kind in ("Mailing", "Practice Location"):
        put(f"Provider First Line Business {kind} Address", f"{rng.randint(1, 9999)} MAIN ST")
        put(f"Provider Business {kind} Address City Name", "SPRINGFIELD")
        put(f"Provider Business {kind} Address State Name", state)
        put(f"Provider Business {kind} Address Postal Code", f"{rng.randint(10000, 99999)}0000")
        put(f"Provider Business {kind} Address Country Code (If outside U.S.)", "US")
        put(f"Provider Business {kind} Address Telephone Number", f"555{rng.randint(1000000, 9999999)}")
    put("Provider Enumeration Date", "05/23/2005")
    for slot in range(1, rng.randint(1, 3) + 1):
        put(f"Healthcare Provider Taxonomy Code_{slot}", rng.choice(_TAXONOMIES))
        put(f"Provider License Number_{slot}", f"A{rng.randint(10000, 99999)}")
        put(f"Provider License Number State Code_{slot}", state)
        put(f"Healthcare Provider Primary Taxonomy Switch_{slot}", "Y" if slot == 1 else "N")
    if rng.random() < 0.01:
        put("NPI Deactivation Date", "01/15/2018")
        put("NPI Reactivation Date", "03/01/2018")
    return row


def write_sample(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        # The real file quotes every field, empty or not.
        writer = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(NPPES_HEADER)
        for n in range(rows):
            writer.writerow(sample_row(n, rng))


if __name__ == "__main__":
    write_sample(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)
