"""The public third-party event-log vectors: optional interoperability tests.

The vectors (go-attestation, tpm2-tools and keylime event logs with the PCR values their
upstreams state) are other projects' files and are never committed here. ``HEATSITE_VECTORS``
names a testdata folder holding them (``<folder>/eventlogs/expected.json`` and the logs under
their upstream paths); CI's ``.ci/run`` sets it when it has them. Tests that read them carry
``@pytest.mark.vectors`` (or use the ``vectors`` fixture) and are skipped, with ``SKIP_REASON``,
when the variable is unset. This module is the only place that locates them.
"""

from __future__ import annotations

import base64
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

ENV = "HEATSITE_VECTORS"
SKIP_REASON = f"public event-log vectors not available: set {ENV} to a testdata folder"
TPM2_TOOLS = "tpm2-tools/test/integration/fixtures/"


@dataclass(frozen=True)
class Vectors:
    """The event-log vectors: ``root`` is ``<testdata>/eventlogs``, ``expected`` its
    ``expected.json`` (log name -> {"pcrs": {bank: {pcr: hex}}, ...})."""

    root: Path
    expected: dict

    def path(self, name: str) -> Path:
        return self.root / name

    def read_log(self, name: str) -> bytes:
        """The raw binary log (go-attestation's JSON dumps carry it base64 under Log.Raw)."""
        raw = self.path(name).read_bytes()
        if name.endswith(".json"):
            return base64.b64decode(json.loads(raw)["Log"]["Raw"])
        return raw

    def tpm2_tools(self, name: str) -> bytes:
        return self.read_log(TPM2_TOOLS + name)


class VectorsMisconfigured(pytest.UsageError):
    """HEATSITE_VECTORS is set but does not name a testdata folder with the vectors."""


@functools.cache
def load() -> Vectors | None:
    """The vectors named by HEATSITE_VECTORS (read once per run); None when it is unset."""
    return locate(os.environ.get(ENV))


def locate(value: str | None) -> Vectors | None:
    """The vectors in testdata folder ``value``; None when ``value`` is unset or empty.

    A set variable that names no vectors is a usage error, never a silent skip: CI sets it.
    """
    value = (value or "").strip()
    if not value:
        return None
    root = Path(value).expanduser().resolve() / "eventlogs"
    expected = root / "expected.json"
    if not expected.is_file():
        raise VectorsMisconfigured(
            f"{ENV}={value} is not a testdata folder: {expected} does not exist"
        )
    return Vectors(root, json.loads(expected.read_text()))


def available() -> bool:
    return load() is not None


def log_names() -> list:
    """Parameters for a test run once per vector log: the names, or one placeholder that the
    ``vectors`` marker skips when the vectors are absent (collection never fails)."""
    vectors = load()
    if vectors is None:
        return [pytest.param(None, id="vectors-absent")]
    return sorted(vectors.expected)
