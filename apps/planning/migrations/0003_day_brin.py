"""BRIN indexes on the day of the daily rollups, PostgreSQL only.

The comparison reads the days not covered by the monthly cache (the ragged edges of a period,
the current month) for every site at once: a range of ``day`` across the whole fleet, which
the (site, day) B-trees cannot serve without a full scan. Rows are written day by day, so
block ranges correlate with ``day`` and a BRIN of a few hundred kB finds them; unsummarised
ranges at the end of the table (today's) are always scanned, which is what the current month
needs. ``heat_dailyrollup`` belongs to apps.heat: the index is named for planning, created
only if missing, and costs ingestion next to nothing (BRIN is summarised by VACUUM).
"""

from django.db import migrations

INDEXES = {
    "planning_heat_daily_day_brin": "heat_dailyrollup",
    "planning_elec_daily_day_brin": "hardware_electricaldaily",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, table in INDEXES.items():
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
                "USING brin (day) WITH (pages_per_range = 16)"
            )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("planning", "0002_site_month"),
        ("heat", "0001_initial"),
        ("hardware", "0002_electrical_daily"),
    ]

    operations = [migrations.RunPython(create, drop)]
