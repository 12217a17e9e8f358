"""``manage.py campaign plan|apply FILE``: the dry run, creation awaiting approval, bad files."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent
from apps.firmware.models import Campaign, CampaignNode
from tests.firmware.campaign_kit import spec, write


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("campaign", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_plan_prints_waves_heat_and_exclusions_without_storing(fleet, tmp_path):
    text = run("plan", str(write(tmp_path, spec(fleet["bundle"]))))
    assert "Targeted 9, eligible 7, excluded 2" in text
    assert "canary" in text
    assert "edge-21 (lyon-02): up_to_date" in text
    assert "edge-22 (lyon-02): no_configuration: Prediction impossible" in text
    # lyon-01 has a node without live draw: its worst loss is unknown, not 0
    assert "lyon-01              unknown" in text
    assert "lyon-03              0.40 kW" in text
    assert Campaign.objects.count() == 0


@pytest.mark.django_db
def test_plan_as_json_from_a_yaml_file(fleet, tmp_path):
    data = json.loads(run("plan", str(write(tmp_path, spec(fleet["bundle"]), "yaml")), "--json"))
    plan = data["plan"]
    assert plan["eligible"] == 7
    assert plan["waves"][0]["kind"] == "canary"
    assert sum(w["node_count"] for w in plan["waves"]) == 7
    worst = {s["site"]: s for s in plan["worst_loss_per_site"]}
    assert worst["lyon-01"]["loss_kw"] is None and worst["lyon-01"]["unknown_draw"] == 1
    assert {e["code"] for e in plan["excluded"]} == {"up_to_date", "no_configuration"}


@pytest.mark.django_db
def test_apply_creates_a_planned_campaign_with_its_waves_and_nodes(fleet, tmp_path, engineer):
    text = run("apply", str(write(tmp_path, spec(fleet["bundle"]))), "--user", "engineer")
    campaign = Campaign.objects.get()
    assert f"Campaign {campaign.pk}" in text and "awaiting approval" in text
    assert campaign.state == Campaign.State.PLANNED
    assert campaign.created_by == engineer
    assert campaign.waves.count() == len(campaign.plan["waves"])
    assert CampaignNode.objects.filter(campaign=campaign).count() == 7
    event = AuditEvent.objects.get(action="firmware.campaign_create")
    assert event.actor == engineer and event.detail["nodes"] == 7
    # the nodes are now held: a second campaign over them excludes them with the reason
    again = json.loads(run("plan", str(write(tmp_path, spec(fleet["bundle"]))), "--json"))
    assert again["plan"]["eligible"] == 0
    assert {e["code"] for e in again["plan"]["excluded"]} >= {"in_campaign"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("bundle: [unclosed", "neither JSON nor YAML"),
        ("- just\n- a list\n", "must be a mapping"),
        ('{"bundle": {"sku": "HS-EDGE-1", "version": "9.9"}}', "no firmware bundle"),
        ('{"bundle": 1, "strategy": {"waves": ["rest", "5%"]}}', '"rest" can only be the last'),
        ('{"bundle": 1, "strategy": {"max_down_per_site": 0}}', "max_down_per_site must be"),
        ('{"bundle": 1, "strategy": {"turbo": true}}', "unknown setting(s) turbo"),
        ('{"bundle": 1, "targets": {"sites": ["nowhere"]}}', "targets.sites: unknown nowhere"),
        ('{"bundle": 1, "colour": "red"}', "Unknown key(s) colour"),
    ],
)
@pytest.mark.django_db
def test_bad_files_are_command_errors_with_the_reason(fleet, tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content.replace('"bundle": 1', f'"bundle": {fleet["bundle"].pk}'))
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run("apply", str(path))
    assert Campaign.objects.count() == 0


@pytest.mark.django_db
def test_bad_file_exits_with_status_1_and_the_message(fleet, tmp_path, capsys):
    from django.core.management import ManagementUtility

    with pytest.raises(SystemExit) as exited:
        ManagementUtility(
            ["manage.py", "campaign", "plan", str(tmp_path / "missing.yaml")]
        ).execute()
    assert exited.value.code == 1
    assert "cannot read the campaign file" in capsys.readouterr().err


@pytest.mark.django_db
def test_no_eligible_node_refuses_apply(fleet, tmp_path):
    data = spec(fleet["bundle"]) | {"targets": {"nodes": ["edge-21", "edge-22"]}}
    with pytest.raises(CommandError, match="No eligible node"):
        run("apply", str(write(tmp_path, data)))
    assert AuditEvent.objects.get(action="firmware.campaign_create").result == "refused"


@pytest.mark.django_db
def test_planner_inputs_take_the_same_queries_whatever_the_fleet_size(fleet):
    from apps.firmware.campaign_inputs import campaign_inputs
    from tests.firmware.campaign_kit import add_node

    def count():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            inputs = campaign_inputs(bundle=fleet["bundle"], targets={"sites": ["lyon-01"]})
        return len(queries), len(inputs.nodes)

    before, nodes = count()
    for i in range(20):
        add_node(fleet["bundle"], fleet["sites"][0], f"extra-{i}")
    after, more = count()
    assert (nodes, more) == (3, 23)
    assert after == before <= 12
