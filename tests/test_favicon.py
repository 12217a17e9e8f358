"""The favicon: linked from every page, and ``/favicon.ico`` answers (browsers ask for it)."""

from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse


@pytest.mark.django_db
def test_favicon_ico_leads_anyone_to_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"] == "/static/favicon.ico"
    assert "max-age=86400" in response["Cache-Control"]
    icon = client.get(response["Location"])
    assert icon.status_code == 200 and "icon" in icon["Content-Type"]
    assert Path(finders.find("favicon.ico")).read_bytes()[:4] == b"\x00\x00\x01\x00"  # ICO


@pytest.mark.django_db
def test_pages_link_the_svg_icon(client, engineer):
    login_page = client.get(reverse("login")).content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in login_page
    client.force_login(engineer)
    assert 'href="/static/favicon.svg"' in client.get(reverse("fleet")).content.decode()
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and svg["Content-Type"].startswith("image/svg+xml")


@pytest.mark.django_db
def test_favicon_refuses_writes(client):
    assert client.post("/favicon.ico").status_code == 405
