"""The SOUP list (``docs/safety/soup.md``), the version lock (``constraints.txt``) and the
declared requirements (``pyproject.toml``) name the same versions (IEC 62304 §8.1.2)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"constraints.txt: {line!r} is not an exact pin (name==version)"
        pins[canonicalize_name(name)] = version.strip()
    return pins


def soup_rows() -> dict[str, str]:
    """{package: resolved version} from the SOUP table's rows that name a PyPI package."""
    rows = {}
    for line in (ROOT / "docs/safety/soup.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not re.fullmatch(r"[A-Za-z0-9_.-]+", cells[0]):
            continue
        m = re.match(r"(\d[\w.]*)", cells[2])
        if m:
            rows[canonicalize_name(cells[0])] = m.group(1)
    return rows


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in ("test", "cluster"):
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return reqs


def test_every_declared_requirement_is_locked_to_a_version_it_allows():
    pins = lock()
    for req in declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is required by pyproject.toml but not in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside pyproject.toml's {req}")


def test_the_soup_list_gives_the_locked_version_of_every_item():
    pins, rows = lock(), soup_rows()
    declared_names = {canonicalize_name(r.name) for r in declared()}
    assert declared_names <= set(rows), (
        f"SOUP items missing from docs/safety/soup.md: {sorted(declared_names - set(rows))}")
    for name, resolved in rows.items():
        if name in pins:
            assert resolved == pins[name], (
                f"docs/safety/soup.md gives {name} {resolved}; constraints.txt locks {pins[name]}")
