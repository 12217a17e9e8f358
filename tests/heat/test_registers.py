"""Register maps: encoding round trips, word order, rollover values and bad maps."""

import pytest

from apps.heat.meters.registers import (
    COMPACT_8DIGIT,
    GENERIC,
    RegisterField,
    RegisterMapError,
    register_map,
    register_map_from_dict,
)

VALUES = {"supply_c": 71.25, "return_c": 43.5, "flow_m3h": 2.75, "power_kw": 88.4,
          "energy_kwh": 123456.7, "status": 5}  # fmt: skip


@pytest.mark.parametrize("rmap", [GENERIC, COMPACT_8DIGIT])
def test_encode_then_decode_gives_the_values_back_within_resolution(rmap):
    decoded = rmap.decode(rmap.encode(VALUES))
    for name, value in VALUES.items():
        resolution = rmap.all_fields()[name].scale
        assert decoded[name] == pytest.approx(value, abs=resolution)


def test_word_order_swaps_the_two_registers():
    big = RegisterField(0, "uint32", word_order="big").encode(0x12345678)
    little = RegisterField(0, "uint32", word_order="little").encode(0x12345678)
    assert big == [0x1234, 0x5678] and little == [0x5678, 0x1234]
    assert RegisterField(0, "int32", 0.1, word_order="little").decode([0xFFFF, 0xFFFF]) == -0.1


def test_rollover_values_follow_from_the_register_width_and_display():
    assert GENERIC.rollover_kwh == pytest.approx(429_496_729.6)
    assert COMPACT_8DIGIT.rollover_kwh == 100_000_000


def test_values_that_do_not_fit_saturate_only_when_asked():
    field = RegisterField(0, "int16", 0.01)
    with pytest.raises(RegisterMapError):
        field.encode(400.0)
    assert field.decode(field.encode(400.0, saturate=True)) == pytest.approx(327.67)


def test_maps_can_be_built_from_json_and_bad_ones_are_refused():
    data = {"name": "custom", "rollover_kwh": 1e6, "table": "input", "fields": {
        q: {"address": 2 * i, "data_type": "float32"}
        for i, q in enumerate(["supply_c", "return_c", "flow_m3h", "power_kw", "energy_kwh"])
    }}  # fmt: skip
    assert register_map_from_dict(data).span == (0, 10)
    power_on_return = {"address": 1, "data_type": "uint16"}
    overlapping = {**data, "fields": {**data["fields"], "power_kw": power_on_return}}
    wide = {**data, "fields": {"supply_c": {"address": 0, "data_type": "int64"}}}
    for bad in ({}, {**data, "rollover_kwh": -1}, {**data, "table": "coils"}, overlapping, wide):
        with pytest.raises(RegisterMapError):
            register_map_from_dict(bad)
    with pytest.raises(RegisterMapError, match="known: compact-8digit, generic"):
        register_map("kamstrup")
