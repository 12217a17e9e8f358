"""BIOS settings and the BMC log in the console: the details read stores them from a lab Redfish
BMC, the node page shows them (pending changes and chassis intrusions highlighted), and an
engineer stages a BIOS change through the diff and the confirmation (dual lab, real HTTPS)."""

import datetime
import json
import zoneinfo

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.hardware import details
from apps.hardware.drivers.redfish import transport
from apps.hardware.models import BmcFacts
from apps.sites.models import Node
from tests.factories import NodeFactory
from tests.hardware.redfish_nodes import dual_lab_node

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_breaker")]


@pytest.fixture
def lab(make_dual_lab):
    lab = make_dual_lab(count=2)
    yield lab
    transport.close_all()


@pytest.fixture
def rf_node(lab, site) -> Node:
    return dual_lab_node(
        lab, 0, accepted=True, site=site, name=f"{site.code}-rf0", bmc_protocol="redfish"
    )


def lab_bios(lab, index=0):
    return lab.redfish.service(index)


def intrusion_audits(node):
    return AuditEvent.objects.filter(action="bmc.intrusion", target_id=str(node.pk))


# -- the details read ------------------------------------------------------------------------


def test_the_details_read_stores_bios_settings_with_the_registry_names_and_the_pending_ones(
    lab, rf_node
):
    lab_bios(lab).bios_pending = {"PowerProfile": "Balanced"}
    facts = details.bmc_details_refresh(rf_node.pk)
    assert facts.features["bios"] is True
    attributes = {a["name"]: a for a in facts.bios["attributes"]}
    fan = attributes["FanMinimumPercent"]
    assert {k: fan[k] for k in ("display_name", "type", "value", "lower", "upper")} == {
        "display_name": "Minimum Fan Speed (%)",
        "type": "Integer",
        "value": 20,
        "lower": 0,
        "upper": 100,
    }
    assert attributes["PowerProfile"]["allowed"] == ["Performance", "Balanced", "PowerSaving"]
    assert attributes["SystemMemorySize"]["read_only"] is True
    assert facts.bios["pending"] == {"PowerProfile": "Balanced"}
    assert facts.bios["registry"] == "HeatsiteLabBiosAttributeRegistry.v1_0_0"
    assert BmcFacts.objects.get(node=rf_node).bios == facts.bios  # stored, not only returned


def test_the_details_read_stores_the_log_newest_first_and_alarms_an_intrusion_once(lab, rf_node):
    lab.bmc(0).log_event("Fan", "Fan 2 below lower critical", "Warning")
    lab.bmc(0).raise_intrusion()
    facts = details.bmc_details_refresh(rf_node.pk)
    assert facts.features["bmc_log"] is True
    entries = facts.bmc_log["entries"]
    assert entries[0]["intrusion"] is True and entries[0]["severity"] == "critical"
    assert entries[1]["message"] == "Fan 2 below lower critical" and not entries[1]["intrusion"]
    created = datetime.datetime.fromisoformat(entries[0]["created"])
    assert created.utcoffset() == datetime.timedelta(0)
    (alarm,) = intrusion_audits(rf_node)
    assert alarm.result == AuditEvent.Result.FAILED and alarm.actor is None
    assert alarm.detail["count"] == 1 and "intrusion" in alarm.detail["messages"][0]
    assert facts.intrusion_seen_at == created

    details.bmc_details_refresh(rf_node.pk)  # the same intrusion: no second alarm
    assert intrusion_audits(rf_node).count() == 1

    later = lab.bmc(0).raise_intrusion()
    later["created"] = created + datetime.timedelta(minutes=5)  # the lab's clock moved on
    details.bmc_details_refresh(rf_node.pk)
    assert intrusion_audits(rf_node).count() == 2
    assert BmcFacts.objects.get(node=rf_node).intrusion_seen_at == later["created"]


def test_an_ipmi_node_has_no_bios_settings_and_the_page_says_so(lab, site, engineer, client):
    node = dual_lab_node(lab, 1, site=site, bmc_protocol="ipmi")
    facts = details.bmc_details_refresh(node.pk)
    assert facts.features["bios"] is False and facts.bios == {}
    assert facts.features["inventory"] is True  # the rest is still read
    client.force_login(engineer)
    page = client.get(reverse("node-detail", args=[node.pk])).content.decode()
    assert "BIOS settings are not available on this BMC" in page
    assert 'data-testid="bios-edit"' not in page


# -- the node page ---------------------------------------------------------------------------


