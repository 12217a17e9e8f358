"""DRF's authtoken table held API keys in clear (as its primary key) with no expiry: drop it.

Every old key stops working; their owners create new `hst_` tokens (account page or
POST /api/v1/auth/token/). The number of keys dropped is printed; nothing else reads the table.
"""

from django.db import migrations


def drop_authtoken(apps, schema_editor):
    connection = schema_editor.connection
    tables = set(connection.introspection.table_names())
    if "authtoken_token" in tables:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM authtoken_token")
            (count,) = cursor.fetchone()
        schema_editor.execute(schema_editor.sql_delete_table % {"table": "authtoken_token"})
        if count:
            print(f"\n  Retired {count} DRF authtoken key(s): they no longer authenticate.")
    if "django_migrations" in tables:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM django_migrations WHERE app = %s", ["authtoken"])


class Migration(migrations.Migration):
    dependencies = [("tokens", "0001_initial")]

    operations = [migrations.RunPython(drop_authtoken, migrations.RunPython.noop)]
