"""The statement PDF as a partner prints it: labels clear of their values, unknowns said as
such, and no fontTools chatter in the logs."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess

import pytest

from apps.heat import statements


def document(**over):
    line = {
        "meter_serial": "HM-0001",
        "start_reading_at": None,
        "start_register_kwh": None,
        "end_reading_at": None,
        "end_register_kwh": None,
        "energy_kwh": None,
        "coverage": 0.0,
        "hours_at_or_above_contract": 0.0,
        "hours_below_contract": 0.0,
    }
    doc = {
        "site_code": "paris-1",
        "site_name": "Résidence Paris 1",
        "partner": "Réseau Chaleur Urbaine",
        "month": "2025-11",
        "timezone": "Europe/Paris",
        "period_start": "2025-11-01T00:00:00+01:00",
        "period_end": "2025-12-01T00:00:00+01:00",
        "contract_min_supply_c": 65.0,
        "generated_at": "2025-12-02T10:00:00+01:00",
        "lines": [line],
        "energy_kwh": None,
        "coverage": 0.0,
        "hours_at_or_above_contract": 0.0,
        "hours_below_contract": 0.0,
    }
    doc.update(over)
    return doc


def words(pdf: bytes) -> list[tuple[float, float, float, str]]:
    """(xMin, xMax, yMin, word) of every word on the page, from ``pdftotext -bbox``."""
    html = subprocess.run(
        [shutil.which("pdftotext") or "pdftotext", "-bbox", "-", "-"],
        input=pdf,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    pattern = r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>'
    return [(float(a), float(c), float(b), w) for a, b, c, w in re.findall(pattern, html)]


@pytest.mark.parametrize("dejavu", [True, False], ids=["dejavu", "core-font"])
def test_no_header_label_runs_into_its_value(tmp_path, dejavu):
    kwargs = {} if dejavu else {"font_dir": tmp_path}
    placed = words(statements.statement_pdf(document(), **kwargs))
    label_end = {w: x1 for x0, x1, y, w in placed if w in ("supply", "Period", "Generated")}
    value_start = {}
    for x0, _, _, w in placed:
        if w in ("≥", ">=") or w.startswith("2025-"):
            value_start.setdefault(w, x0)
    first_value = min(value_start.values())
    assert label_end["supply"] < first_value - 2  # points of white space between them
    assert label_end["Generated"] < first_value - 2


def test_unknown_energy_reads_n_a_on_the_line_and_in_the_total():
    text = subprocess.run(
        [shutil.which("pdftotext") or "pdftotext", "-layout", "-", "-"],
        input=statements.statement_pdf(document()),
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    energy_lines = [ln.split() for ln in text.splitlines() if ln.startswith("Energy delivered")]
    assert [ln[-1] for ln in energy_lines] == ["n/a", "n/a"]
    assert "0.000 kWh" not in text


def test_generating_a_pdf_logs_nothing_from_fonttools_at_info(caplog):
    with caplog.at_level(logging.DEBUG):
        statements.statement_pdf(document())
    chatter = [r for r in caplog.records if r.name.startswith("fontTools")]
    assert chatter == []