def test_the_node_page_shows_firmware_bios_pending_and_intrusions_in_local_time(
    lab, rf_node, engineer, client
):
    rf_node.site.timezone = "Asia/Tokyo"
    rf_node.site.save(update_fields=["timezone"])
    event = lab.bmc(0).raise_intrusion()
    event["created"] = datetime.datetime(2026, 7, 1, 10, 0, 0, tzinfo=datetime.UTC)
    lab_bios(lab).bios_pending = {"ProcTurboMode": "Disabled"}
    details.bmc_details_refresh(rf_node.pk)
    client.force_login(engineer)
    page = client.get(reverse("node-detail", args=[rf_node.pk])).content.decode()
    # firmware components with updateable and the read time
    assert 'data-testid="firmware-components"' in page
    assert "<td>BIOS firmware</td><td><code>1.4.0</code></td><td>yes</td>" in page
    # BIOS: display names, the pending change highlighted, the reset note
    assert "Turbo Mode" in page and "Minimum Fan Speed (%)" in page
    assert 'class="table-warning" data-pending="true" data-attribute="ProcTurboMode"' in page
    assert 'data-pending="true" data-attribute="PowerProfile"' not in page
    assert "1 change pending: applied by the BIOS at the node's next reset" in page
    # log: the intrusion flagged, at Tokyo time (UTC+9)
    assert 'data-intrusion="true"' in page and 'data-testid="intrusion-badge"' in page
    assert "2026-07-01 19:00:00" in page
    assert 'data-testid="bios-edit"' in page  # engineers may change BIOS settings


def test_admins_see_the_panels_without_the_bios_change_button(lab, rf_node, admin_user, client):
    details.bmc_details_refresh(rf_node.pk)
    client.force_login(admin_user)
    page = client.get(reverse("node-detail", args=[rf_node.pk])).content.decode()
    assert "Turbo Mode" in page and 'data-testid="bmc-log"' in page
    assert 'data-testid="bios-edit"' not in page


# -- the change: form, diff, confirmation ---------------------------------------------------


def test_an_engineer_stages_a_bios_change_through_the_diff_and_the_confirmation(
    lab, rf_node, engineer, client
):
    details.bmc_details_refresh(rf_node.pk)
    client.force_login(engineer)
    form = client.get(reverse("node-bios-edit", args=[rf_node.pk]), HTTP_HX_REQUEST="true")
    assert form.status_code == 200
    text = form.content.decode()
    assert 'name="attr:ProcTurboMode"' in text and 'min="0" max="100"' in text
    assert 'name="attr:SystemMemorySize"' not in text  # read-only: not offered

    posted = {"attr:ProcTurboMode": "Disabled", "attr:FanMinimumPercent": "35"}
    posted |= {"attr:BootMode": "Uefi"}  # unchanged: not part of the diff
    diff = client.post(reverse("node-bios-diff", args=[rf_node.pk]), posted, HTTP_HX_REQUEST="true")
    assert diff.status_code == 200
    text = diff.content.decode()
    assert 'data-attribute="ProcTurboMode"' in text and 'data-attribute="FanMinimumPercent"' in text
    assert 'data-attribute="BootMode"' not in text
    assert "applied by the BIOS at the node&#x27;s next reset" in text
    assert lab_bios(lab).bios_pending == {}  # nothing sent before the confirmation

    changes = json.dumps({"ProcTurboMode": "Disabled", "FanMinimumPercent": 35})
    done = client.post(reverse("node-bios-change", args=[rf_node.pk]), {"changes": changes})
    assert done.status_code == 302 and done.url == reverse("node-detail", args=[rf_node.pk])
    assert lab_bios(lab).bios_pending == {"ProcTurboMode": "Disabled", "FanMinimumPercent": 35}
    assert lab_bios(lab).bios_current["ProcTurboMode"] == "Enabled"  # until the next reset
    stored = BmcFacts.objects.get(node=rf_node).bios
    assert stored["pending"] == {"ProcTurboMode": "Disabled", "FanMinimumPercent": 35}
    (event,) = AuditEvent.objects.filter(action="bmc.bios_change", target_id=str(rf_node.pk))
    assert event.actor == engineer and event.result == AuditEvent.Result.OK
    assert event.detail["changes"]["FanMinimumPercent"] == {"from": 20, "to": 35}
    page = client.get(reverse("node-detail", args=[rf_node.pk])).content.decode()
    assert "BIOS changes staged on" in page and "2 changes pending" in page


