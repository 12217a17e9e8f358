"""A firmware bundle's manifest: its format, its canonical bytes and the checks of its content.

The manifest (JSON, `docs/firmware-bundles.md`) names the SKU, the bundle's version, each
component image (component, version, file, SHA-256, size), the order to apply them, the
dependency constraints (fwupd's ``requires``) and where the reference measurements come from.
The signature covers the *canonical* bytes (keys sorted, no spaces, UTF-8), so reformatting a
manifest does not break it, and the images' digests are inside what is signed.

Pure: plain data in and out; `BundleRefused` says why a manifest is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any

from apps.firmware.images import COMPONENTS

MANIFEST_MAX_BYTES = 64 * 1024
COMPONENTS_MAX = 16
SOURCES = ("artefacts", "golden")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-_+]{0,63}$")
_NUMERIC = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_FILE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-_+]{0,199}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_BOUNDS = {"min_version": "≥", "max_version": "≤", "version": "="}


class BundleRefused(ValueError):
    """The bundle is not accepted; ``code`` names the reason, the message says it."""

    def __init__(self, code: str, message: str) -> None:
        # values quoted from an upload are unbounded: the reason reaching pages and the audit is not
        super().__init__(message if len(message) <= 500 else message[:499] + "…")
        self.code = code


@dataclasses.dataclass(frozen=True)
class ComponentEntry:
    component: str
    version: str
    file: str
    sha256: str
    size: int


@dataclasses.dataclass(frozen=True)
class Manifest:
    """A manifest that passed every check of its own content (not its signature, not images)."""

    sku: str
    version: str
    name: str
    components: tuple[ComponentEntry, ...]  # in apply order
    requires: tuple[dict[str, Any], ...]
    source: str
    release: str  # the FirmwareRelease version the measurements are, "" if none
    pcrs: dict[str, str]  # golden PCR values, {index: hex}, when given
    data: dict[str, Any]  # the parsed manifest, as signed
    canonical: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical).hexdigest()


def canonical_bytes(data: Any) -> bytes:
    """The bytes a signature covers: sorted keys, no insignificant spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def version_key(version: str) -> tuple[int, ...]:
    """A dotted numeric version as integers, trailing zeros dropped ("1.5" == "1.5.0");
    ValueError for anything else."""
    if not _NUMERIC.match(version):
        raise ValueError(f"{version!r} is not a dotted numeric version")
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def version_satisfies(version: str, bound: dict[str, str]) -> bool:
    key = version_key(version)
    if "min_version" in bound and key < version_key(bound["min_version"]):
        return False
    if "max_version" in bound and key > version_key(bound["max_version"]):
        return False
    return not ("version" in bound and key != version_key(bound["version"]))


def describe_bound(bound: dict[str, Any]) -> str:
    return ", ".join(f"{_BOUNDS[k]} {bound[k]}" for k in _BOUNDS if k in bound)


def manifest_load(raw: bytes) -> dict[str, Any]:
    """The manifest's JSON object, or `BundleRefused`."""
    if not raw:
        raise BundleRefused("bad_manifest", "The manifest is empty.")
    if len(raw) > MANIFEST_MAX_BYTES:
        raise BundleRefused(
            "bad_manifest", f"The manifest has {len(raw)} bytes; at most {MANIFEST_MAX_BYTES}."
        )
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BundleRefused("bad_manifest", "The manifest is not readable JSON.") from None
    if not isinstance(data, dict):
        raise BundleRefused("bad_manifest", "The manifest is not a JSON object.")
    return data


def _bad(message: str) -> BundleRefused:
    return BundleRefused("bad_manifest", message)


