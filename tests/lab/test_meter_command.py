"""The lab_meters management command: it serves what it is told and refuses bad configs."""

import json

import pytest
from django.core.management import CommandError, call_command

from apps.heat.meters import driver_for


def test_config_file_meters_are_served_and_readable(tmp_path, capsys):
    config = tmp_path / "meters.json"
    config.write_text(json.dumps([
        {"port": 0, "unit_id": 4, "serial": "CFG-1", "model": "compact-8digit", "nominal_kw": 50},
    ]))  # fmt: skip
    call_command("lab_meters", config=str(config), run_for=0.3)
    out = capsys.readouterr().out
    assert "CFG-1" in out and "unit 4" in out and "compact-8digit" in out


@pytest.mark.parametrize("content", ["not json", "[]", '[{"port": 1}]',
                                     '[{"port": 0, "unit_id": 1, "serial": "X", '
                                     '"model": "nope", "nominal_kw": 1}]'])  # fmt: skip
def test_bad_config_is_a_command_error(tmp_path, content):
    config = tmp_path / "meters.json"
    config.write_text(content)
    with pytest.raises(CommandError):
        call_command("lab_meters", config=str(config), run_for=0.1)


def test_driver_for_rejects_unknown_protocols():
    from apps.heat.meters import MeterError

    with pytest.raises(MeterError) as err:
        driver_for(protocol="mbus", host="h", port=1, unit_id=1, model="generic")
    assert not err.value.transient
