"""What the repository itself promises: text only, and a lock that matches the declared ranges."""
from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_SUFFIXES = {".pdf", ".png", ".jpg", ".tif", ".tiff"}  # test inputs may be binary, under tests/ only


def _tracked() -> list[Path]:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in listed.decode().split("\0") if name]


def test_the_repository_carries_no_binaries():
    binary = []
    for path in _tracked():
        if path.is_file() and b"\0" in path.read_bytes()[:8192]:
            if not (path.suffix.lower() in FIXTURE_SUFFIXES and path.is_relative_to(ROOT / "tests")):
                binary.append(str(path.relative_to(ROOT)))
    assert binary == []


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [Requirement(text) for text in project["dependencies"] + extras["dev"] + extras["bench"]]


def _locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_the_lock_pins_every_dependency_within_its_declared_range():
    """A dependency added or re-ranged in pyproject.toml without `python scripts/lock.py` fails here."""
    locked = _locked()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is declared but not in requirements.lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), (str(requirement), locked[name])