def _text(data: dict, key: str, pattern: re.Pattern[str], what: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not pattern.match(value):
        raise _bad(f"{what} {value!r} is missing or not valid.")
    return value


def _components(data: dict[str, Any]) -> list[ComponentEntry]:
    items = data.get("components")
    if not isinstance(items, list) or not items:
        raise _bad("`components` must be a non-empty list.")
    if len(items) > COMPONENTS_MAX:
        raise _bad(f"A bundle has at most {COMPONENTS_MAX} components.")
    out: list[ComponentEntry] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _bad(f"components[{i}] is not an object.")
        component = item.get("component")
        if component not in COMPONENTS:
            raise _bad(
                f"components[{i}]: unknown component {component!r} "
                f"(one of {', '.join(COMPONENTS)})."
            )
        size = item.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise _bad(f"components[{i}] ({component}): `size` must be a positive integer.")
        out.append(
            ComponentEntry(
                component=component,
                version=_text(item, "version", _VERSION, f"components[{i}] ({component}) version"),
                file=_text(item, "file", _FILE, f"components[{i}] ({component}) file name"),
                sha256=_text(item, "sha256", _HEX64, f"components[{i}] ({component}) sha256"),
                size=size,
            )
        )
    for field in ("component", "file", "sha256"):
        values = [getattr(c, field) for c in out]
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            raise _bad(f"The bundle lists the same {field} twice: {', '.join(dupes)}.")
    return out


def _ordered(data: dict[str, Any], components: list[ComponentEntry]) -> list[ComponentEntry]:
    order = data.get("order")
    if order is None:
        return components
    names = [c.component for c in components]
    if not isinstance(order, list) or sorted(map(str, order)) != sorted(names):
        raise _bad(f"`order` must list each component once: {', '.join(names)}.")
    by_name = {c.component: c for c in components}
    return [by_name[name] for name in order]


def _requires(data: dict[str, Any], components: list[ComponentEntry]) -> list[dict[str, Any]]:
    """The constraints, checked: known components, numeric bounds, satisfiable by what the
    bundle ships, no cycle, and the apply order puts what is required first."""
    items = data.get("requires", [])
    if not isinstance(items, list):
        raise _bad("`requires` must be a list.")
    shipped = {c.component: c for c in components}
    position = {c.component: i for i, c in enumerate(components)}
    edges: dict[str, set[str]] = {}
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("requires"), list):
            raise _bad(f"requires[{i}] must be {{component, requires: [...]}}.")
        who = item.get("component")
        if who not in shipped:
            raise _bad(f"requires[{i}]: {who!r} is not a component of this bundle.")
        bounds = []
        for need in item["requires"]:
            if not isinstance(need, dict) or need.get("component") not in COMPONENTS:
                raise _bad(f"requires[{i}] ({who}): each requirement names a known component.")
            bound = {k: need[k] for k in _BOUNDS if k in need}
            if not bound or not all(isinstance(v, str) for v in bound.values()):
                raise _bad(
                    f"requires[{i}] ({who}): a requirement on {need['component']} needs "
                    "min_version, max_version or version."
                )
            try:
                for value in bound.values():
                    version_key(value)
            except ValueError as exc:
                raise _bad(f"requires[{i}] ({who}): {exc}.") from None
            other = need["component"]
            text = f"{who} requires {other} {describe_bound(bound)}"
            if (
                "min_version" in bound
                and "max_version" in bound
                and (version_key(bound["min_version"]) > version_key(bound["max_version"]))
            ):
                raise BundleRefused("unsatisfiable", f"Unsatisfiable: {text} (empty range).")
            if other in shipped and other != who:
                try:
                    ok = version_satisfies(shipped[other].version, bound)
                except ValueError:
                    raise _bad(
                        f"{text}, but the bundle's {other} version {shipped[other].version!r} "
                        "is not a dotted numeric version."
                    ) from None
                if not ok:
                    raise BundleRefused(
                        "unsatisfiable",
                        f"Unsatisfiable: {text}, but the bundle ships {other} "
                        f"{shipped[other].version}.",
                    )
            if other in shipped:
                edges.setdefault(who, set()).add(other)
            bounds.append({"component": other, **bound})
        out.append({"component": who, "requires": bounds})
    cycle = _cycle(edges)
    if cycle:
        raise BundleRefused("dependency_cycle", f"Dependency cycle: {' → '.join(cycle)}.")
    for who, needs in edges.items():
        for other in sorted(needs):
            if position[other] > position[who]:
                raise BundleRefused(
                    "unsatisfiable",
                    f"Unsatisfiable order: {who} requires {other}, but the order applies "
                    f"{who} before {other}.",
                )
    return out


def _cycle(edges: dict[str, set[str]]) -> list[str]:
    """One dependency cycle as a path (first node repeated at the end), or []."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for start in sorted(edges):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return []


def _measurements(data: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    m = data.get("measurements")
    if not isinstance(m, dict):
        raise _bad("`measurements` must be {source, release} or {source, pcrs}.")
    source = m.get("source")
    if source not in SOURCES:
        raise _bad(f"measurements.source must be one of {', '.join(SOURCES)}, not {source!r}.")
    release = m.get("release", "")
    if release and (not isinstance(release, str) or not _VERSION.match(release)):
        raise _bad(f"measurements.release {release!r} is not a release version.")
    pcrs = m.get("pcrs", {})
    if not isinstance(pcrs, dict) or not all(
        str(k).isdigit() and int(k) < 24 and isinstance(v, str) and _HEX64.match(v.lower())
        for k, v in pcrs.items()
    ):
        raise _bad("measurements.pcrs must map PCR indices (0-23) to SHA-256 values (hex).")
    if not release and not pcrs:
        raise _bad("measurements needs the firmware release (`release`) or the PCR values.")
    return source, release or "", {str(int(k)): v.lower() for k, v in pcrs.items()}


def manifest_check(data: dict[str, Any]) -> Manifest:
    """The manifest's content checked; `BundleRefused` with the first problem found."""
    sku = _text(data, "sku", _VERSION, "The SKU")
    version = _text(data, "version", _VERSION, "The bundle version")
    name = data.get("name", "")
    if not isinstance(name, str) or len(name) > 200:
        raise _bad("`name` must be text of at most 200 characters.")
    components = _ordered(data, _components(data))
    requires = _requires(data, components)
    source, release, pcrs = _measurements(data)
    return Manifest(
        sku=sku,
        version=version,
        name=name,
        components=tuple(components),
        requires=tuple(requires),
        source=source,
        release=release,
        pcrs=pcrs,
        data=data,
        canonical=canonical_bytes(data),
    )
