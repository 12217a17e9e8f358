"""The lock files pin, with hashes, every requirement pyproject.toml asks for.

`make test` and `make demo` install from the locks; a requirement added to pyproject.toml without
`make lock` would otherwise be installed nowhere, or a lock edited by hand would drift from it.
"""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def pins(lock: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    lines = lock.read_text().splitlines()
    for number, line in enumerate(lines):
        match = PIN.match(line)
        if not match:
            continue
        following = " ".join(lines[number : number + 3])
        assert "--hash=sha256:" in following, f"{lock.name}: {match[1]} is pinned without a hash"
        found[canonicalize_name(match[1])] = match[2]
    return found


def requirements(pyproject: Path, extras: tuple[str, ...] = ()) -> list[Requirement]:
    project = tomllib.loads(pyproject.read_text())["project"]
    names = list(project.get("dependencies", []))
    for extra in extras:
        names += project["optional-dependencies"][extra]
    return [Requirement(name) for name in names]


@pytest.mark.parametrize(
    ("lock", "sources"),
    [
        (
            "requirements/heatsite.lock",
            [("pyproject.toml", ("dev",)), ("agent/pyproject.toml", ())],
        ),
        ("agent/requirements.lock", [("agent/pyproject.toml", ())]),
    ],
)
def test_lock_pins_every_requirement_within_its_range(lock, sources):
    pinned = pins(ROOT / lock)
    for pyproject, extras in sources:
        for requirement in requirements(ROOT / pyproject, extras):
            name = canonicalize_name(requirement.name)
            assert name in pinned, f"{requirement} is in {pyproject} but not in {lock}: make lock"
            assert requirement.specifier.contains(pinned[name], prereleases=True), (
                f"{lock} pins {name}=={pinned[name]}, outside {pyproject}'s {requirement}: "
                "make lock"
            )


def test_lock_holds_the_build_backend_of_our_own_packages():
    # `pip install --no-build-isolation -e .` builds with what the venv has: the locked setuptools.
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    pinned = pins(ROOT / "requirements/heatsite.lock")
    for requirement in map(Requirement, build):
        assert requirement.specifier.contains(pinned[canonicalize_name(requirement.name)])