@pytest.mark.parametrize(
    ("posted", "reason"),
    [
        ({"attr:FanMinimumPercent": "150"}, "Minimum Fan Speed (%) 150 is outside 0…100."),
        ({"attr:FanMinimumPercent": "fast"}, "Minimum Fan Speed (%) takes a whole number."),
        ({"attr:PowerProfile": "Turbo"}, "&#x27;Turbo&#x27; is not one of Performance"),
        ({"attr:NoSuchSetting": "1"}, "The BIOS has no such attribute."),
        ({"attr:BootMode": "Uefi"}, "Nothing changes"),
    ],
)
def test_a_bad_value_is_a_form_error_and_nothing_is_sent(
    lab, rf_node, engineer, client, posted, reason
):
    details.bmc_details_refresh(rf_node.pk)
    client.force_login(engineer)
    response = client.post(reverse("node-bios-diff", args=[rf_node.pk]), posted)
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert lab_bios(lab).bios_pending == {}


def test_a_confirmed_change_the_registry_refuses_is_audited_and_not_sent(
    lab, rf_node, engineer, client
):
    details.bmc_details_refresh(rf_node.pk)
    client.force_login(engineer)
    changes = json.dumps({"SystemMemorySize": "1 TB"})
    response = client.post(reverse("node-bios-change", args=[rf_node.pk]), {"changes": changes})
    assert response.status_code == 400
    assert "System Memory Size is read-only." in response.content.decode()
    assert lab_bios(lab).bios_pending == {}
    (event,) = AuditEvent.objects.filter(action="bmc.bios_change", target_id=str(rf_node.pk))
    assert event.result == AuditEvent.Result.REFUSED
    assert event.detail["errors"] == {"SystemMemorySize": "System Memory Size is read-only."}


def test_a_change_the_bmc_refuses_shows_its_own_words(lab, rf_node, engineer, client):
    lab_bios(lab).bios_pending = {"BootMode": "Legacy"}
    details.bmc_details_refresh(rf_node.pk)
    client.force_login(engineer)
    changes = json.dumps({"SriovGlobalEnable": "Enabled"})
    response = client.post(reverse("node-bios-change", args=[rf_node.pk]), {"changes": changes})
    assert response.status_code == 409
    text = response.content.decode()
    assert "The BMC refused the change" in text and "The BMC says:" in text
    assert "Attributes/BootMode" in text
    assert lab_bios(lab).bios_pending == {"BootMode": "Legacy"}
    (event,) = AuditEvent.objects.filter(action="bmc.bios_change", target_id=str(rf_node.pk))
    assert event.result == AuditEvent.Result.REFUSED and event.detail["cause"] == "bad_request"


@pytest.mark.parametrize(("role", "expected"), [("planner", 403), ("admin_user", 403)])
def test_only_engineers_change_bios_settings(lab, rf_node, client, request, role, expected):
    details.bmc_details_refresh(rf_node.pk)
    client.force_login(request.getfixturevalue(role))
    changes = json.dumps({"ProcTurboMode": "Disabled"})
    assert client.get(reverse("node-bios-edit", args=[rf_node.pk])).status_code == expected
    diff = client.post(reverse("node-bios-diff", args=[rf_node.pk]), {"attr:ProcTurboMode": "x"})
    assert diff.status_code == expected
    change = client.post(reverse("node-bios-change", args=[rf_node.pk]), {"changes": changes})
    assert change.status_code == expected
    assert lab_bios(lab).bios_pending == {}


def test_a_partner_does_not_learn_the_node_exists(lab, rf_node, partner, client):
    client.force_login(partner)
    changes = json.dumps({"ProcTurboMode": "Disabled"})
    assert client.get(reverse("node-bios-edit", args=[rf_node.pk])).status_code == 404
    change = client.post(reverse("node-bios-change", args=[rf_node.pk]), {"changes": changes})
    assert change.status_code == 404
    assert lab_bios(lab).bios_pending == {}


def test_a_node_never_read_cannot_be_changed_yet(engineer, client, site):
    node = NodeFactory(site=site, bmc_protocol="redfish")
    client.force_login(engineer)
    changes = json.dumps({"ProcTurboMode": "Disabled"})
    response = client.post(reverse("node-bios-change", args=[node.pk]), {"changes": changes})
    assert response.status_code == 400
    assert "have not been read yet" in response.content.decode()


