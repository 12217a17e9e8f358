"""PostgreSQL refuses UPDATE and DELETE on the audit trail and DELETE of its chain head.

Other databases (SQLite in development and tests) get no trigger: there the chain alone makes
tampering visible (`manage.py audit_verify`). TRUNCATE is not refused (the test suite's flush
uses it); the application's database role should not own the tables in production.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION heatsite_audit_refuse() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_auditevent_append_only BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION heatsite_audit_refuse();
CREATE TRIGGER audit_auditchainhead_keep BEFORE DELETE ON audit_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION heatsite_audit_refuse();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_auditchainhead_keep ON audit_auditchainhead;
DROP FUNCTION IF EXISTS heatsite_audit_refuse();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_chain_and_auth")]

    operations = [migrations.RunPython(forward, backward)]
