"""BRIN index on heat_reading.ts, PostgreSQL only (see docs/heat-storage.md)."""

from django.db import migrations

BRIN = "heat_reading_ts_brin"


def create_brin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {BRIN} ON heat_reading "
            "USING brin (ts) WITH (pages_per_range = 32)"
        )


def drop_brin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {BRIN}")


class Migration(migrations.Migration):
    dependencies = [("heat", "0001_initial")]

    operations = [migrations.RunPython(create_brin, drop_brin)]
