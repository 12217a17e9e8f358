"""The tamper-evident audit trail: hash chain, audit_verify, append-only on PostgreSQL, and
every record saying how its actor authenticated."""

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import ProtectedError

from apps.audit import chain
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.tokens.services import create_token

pytestmark = pytest.mark.django_db
postgresql_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="the trigger exists on PostgreSQL only"
)


def _records(n, actor=None):
    return [audit_record(actor=actor, action=f"test.{i}", detail={"i": i}) for i in range(n)]


def _verify() -> str:
    try:
        call_command("audit_verify", stdout=(out := _Buffer()), stderr=out)
    except CommandError as exc:
        return f"FAILED {exc} {out.text}"
    return out.text


class _Buffer:
    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_each_record_carries_the_previous_hash_and_the_chain_verifies(engineer):
    events = _records(3, engineer)
    assert events[1].prev_hash == events[0].hash and events[2].prev_hash == events[1].hash
    assert len({e.hash for e in events}) == 3
    out = _verify()
    assert out.startswith("audit trail intact") and events[2].hash in out


def test_a_modified_record_is_found(engineer):
    events = _records(3, engineer)
    # what a tamperer with SQL access does (refused outright on PostgreSQL: see below)
    if connection.vendor == "postgresql":
        pytest.skip("the database refuses the change itself")
    AuditEvent.objects.filter(pk=events[1].pk).update(detail={"i": 99})
    out = _verify()
    assert out.startswith("FAILED") and f"record #{events[1].pk}" in out and "modified" in out


def test_a_removed_record_and_a_removed_newest_record_are_found(engineer):
    events = _records(4, engineer)
    if connection.vendor == "postgresql":
        pytest.skip("the database refuses the removal itself")
    AuditEvent.objects.filter(pk=events[1].pk).delete()
    out = _verify()
    assert f"record #{events[2].pk}" in out and "removed" in out
    AuditEvent.objects.filter(pk=events[3].pk).delete()
    assert "newest records were removed" in _verify()


def test_a_rewritten_chain_is_found_against_a_recorded_head(engineer):
    _records(2, engineer)
    with pytest.raises(CommandError):
        call_command("audit_verify", expect_head="ab" * 32, stdout=_Buffer(), stderr=_Buffer())
    head = AuditEvent.objects.order_by("-id").first().hash
    call_command("audit_verify", expect_head=head, stdout=_Buffer())


@postgresql_only
def test_postgresql_refuses_update_and_delete_of_audit_records(engineer):
    event = audit_record(actor=engineer, action="test.kept")
    for change in (
        lambda: AuditEvent.objects.filter(pk=event.pk).update(action="test.changed"),
        lambda: AuditEvent.objects.filter(pk=event.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            change()
    assert AuditEvent.objects.get(pk=event.pk).action == "test.kept"


def test_a_user_with_a_trail_is_deactivated_not_deleted(engineer):
    audit_record(actor=engineer, action="test.x")
    with pytest.raises(ProtectedError):
        engineer.delete()


def test_deleting_a_site_leaves_its_records_untouched(engineer, site):
    event = audit_record(actor=engineer, action="test.site", target=site)
    site_id = site.pk
    site.nodes.all().delete()
    site.delete()
    assert AuditEvent.objects.get(pk=event.pk).site_id == site_id
    assert _verify().startswith("audit trail intact")


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_chain():
    errors = []

    def write(n):
        try:
            for i in range(10):
                audit_record(actor=None, action=f"test.thread{n}.{i}")
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and AuditEvent.objects.count() == 40
    assert list(chain.problems()) == []


# -- how the actor authenticated ---------------------------------------------------------------


def test_records_without_a_request_are_system_and_failed_logins_anonymous(client, planner):
    assert audit_record(actor=None, action="test.cli").auth == "system"
    client.post("/login/", {"login": "planner", "password": "wrong"})
    failed = AuditEvent.objects.filter(action="auth.login", result="refused").latest("id")
    assert failed.auth == "anonymous"


def test_token_and_session_requests_are_told_apart(client, engineer):
    token, secret = create_token(engineer, name="ci", scopes=["write"])
    response = client.delete(
        f"/api/v1/tokens/{token.pk}/", headers={"authorization": f"Token {secret}"}
    )
    assert response.status_code == 204
    revoked = AuditEvent.objects.get(action="token.revoke")
    assert revoked.auth == f"token:{token.pk} {token.prefix} (write)"
    client.force_login(engineer)
    other, _ = create_token(engineer, name="other")
    client.post(f"/account/tokens/{other.pk}/revoke/")
    by_session = AuditEvent.objects.filter(action="token.revoke").latest("id")
    assert by_session.auth == "session:password+totp"


def test_audit_log_page_shows_how_each_actor_authenticated(client, engineer):
    token, secret = create_token(engineer, name="ci", scopes=["write"])
    client.delete(f"/api/v1/tokens/{token.pk}/", headers={"authorization": f"Token {secret}"})
    client.force_login(engineer)
    page = client.get("/audit/").content.decode()
    assert f"token:{token.pk} {token.prefix} (write)" in page


@pytest.mark.django_db(transaction=True)
def test_websocket_records_say_which_session_factor(client, engineer):
    from asgiref.sync import async_to_sync, sync_to_async
    from channels.auth import AuthMiddlewareStack
    from channels.testing import WebsocketCommunicator

    from apps.audit.context import AuditContextWebsocketMiddleware

    seen = []

    async def consumer(scope, receive, send):
        await receive()
        event = await sync_to_async(audit_record)(actor=scope["user"], action="test.ws")
        seen.append(event.auth)
        await send({"type": "websocket.close", "code": 1000})

    client.force_login(engineer)
    app = AuthMiddlewareStack(AuditContextWebsocketMiddleware(consumer))
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def run():
        communicator = WebsocketCommunicator(app, "/ws/x/", headers=[(b"cookie", cookie)])
        await communicator.connect()
        await communicator.disconnect()

    async_to_sync(run)()
    assert seen == ["session:password+totp"]
