"""The console page and the recorded logs, through the test client."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorded(node, console_settings):
    folder = console_settings.CONSOLE_LOG_DIR / f"node-{node.pk}"
    folder.mkdir(parents=True)
    (folder / "2026-03-01.log").write_bytes(
        b"\x1b[1;32mBooting lyo-0001-n01\x1b[0m\r\n$ uname\r\nLinux lyo-0001-n01\r\n"
    )
    (folder / "notes.txt").write_bytes(b"not a log")
    return folder


def test_the_console_page_has_the_terminal_power_controls_and_websocket(client, engineer, node):
    client.force_login(engineer)
    response = client.get(reverse("node-console", args=[node.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="terminal"' in html
    assert f'data-node-id="{node.pk}"' in html
    assert reverse("node-power-confirm", args=[node.pk]) + "?action=reset" in html
    assert "vendor/xterm/xterm.js" in html and "js/console.js" in html


@pytest.mark.parametrize(("role", "status"), [("partner", 404), ("planner", 403), ("admin", 403)])
def test_other_roles_do_not_get_the_console_page_or_logs(
    client, users, node, recorded, role, status
):
    client.force_login(users[role])
    urls = [
        reverse("node-console", args=[node.pk]),
        reverse("node-console-logs", args=[node.pk]),
        reverse("node-console-log", args=[node.pk, "2026-03-01.log"]),
        reverse("node-console-log-download", args=[node.pk, "2026-03-01.log"]),
    ]
    assert [client.get(url).status_code for url in urls] == [status] * 4


def test_an_engineer_lists_reads_and_downloads_a_nodes_logs(client, engineer, node, recorded):
    client.force_login(engineer)
    listing = client.get(reverse("node-console-logs", args=[node.pk])).content.decode()
    assert "2026-03-01" in listing
    assert "notes.txt" not in listing

    page = client.get(reverse("node-console-log", args=[node.pk, "2026-03-01.log"]))
    text = page.content.decode()
    assert "Booting lyo-0001-n01\n$ uname\nLinux lyo-0001-n01" in text
    assert "[1;32m" not in text

    download = client.get(reverse("node-console-log-download", args=[node.pk, "2026-03-01.log"]))
    assert download.status_code == 200
    assert (
        'attachment; filename="lyo-0001-n01-console-2026-03-01.log"'
        in download["Content-Disposition"]
    )
    assert b"".join(download.streaming_content).startswith(b"\x1b[1;32mBooting")


@pytest.mark.parametrize("name", ["notes.txt", "2026-03-02.log", "..%2F..%2Fsecret.log", ".log"])
def test_a_name_that_is_not_a_log_of_this_node_is_not_found(client, engineer, node, recorded, name):
    client.force_login(engineer)
    response = client.get(f"/nodes/{node.pk}/console/logs/{name}")
    assert response.status_code == 404


def test_another_nodes_log_is_not_served_under_this_node(client, engineer, node, site, recorded):
    from tests.factories import NodeFactory

    other = NodeFactory(site=site)
    client.force_login(engineer)
    response = client.get(reverse("node-console-log", args=[other.pk, "2026-03-01.log"]))
    assert response.status_code == 404


def test_the_node_page_links_engineers_to_the_console(client, users, node):
    url = reverse("node-console", args=[node.pk])
    client.force_login(users["engineer"])
    assert url in client.get(reverse("node-detail", args=[node.pk])).content.decode()
    client.force_login(users["admin"])
    assert url not in client.get(reverse("node-detail", args=[node.pk])).content.decode()
