"""Fleet overview at 10,000 sites (benchmarks/fleet_overview.py).

* (name, id): deep pages sorted by name read the index instead of sorting the whole fleet.
* PostgreSQL only: trigram GIN indexes on the upper-cased columns the fleet search reads. Django's
  `icontains` is `UPPER(col::text) LIKE UPPER('%q%')`, which a B-tree cannot serve; without these
  every search scans and upper-cases four columns of every site, twice (count and page).
  pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it. They are not
  in Meta.indexes because SQLite (the demo database) has no GIN.
"""

from django.db import migrations, models

SEARCH_COLUMNS = ("code", "name", "city", "heat_network")


def create_search_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in SEARCH_COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS sites_site_{column}_trgm ON sites_site "
            f"USING gin (UPPER({column}::text) gin_trgm_ops)"
        )


def drop_search_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in SEARCH_COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS sites_site_{column}_trgm")


class Migration(migrations.Migration):

    dependencies = [
        ('sites', '0002_node_reachable_blank'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='site',
            index=models.Index(fields=['name', 'id'], name='sites_site_name_5626ae_idx'),
        ),
        migrations.RunPython(create_search_indexes, drop_search_indexes),
    ]
