"""The systemd units in deploy/systemd/ pass `systemd-analyze verify`, installed where the
repository is (the units say /opt/heatsite), and what they start exists."""

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy" / "systemd").iterdir())
ANALYZE = shutil.which("systemd-analyze")


def installed(tmp_path: Path) -> list[Path]:
    out = []
    for unit in UNITS:
        target = tmp_path / unit.name
        target.write_text(unit.read_text().replace("/opt/heatsite", str(ROOT)))
        out.append(target)
    return out


def exec_start(unit: Path) -> list[str]:
    text = unit.read_text().replace("\\\n", " ")
    match = re.search(r"^ExecStart=(.+)$", text, re.M)
    return match[1].split() if match else []


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
def test_every_unit_verifies_cleanly(tmp_path):
    units = installed(tmp_path)
    assert {u.name for u in units} >= {
        "heatsite-web.service", "heatsite-worker.service", "heatsite-beat.service",
        "heatsite-console.service", "heatsite-gateway.service",
    }  # fmt: skip
    result = subprocess.run(
        [ANALYZE, "verify", "--man=no", *map(str, units)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    # verify exits 0 on some parse errors ("ignoring"): any message is a defect.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("unit", [u for u in UNITS if u.suffix == ".service"], ids=lambda u: u.name)
def test_what_each_unit_starts_exists(unit):
    argv = exec_start(unit)
    assert argv, f"{unit.name} has no ExecStart"
    program = Path(argv[0].replace("/opt/heatsite", str(ROOT)))
    assert program.name in {"uvicorn", "celery", "python"}, program
    if program.name == "uvicorn":
        module = argv[1].split(":")[0]
        assert importlib.util.find_spec(module), module
    elif program.name == "celery":
        assert argv[1:3] == ["-A", "heatsite"] and argv[3] in {"worker", "beat"}
    elif argv[1] == "manage.py":
        assert argv[2] in get_commands(), argv[2]
    else:
        assert argv[1] == "-m" and importlib.util.find_spec(argv[2]), argv[2]
        assert "--config" in argv
