"""The audit log shows each event's detail as readable fields, not a Python dict."""

import pytest
from django.urls import reverse

from apps.audit.services import audit_record
from apps.audit.views import detail_fields

pytestmark = pytest.mark.django_db


def test_detail_fields_round_float_noise_and_flatten_nested_objects():
    fields = detail_fields(
        {
            "previous_kwh": 1.2000000000000002,
            "power_kw": 4.25,
            "nodes": 3,
            "partner_visible": False,
            "reading": {"supply_c": 70.04999999999999, "serials": ["HM-1", "HM-2"]},
            "error": None,
        }
    )
    assert fields == [
        ("previous kwh", "1.2"),
        ("power kw", "4.25"),
        ("nodes", "3"),
        ("partner visible", "no"),
        ("reading · supply c", "70.05"),
        ("reading · serials", "HM-1, HM-2"),
    ]


def test_detail_fields_leave_out_empty_values_but_keep_zeros():
    fields = detail_fields(
        {
            "from": "",
            "to": "trusted",
            "reason_code": None,
            "reason": "  ",
            "pcrs": [],
            "context": {},
            "evidence": {"quote": None, "mismatches": 0},
            "retries": 0,
            "load_kw": 0.0,
            "forced": False,
        }
    )
    assert fields == [
        ("to", "trusted"),
        ("evidence · mismatches", "0"),
        ("retries", "0"),
        ("load kw", "0"),
        ("forced", "no"),
    ]
    assert detail_fields({"reason": None}) == []
    assert detail_fields("") == [] and detail_fields(0) == [("detail", "0")]


def test_detail_fields_tidy_floats_already_written_into_older_texts():
    [(label, value)] = detail_fields(
        {"detail": "register 0.0 kWh below previous 1.2000000000000002 kWh (v2.10.3)"}
    )
    assert (label, value) == ("detail", "register 0.0 kWh below previous 1.2 kWh (v2.10.3)")


def test_audit_log_renders_details_as_a_definition_list(client, engineer):
    audit_record(
        actor=None,
        action="heat.alarm_raised",
        detail={
            "kind": "meter_offline",
            "detail": "No good reading (register 0.0 kWh below previous 1.2000000000000002 kWh)",
            "partner_visible": False,
            "reference_kw": 4.300000000000001,
        },
    )
    client.force_login(engineer)
    page = client.get(reverse("audit-log")).content.decode()
    assert '<dl class="audit-detail' in page
    assert (
        '<dt class="d-inline fw-semibold">reference kw</dt> <dd class="d-inline mb-0">4.3</dd>'
        in page
    )
    assert "below previous 1.2 kWh" in page
    assert "1.2000000000000002" not in page and "{&#x27;" not in page and "{'" not in page


def test_audit_log_shows_no_row_for_an_empty_field(client, engineer):
    audit_record(
        actor=None,
        action="attestation.status_changed",
        detail={"from": "", "to": "trusted", "reason_code": None, "reason": "", "attempt": 0},
    )
    client.force_login(engineer)
    page = client.get(reverse("audit-log")).content.decode()
    assert '<dt class="d-inline fw-semibold">to</dt> <dd class="d-inline mb-0">trusted</dd>' in page
    assert '<dt class="d-inline fw-semibold">attempt</dt> <dd class="d-inline mb-0">0</dd>' in page
    for label in ("from", "reason code", "reason"):
        assert f'<dt class="d-inline fw-semibold">{label}</dt>' not in page