def test_the_site_page_flags_a_node_whose_chassis_was_opened_this_week(
    lab, rf_node, engineer, client
):
    client.force_login(engineer)
    site_page = reverse("site-detail", args=[rf_node.site_id])
    details.bmc_details_refresh(rf_node.pk)
    assert 'data-testid="intrusion-flag"' not in client.get(site_page).content.decode()
    opened = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    lab.bmc(0).raise_intrusion()["created"] = opened
    details.bmc_details_refresh(rf_node.pk)
    page = client.get(site_page).content.decode()
    assert 'data-testid="intrusion-flag"' in page
    local = opened.astimezone(zoneinfo.ZoneInfo(rf_node.site.timezone))
    assert f"chassis opened {local:%Y-%m-%d %H:%M}" in page
    # a week later the flag is gone (the node page's log still shows the entry)
    BmcFacts.objects.filter(node=rf_node).update(
        intrusion_seen_at=opened - datetime.timedelta(days=8)
    )
    assert 'data-testid="intrusion-flag"' not in client.get(site_page).content.decode()


# -- the periodic log check ------------------------------------------------------------------


def test_the_log_check_alarms_a_new_intrusion_and_keeps_the_older_entries(lab, rf_node):
    for n in range(30):
        lab.bmc(0).log_event("Fan", f"Fan event {n}", "Warning")
    details.bmc_details_refresh(rf_node.pk)
    Node.objects.filter(pk=rf_node.pk).update(reachable=True)
    before = BmcFacts.objects.get(node=rf_node).bmc_log["entries"]
    assert not intrusion_audits(rf_node).exists()

    opened = lab.bmc(0).raise_intrusion()
    counts = details.bmc_logs_check(node_ids=[rf_node.pk], limit=5)
    assert counts == {"checked": 1, "failed": 0, "intrusions": 1}
    (alarm,) = intrusion_audits(rf_node)
    assert alarm.detail["count"] == 1
    entries = BmcFacts.objects.get(node=rf_node).bmc_log["entries"]
    assert entries[0]["id"] == str(opened["id"]) and entries[0]["intrusion"]
    assert entries[1:] == before  # the older entries stay, none twice
    # the same intrusion seen again is not a new alarm
    assert details.bmc_logs_check(node_ids=[rf_node.pk], limit=5)["intrusions"] == 0
    assert intrusion_audits(rf_node).count() == 1


def test_the_log_check_skips_bmcs_without_a_log_and_survives_one_that_fails(lab, site, rf_node):
    details.bmc_details_refresh(rf_node.pk)
    ipmi_only = NodeFactory(site=site, bmc_host="127.0.0.1", reachable=True)
    BmcFacts.objects.create(node=ipmi_only, features={"bmc_log": False})
    never_read = NodeFactory(site=site, bmc_host="127.0.0.1", reachable=True)
    Node.objects.filter(pk=rf_node.pk).update(reachable=True)
    lab.bmc(0).raise_intrusion()
    Node.objects.filter(pk=rf_node.pk).update(bmc_tls_fingerprint="ab" * 32)  # refused
    ids = [rf_node.pk, ipmi_only.pk, never_read.pk]
    assert details.bmc_logs_check(node_ids=ids) == {"checked": 0, "failed": 1, "intrusions": 0}
    assert not intrusion_audits(rf_node).exists()
    Node.objects.filter(pk=rf_node.pk).update(
        bmc_tls_fingerprint=lab.redfish.endpoint(0).fingerprint
    )
    assert details.bmc_logs_check(node_ids=ids) == {"checked": 1, "failed": 0, "intrusions": 1}


def test_the_beat_task_hands_each_batch_of_logged_nodes_to_the_check(
    lab, rf_node, monkeypatch, settings
):
    from apps.hardware import tasks

    details.bmc_details_refresh(rf_node.pk)
    Node.objects.filter(pk=rf_node.pk).update(reachable=True)
    settings.BMC_SWEEP_BATCH = 1
    other = dual_lab_node(lab, 1, accepted=True, site=rf_node.site, bmc_protocol="redfish")
    details.bmc_details_refresh(other.pk)
    Node.objects.filter(pk=other.pk).update(reachable=True)
    unread = NodeFactory(site=rf_node.site, bmc_host="127.0.0.1", reachable=True)
    sent = []
    monkeypatch.setattr(tasks.bmc_logs_check_task, "delay", sent.append)
    assert tasks.bmc_log_sweep_task() == 2
    assert sorted(sent) == sorted([[rf_node.pk], [other.pk]]) and [unread.pk] not in sent
