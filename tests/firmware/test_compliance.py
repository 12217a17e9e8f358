"""The compliance computation: each status with its reason, the SKU rule, filters, queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.attestation.models import FirmwareRelease, NodeConfiguration, PlatformProfile
from apps.audit.models import AuditEvent
from apps.firmware.compliance import ComplianceQuery, ComplianceQueryError, compliance_compute
from apps.firmware.desired import desired_bundle_set
from apps.firmware.models import DesiredBundle
from apps.sites.models import Node
from tests.factories import SiteFactory
from tests.firmware.compliance_kit import SKU, add_node, make_bundle, make_desired

pytestmark = pytest.mark.django_db


def _by_name(query=None):
    result = compliance_compute(nodes=Node.objects.all(), query=query or ComplianceQuery())
    return {row.node: row for row in result.rows}


def test_each_status_with_its_reason(site, engineer):
    make_desired(engineer)
    add_node(site, "n-ok", {"BMC": "2.50", "BIOS": "1.5"})  # 1.5 == 1.5.0
    add_node(site, "n-behind", {"BMC": "2.42", "BIOS": "1.5.0"})
    add_node(site, "n-ahead", {"BMC": "2.60", "BIOS": "1.5.0"})
    add_node(site, "n-mixed", {"BMC": "2.60", "BIOS": "1.4.0"})
    add_node(site, "n-unread", None)
    add_node(site, "n-missing", {"BMC": "2.50"})
    add_node(site, "n-garbled", {"BMC": "2.50", "BIOS": "v1.5-rc1"})
    add_node(site, "n-other", {"BMC": "2.50"}, model="HS-UNKNOWN")
    rows = _by_name()

    assert rows["n-ok"].status == "up_to_date" and rows["n-ok"].reason == ""
    assert rows["n-behind"].status == "behind"
    assert rows["n-behind"].reason == "Behind: BMC 2.42 < 2.50."
    assert rows["n-ahead"].status == "ahead"
    assert rows["n-ahead"].reason == "Ahead: BMC 2.60 > 2.50."
    # Mixed: behind wins, and the ahead component is named.
    assert rows["n-mixed"].status == "behind" and rows["n-mixed"].mixed
    assert rows["n-mixed"].reason == "Behind: BIOS 1.4.0 < 1.5.0; ahead: BMC 2.60 > 2.50."
    assert not rows["n-behind"].mixed
    assert rows["n-unread"].status == "unknown"
    assert rows["n-unread"].reason == "No firmware read from the BMC yet."
    assert rows["n-missing"].status == "unknown"
    assert "BIOS not reported by the BMC" in rows["n-missing"].reason
    assert rows["n-garbled"].status == "unknown"
    assert "'v1.5-rc1' not comparable" in rows["n-garbled"].reason
    assert rows["n-other"].status == "unknown" and rows["n-other"].sku is None
    assert "not a known platform profile" in rows["n-other"].reason
    behind = {c.component: (c.current, c.desired, c.status) for c in rows["n-behind"].components}
    assert behind == {"BMC": ("2.42", "2.50", "behind"), "BIOS": ("1.5.0", "1.5.0", "up_to_date")}
    assert rows["n-ok"].read_at is not None


def test_a_sku_without_a_desired_bundle_is_unknown_with_the_reason(site):
    PlatformProfile.objects.create(sku=SKU)
    add_node(site, "n1", {"BMC": "2.50"})
    row = _by_name()["n1"]
    assert (row.status, row.sku, row.bundle_id) == ("unknown", SKU, None)
    assert row.reason == f"No desired bundle for SKU {SKU}."


def test_the_configured_profile_decides_the_sku_before_the_model(site, engineer):
    make_desired(engineer)
    other = make_desired(engineer, "3.0", {"BMC": "3.0"}, sku="HS-OTHER")
    release = FirmwareRelease.objects.create(profile=other.profile, version="3.0")
    node = add_node(site, "n1", {"BMC": "3.0"}, model="hs-edge-1")
    NodeConfiguration.objects.create(node=node, release=release)
    add_node(site, "n2", {"BMC": "2.50", "BIOS": "1.5.0"}, model="hs-edge-1")
    rows = _by_name()
    assert (rows["n1"].sku, rows["n1"].status) == ("HS-OTHER", "up_to_date")
    assert (rows["n2"].sku, rows["n2"].status) == (SKU, "up_to_date")
    # The SKU filter follows the same rule in SQL.
    assert set(_by_name(ComplianceQuery(sku="HS-OTHER"))) == {"n1"}
    assert set(_by_name(ComplianceQuery(sku=SKU.lower()))) == {"n2"}


def test_filters_by_site_status_component_and_version(site, other_site, engineer):
    make_desired(engineer)
    add_node(site, "a-behind-bios", {"BMC": "2.50", "BIOS": "1.4.0"})
    add_node(site, "a-ok", {"BMC": "2.50", "BIOS": "1.5.0"})
    add_node(other_site, "b-behind-bmc", {"BMC": "2.42", "BIOS": "1.5.0"})
    assert set(_by_name(ComplianceQuery(site=site.code))) == {"a-behind-bios", "a-ok"}
    assert set(_by_name(ComplianceQuery(site=str(other_site.pk)))) == {"b-behind-bmc"}
    assert set(_by_name(ComplianceQuery(status="behind"))) == {"a-behind-bios", "b-behind-bmc"}
    # With a component, the status is that component's.
    assert set(_by_name(ComplianceQuery(status="behind", component="bios"))) == {"a-behind-bios"}
    assert set(_by_name(ComplianceQuery(component="BMC", version="2.42"))) == {"b-behind-bmc"}
    assert set(_by_name(ComplianceQuery(version="1.4.0"))) == {"a-behind-bios"}
    assert _by_name(ComplianceQuery(site="nowhere")) == {}


def test_the_summary_counts_per_sku_and_status_ignore_the_status_filter(site, engineer):
    make_desired(engineer)
    add_node(site, "n1", {"BMC": "2.50", "BIOS": "1.4.0"})
    add_node(site, "n2", {"BMC": "2.50", "BIOS": "1.5.0"})
    add_node(site, "n3", None, model="")
    result = compliance_compute(nodes=Node.objects.all(), query=ComplianceQuery(status="behind"))
    assert [r.node for r in result.rows] == ["n1"]
    assert result.summary[SKU] == {"up_to_date": 1, "behind": 1, "ahead": 0, "unknown": 0}
    assert result.summary[""]["unknown"] == 1


def test_an_unknown_status_is_refused_with_the_reason():
    with pytest.raises(ComplianceQueryError, match="status: 'late' is not one of"):
        ComplianceQuery.from_params({"status": "late"})


def test_the_number_of_queries_does_not_grow_with_the_fleet(site, engineer):
    make_desired(engineer)
    make_desired(engineer, "2.0", {"BMC": "9"}, sku="HS-OTHER")
    add_node(site, "n0", {"BMC": "2.50", "BIOS": "1.5.0"})

    def count():
        with CaptureQueriesContext(connection) as queries:
            compliance_compute(nodes=Node.objects.all(), query=ComplianceQuery())
        return len(queries)

    few = count()
    for i in range(1, 25):
        add_node(SiteFactory(), f"n{i}", {"BMC": "2.42", "BIOS": "1.4.0"})
    assert count() == few


def test_making_a_bundle_desired_replaces_the_previous_one_and_is_audited(engineer):
    first = make_desired(engineer)
    second = make_bundle("1.6.0", {"BMC": "2.60", "BIOS": "1.6.0"})
    desired_bundle_set(actor=engineer, bundle_id=second.pk)
    assert DesiredBundle.objects.get(profile__sku=SKU).bundle == second
    event = AuditEvent.objects.filter(action="firmware.desired_bundle_set").latest("id")
    assert event.actor == engineer
    assert event.detail["bundle_id"] == second.pk
    assert event.detail["previous_bundle_id"] == first.pk
    assert event.detail["previous_version"] == "1.5.0"


def test_a_planner_cannot_make_a_bundle_desired_even_outside_the_views(planner):
    from django.core.exceptions import PermissionDenied

    bundle = make_bundle("1.5.0", {"BMC": "2.50"})
    with pytest.raises(PermissionDenied):
        desired_bundle_set(actor=planner, bundle_id=bundle.pk)
    assert not DesiredBundle.objects.exists()
