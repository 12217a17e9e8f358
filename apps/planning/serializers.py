"""The comparison API's document, described for the schema.

A row's fields are ``SiteFigures``' own, typed from the dataclass and labelled from the
table's columns, so the schema cannot drift from what the API returns.
"""

from __future__ import annotations

import types
import typing
from dataclasses import fields

from rest_framework import serializers

from .selectors import COLUMN_BY_KEY, SiteFigures

_FIELD_BY_TYPE = {
    int: serializers.IntegerField,
    float: serializers.FloatField,
    str: serializers.CharField,
}
_HELP = {
    "id": "Site id.",
    "heat_power_mwh": "Heat integrated from the meters' power, MWh_th.",
    "electrical_coverage_pct": "Share of the period with electrical data, %.",
    "heat_previous_mwh": "Heat delivered in the period just before, MWh_th.",
    "co2_factor_kg_per_mwh": "CO₂ of the displaced heat source, kg per MWh_th.",
    "contract_min_supply_c": "Contracted minimum supply temperature, °C.",
}


def _field(name: str, hint: object) -> serializers.Field:
    args = typing.get_args(hint)
    nullable = isinstance(hint, types.UnionType) and type(None) in args
    base = next(a for a in args if a is not type(None)) if nullable else hint
    column = COLUMN_BY_KEY.get(name)
    help_text = _HELP.get(name) or (column.title if column else "")
    if nullable:
        help_text = f"{help_text} Null when unknown.".strip()
    return _FIELD_BY_TYPE[base](allow_null=nullable, help_text=help_text)


def _site_figures_serializer() -> type[serializers.Serializer]:
    hints = typing.get_type_hints(SiteFigures)
    attrs = {f.name: _field(f.name, hints[f.name]) for f in fields(SiteFigures)}
    attrs["__doc__"] = "One site's figures over the period (site-local days)."
    return type("SiteFiguresSerializer", (serializers.Serializer,), attrs)


SiteFiguresSerializer = _site_figures_serializer()


class ColumnSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The row field holding this figure.")
    label = serializers.CharField()
    unit = serializers.CharField()


class ComparisonSerializer(serializers.Serializer):
    start = serializers.DateField(help_text="First day.")
    end = serializers.DateField(help_text="Day after the last (exclusive).")
    days = serializers.IntegerField()
    time_convention = serializers.CharField()
    columns = ColumnSerializer(many=True, help_text="The figures of the table, in order.")
    sites = SiteFiguresSerializer(many=True)
