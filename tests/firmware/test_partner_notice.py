"""The plain maintenance notice: computed from campaign nodes in a wave, shown to the site's
partner (site page and portal home) and engineers, never with hardware words."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.firmware.models import Campaign, CampaignNode, CampaignWave, MaintenanceWindow
from apps.firmware.notices import site_maintenance_notice
from tests.firmware.compliance_kit import add_node, make_bundle

pytestmark = pytest.mark.django_db

# A Thursday, 09:40 in Paris (CET, UTC+1).
NOW = datetime(2026, 12, 3, 8, 40, tzinfo=UTC)


def campaign_with(
    site,
    nodes,
    *,
    started=NOW - timedelta(minutes=10),
    minutes=60,
    concurrency=1,
    campaign_state="running",
    wave_state="running",
):
    """``nodes``: [(node, campaign node state)], all in one wave."""
    n = Campaign.objects.count()
    bundle = make_bundle(f"1.5.{n}", {"BMC": f"2.5{n}", "BIOS": f"1.5.{n}"})
    campaign = Campaign.objects.create(
        bundle=bundle,
        name="rollout",
        state=campaign_state,
        strategy={"max_down_per_site": concurrency, "node_minutes": 20},
        plan={"waves": [{"index": 0, "minutes": minutes}]},
    )
    wave = CampaignWave.objects.create(
        campaign=campaign,
        index=0,
        kind="wave",
        state=wave_state,
        node_count=len(nodes),
        started_at=started,
        budget={str(site.pk): {"concurrency": concurrency, "loss_w": None}},
    )
    for node, state in nodes:
        CampaignNode.objects.create(
            campaign=campaign,
            wave=wave,
            node=node,
            state=state,
            started_at=started if state == "running" else None,
        )
    return campaign


def test_a_running_node_dips_by_its_draw_until_the_waves_estimated_end(site):
    node = add_node(site, "lyo-n1", {"BMC": "2.42"}, power_w=1200.0)
    campaign_with(site, [(node, "running")])
    notice = site_maintenance_notice(site, now=NOW)
    assert notice["max_dip_kw"] == 1.2
    # Started 08:30 UTC + 60 min = 09:30 UTC = 10:30 in Paris.
    assert notice["until"] == datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
    assert notice["until"].utcoffset() == timedelta(hours=1)
    assert notice["until_label"] == "10:30"


def test_pending_nodes_of_a_running_wave_count_up_to_the_sites_concurrency(site):
    nodes = [
        add_node(site, f"lyo-n{i}", {"BMC": "2.42"}, power_w=w)
        for i, w in enumerate((500.0, 700.0, 300.0))
    ]
    campaign_with(site, [(n, "pending") for n in nodes], concurrency=2)
    # The worst two at once: 700 + 500 W.
    assert site_maintenance_notice(site, now=NOW)["max_dip_kw"] == 1.2


def test_running_nodes_take_their_slots_before_the_pending(site):
    down = add_node(site, "lyo-down", {"BMC": "2.42"}, power_w=400.0)
    big = add_node(site, "lyo-big", {"BMC": "2.42"}, power_w=900.0)
    campaign_with(site, [(down, "running"), (big, "pending")], concurrency=1)
    assert site_maintenance_notice(site, now=NOW)["max_dip_kw"] == 0.4


def test_a_node_already_down_counts_with_its_nominal_power(site):
    node = add_node(site, "lyo-n1", {"BMC": "2.42"}, power_w=0.0, nominal_power_w=900)
    campaign_with(site, [(node, "running")])
    assert site_maintenance_notice(site, now=NOW)["max_dip_kw"] == 0.9


def test_a_node_already_down_counts_with_the_draw_recorded_before_its_flash(site):
    node = add_node(site, "lyo-n1", {"BMC": "2.42"}, power_w=0.0, nominal_power_w=900)
    campaign_with(site, [(node, "running")])
    CampaignNode.objects.filter(node=node).update(detail={"pre_power_w": 640.0})
    assert site_maintenance_notice(site, now=NOW)["max_dip_kw"] == 0.7  # 0.64 rounded up


def test_two_campaigns_at_a_site_share_its_budget(site):
    a = add_node(site, "lyo-a", {"BMC": "2.42"}, power_w=500.0)
    b = add_node(site, "lyo-b", {"BMC": "2.42"}, power_w=800.0)
    campaign_with(site, [(a, "pending")], concurrency=1)
    campaign_with(site, [(b, "pending")], concurrency=1)
    # One node of the site down at a time, whichever campaign takes it: the larger draw.
    assert site_maintenance_notice(site, now=NOW)["max_dip_kw"] == 0.8


def test_an_unknown_draw_gives_no_number_never_zero(site, client, partner):
    node = add_node(site, "lyo-n1", {"BMC": "2.42"}, power_w=None, nominal_power_w=0)
    campaign_with(site, [(node, "running")])
    assert site_maintenance_notice(site, now=NOW)["max_dip_kw"] is None


def test_no_notice_without_a_node_in_a_wave(site):
    finished = add_node(site, "lyo-done", {"BMC": "2.50"}, power_w=500.0)
    waiting = add_node(site, "lyo-wait", {"BMC": "2.42"}, power_w=500.0)
    campaign_with(site, [(finished, "succeeded")])
    campaign_with(site, [(waiting, "pending")], campaign_state="approved", wave_state="pending")
    assert site_maintenance_notice(site, now=NOW) is None


def test_a_wave_past_its_estimate_is_given_the_sites_remaining_rounds(site):
    nodes = [add_node(site, f"lyo-n{i}", {"BMC": "2.42"}, power_w=500.0) for i in range(3)]
    campaign_with(
        site,
        [(nodes[0], "running"), (nodes[1], "pending"), (nodes[2], "pending")],
        started=NOW - timedelta(hours=3),
        minutes=60,
    )
    # 3 nodes, 1 at a time, 20 min each, from now.
    assert site_maintenance_notice(site, now=NOW)["until"] == NOW + timedelta(minutes=60)


def test_an_open_window_ending_first_bounds_the_notice(site):
    node = add_node(site, "lyo-n1", {"BMC": "2.42"}, power_w=500.0)
    # Thursday 09:00-10:00 Paris: open at 09:40, ends before the wave's 10:30.
    MaintenanceWindow.objects.create(site=site, weekday=3, start=time(9), end=time(10))
    campaign_with(site, [(node, "running")])
    notice = site_maintenance_notice(site, now=NOW)
    assert notice["until"] == datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    assert notice["until_label"] == "10:00"


def test_outside_its_windows_only_nodes_already_down_count(site):
    waiting = add_node(site, "lyo-wait", {"BMC": "2.42"}, power_w=500.0)
    MaintenanceWindow.objects.create(site=site, weekday=3, start=time(22), end=time(23))
    campaign_with(site, [(waiting, "pending")])
    assert site_maintenance_notice(site, now=NOW) is None


def test_an_end_on_another_day_says_which_day(site):
    node = add_node(site, "lyo-n1", {"BMC": "2.42"}, power_w=500.0)
    campaign_with(site, [(node, "running")], minutes=24 * 60)
    assert site_maintenance_notice(site, now=NOW)["until_label"] == "Fri 04 Dec, 09:30"


# --- pages ----------------------------------------------------------------------------------


def _notice(html):
    found = re.search(r'<div[^>]*data-testid="maintenance-notice"[^>]*>(.*?)</div>', html, re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)).strip() if found else None


@pytest.fixture
def in_wave(site):
    node = add_node(site, "lyo-secret-node", {"BMC": "2.42", "BIOS": "1.4.0"}, power_w=1200.0)
    now = timezone.now()
    campaign_with(site, [(node, "running")], started=now - timedelta(minutes=5), minutes=60)
    until = timezone.localtime(now + timedelta(minutes=55), site.tzinfo)
    return node, until.strftime("%H:%M")


def test_the_partner_sees_a_plain_notice_on_the_site_page_and_the_portal_home(
    client, partner, site, in_wave
):
    client.force_login(partner)
    _, until = in_wave
    for url in (reverse("site-detail", args=[site.pk]), reverse("fleet")):
        html = client.get(url).content.decode()
        text = _notice(html)
        assert text is not None, url
        assert "Planned maintenance: heat output may dip by up to 1.2 kW until" in text
        assert until in text
        # Nothing of the hardware: no node, no versions, no firmware words.
        for word in ("lyo-secret-node", "2.42", "1.4.0", "1.5.0", "BMC", "BIOS", "irmware"):
            assert word not in html, (url, word)
        assert "campaign" not in text.lower()


def test_another_partner_sees_no_notice_and_no_site(client, other_partner, site, in_wave):
    client.force_login(other_partner)
    assert client.get(reverse("site-detail", args=[site.pk])).status_code == 404
    assert _notice(client.get(reverse("fleet")).content.decode()) is None


def test_engineers_see_the_notice_on_the_site_page(client, engineer, site, in_wave):
    client.force_login(engineer)
    text = _notice(client.get(reverse("site-detail", args=[site.pk])).content.decode())
    assert text.startswith("Planned maintenance: heat output may dip by up to 1.2 kW until")


def test_the_notice_without_a_known_draw_says_may_dip(client, partner, site):
    node = add_node(site, "lyo-n1", {"BMC": "2.42"}, power_w=None, nominal_power_w=0)
    campaign_with(site, [(node, "running")], started=timezone.now())
    client.force_login(partner)
    text = _notice(client.get(reverse("site-detail", args=[site.pk])).content.decode())
    assert text.startswith("Planned maintenance: heat output may dip until ")
    assert "kW" not in text


def test_no_notice_on_the_pages_when_no_node_is_in_a_wave(client, partner, site):
    add_node(site, "lyo-n1", {"BMC": "2.42"}, power_w=500.0)
    client.force_login(partner)
    assert _notice(client.get(reverse("site-detail", args=[site.pk])).content.decode()) is None
    assert _notice(client.get(reverse("fleet")).content.decode()) is None
