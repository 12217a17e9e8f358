"""The heat API's documents, described for the schema: a site's series and its statement.

The views build these documents from selectors and statements; the serializers say what is in
them (the API tests validate real answers against the schema built from here). A figure that
is unknown is ``null``, never a zero.
"""

from rest_framework import serializers


def _figure(help_text: str, *, always: bool = False) -> serializers.FloatField:
    """A float that may be unknown (null); ``always``: the key is always there."""
    return serializers.FloatField(allow_null=True, required=always, help_text=help_text)


class HeatPointSerializer(serializers.Serializer):
    """One point of a series: a reading (``raw``) or a bucket (``hour``, ``day``).

    A null point where a meter's readings are further apart than the gap limit breaks the
    line in charts. ``meter`` (raw only) is left out for roles that never see hardware.
    """

    ts = serializers.DateTimeField(help_text="Reading time or bucket start, in site-local time.")
    meter = serializers.CharField(required=False, help_text="Meter serial (raw, hardware roles).")
    supply_c = _figure("Supply temperature, °C (raw).")
    return_c = _figure("Return temperature, °C (raw).")
    flow_m3h = _figure("Flow, m³/h (raw).")
    power_kw = _figure("Thermal power, kW (raw: the meter's; buckets: the average).")
    energy_kwh = _figure("Raw: the energy register, kWh. Buckets: energy delivered, kWh.")
    energy_power_kwh = _figure("Energy integrated from power, kWh (buckets).")
    supply_min_c = _figure("Lowest supply temperature, °C (buckets).")
    supply_avg_c = _figure("Average supply temperature, °C (buckets).")
    supply_max_c = _figure("Highest supply temperature, °C (buckets).")
    return_avg_c = _figure("Average return temperature, °C (buckets).")
    flow_avg_m3h = _figure("Average flow, m³/h (buckets).")
    hours_below = _figure(
        "Hours below the contracted supply temperature (buckets); null without covered time."
    )
    coverage = _figure("Fraction of the bucket covered by readings, 0 to 1 (buckets).")


class SiteHeatSerializer(serializers.Serializer):
    site_id = serializers.IntegerField()
    site_code = serializers.CharField()
    timezone = serializers.CharField(help_text="The site's time zone; times are local to it.")
    resolution = serializers.ChoiceField(choices=["raw", "hour", "day"])
    start = serializers.DateTimeField(help_text="Start of the series (inclusive), local time.")
    end = serializers.DateTimeField(help_text="End of the series (exclusive), local time.")
    contract_min_supply_c = serializers.FloatField(
        help_text="Contracted minimum supply temperature, °C."
    )
    points = HeatPointSerializer(many=True)


class MonthFiguresSerializer(serializers.Serializer):
    """The month's coverage and contract hours, for one meter and for the whole site."""

    coverage = _figure("Fraction of the month covered by readings, 0 to 1.", always=True)
    hours_at_or_above_contract = _figure(
        "Hours at or above the contracted supply temperature; null when no time of the month "
        "is covered by readings.",
        always=True,
    )
    hours_below_contract = _figure(
        "Hours below the contracted supply temperature; null when no time of the month is "
        "covered by readings.",
        always=True,
    )


class StatementLineSerializer(MonthFiguresSerializer):
    """One meter's part of the statement."""

    meter_serial = serializers.CharField()
    start_reading_at = serializers.DateTimeField(
        allow_null=True, help_text="First reading of the month (local time); null: none."
    )
    start_register_kwh = _figure("Energy register at the first reading, kWh.", always=True)
    end_reading_at = serializers.DateTimeField(
        allow_null=True, help_text="Last reading of the month (local time); null: none."
    )
    end_register_kwh = _figure("Energy register at the last reading, kWh.", always=True)
    energy_kwh = _figure("Energy delivered in the month, kWh; null when unknown.", always=True)


class StatementSerializer(MonthFiguresSerializer):
    """A site's monthly heat-delivery statement: the figures of the CSV and PDF downloads."""

    site_code = serializers.CharField()
    site_name = serializers.CharField()
    partner = serializers.CharField()
    month = serializers.CharField(help_text="YYYY-MM")
    timezone = serializers.CharField()
    period_start = serializers.DateTimeField(help_text="First instant of the local month.")
    period_end = serializers.DateTimeField(help_text="First instant of the next local month.")
    contract_min_supply_c = serializers.FloatField()
    generated_at = serializers.DateTimeField()
    lines = StatementLineSerializer(many=True)
    energy_kwh = _figure(
        "Energy delivered by the site in the month, kWh; null when unknown.", always=True
    )
