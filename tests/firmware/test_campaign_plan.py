"""The campaign planner on plain rows: canary coverage, wave sizes, heat budget, exclusions."""

from collections import Counter

import pytest

from apps.firmware.campaign_plan import (
    BundleRow,
    NodeRow,
    PlanInputs,
    SiteRow,
    Strategy,
    campaign_plan,
    wave_sizes,
)

BUNDLE = BundleRow(7, "HS-EDGE-1", "1.5.0", (("BMC", "2.50"), ("BIOS", "1.5.0")))
PCR_A = (("0", "aa" * 32),)
PCR_B = (("0", "bb" * 32),)
OLD = {"bmc": "2.42", "bios": "1.4.0"}


def node(i, site, **kw):
    base = {"versions": OLD, "prediction": PCR_A, "power_w": 400.0}
    return NodeRow(id=i, name=f"n{i:03d}", site_id=site, **(base | kw))


def inputs(nodes, **current):
    sites = {}
    for n in nodes:
        sites.setdefault(n.site_id, []).append(n)
    rows = {
        s: SiteRow(
            id=s,
            code=f"site-{s}",
            name=f"Site {s}",
            output_w=sum(n.power_w or 0 for n in ns),
            output_unknown=sum(1 for n in ns if n.power_w is None),
        )
        for s, ns in sites.items()
    }
    return PlanInputs(bundle=BUNDLE, nodes=nodes, sites=rows, current=current)


def test_canary_covers_every_hardware_class_with_at_most_one_node_per_site():
    # Four classes; classes 2 and 3 exist only at site 1 and site 2, which class 1 also
    # populates: a greedy pick of site 1 for class 1 would leave a class uncovered.
    nodes = [
        node(1, 1),
        node(2, 2),
        node(3, 1, nics=("CX6",)),
        node(4, 2, prediction=PCR_B),
        node(5, 3, versions={"bmc": "2.42", "bios": "1.3.2"}),
        node(6, 3, versions={"bmc": "2.42", "bios": "1.3.2"}),
        *[node(10 + i, 4 + i % 3) for i in range(9)],
    ]
    plan = campaign_plan(inputs(nodes), Strategy())
    canary = plan.waves[0]
    assert canary.kind == "canary"
    assert len(plan.classes) == 4
    assert all(c.canary for c in plan.classes)
    by_id = {n.id: n for n in nodes}
    sites = Counter(by_id[i].site_id for i in canary.node_ids)
    assert max(sites.values()) == 1
    assert len(canary.node_ids) == 4
    # the canary nodes are in no later wave, every eligible node in exactly one wave
    every = [i for w in plan.waves for i in w.node_ids]
    assert sorted(every) == sorted(n.id for n in nodes)


def test_class_without_a_free_site_is_reported_not_silently_dropped():
    nodes = [node(1, 1), node(2, 1, nics=("CX6",))]
    plan = campaign_plan(inputs(nodes), Strategy())
    assert sum(1 for c in plan.classes if c.canary) == 1
    assert any("could not get a canary" in w for w in plan.warnings)
    assert sorted(i for w in plan.waves for i in w.node_ids) == [1, 2]


@pytest.mark.parametrize(
    ("spec", "total", "sizes"),
    [
        (("5%", "25%", "rest"), 100, [5, 25, 70]),
        (("5%", "25%", "rest"), 7, [1, 2, 4]),
        (("10", "50"), 200, [10, 50, 140]),
        (("50%",), 3, [2, 1]),
        (("rest",), 0, []),
    ],
)
def test_wave_sizes_by_count_percentage_and_rest(spec, total, sizes):
    assert wave_sizes(spec, total) == sizes
    assert sum(sizes) == total


def test_waves_after_the_canary_follow_the_strategy_and_spread_over_sites():
    nodes = [node(i, i % 20) for i in range(200)]
    plan = campaign_plan(inputs(nodes), Strategy(waves=("10%", "rest")))
    kinds = [(w.kind, w.node_count) for w in plan.waves]
    assert kinds[0] == ("canary", 1)
    assert kinds[1:] == [("wave", 20), ("wave", 179)]
    # the 10 % wave takes one node from each of the 20 sites, not 20 from one site
    assert len(plan.waves[1].sites) == 20


def test_heat_budget_never_exceeded_per_site_and_wave():
    nodes = [node(i, i % 4, power_w=300.0 + 100 * (i % 5)) for i in range(80)]
    strategy = Strategy(max_down_per_site=3, max_site_loss_pct=5, waves=("rest",))
    data = inputs(nodes)
    plan = campaign_plan(data, strategy)
    draws = {n.id: n.power_w for n in nodes}
    for wave in plan.waves:
        for load in wave.sites:
            site = data.sites[load.site_id]
            assert 1 <= load.concurrency <= 3
            wave_draws = sorted(
                (
                    draws[i]
                    for i in wave.node_ids
                    if next(n for n in nodes if n.id == i).site_id == load.site_id
                ),
                reverse=True,
            )
            worst = sum(wave_draws[: load.concurrency])
            assert load.loss_w == worst
            assert worst <= site.output_w * 5 / 100
    # 5 % of a site's ~10 kW is ~500 W: at most one node of 400+ W at a time
    assert all(s.concurrency == 1 for w in plan.waves for s in w.sites)


def test_node_that_alone_exceeds_the_percentage_is_excluded_with_why():
    nodes = [node(1, 1, power_w=2000.0), node(2, 1, power_w=100.0), node(3, 1, power_w=100.0)]
    plan = campaign_plan(inputs(nodes), Strategy(max_site_loss_pct=50))
    assert [(e.node, e.code) for e in plan.excluded] == [("n001", "heat_budget")]
    assert "2.00 kW" in plan.excluded[0].reason


def test_unknown_draw_stays_unknown_never_zero():
    nodes = [node(1, 1, power_w=None), node(2, 1, power_w=500.0), node(3, 2, power_w=600.0)]
    plan = campaign_plan(
        inputs(nodes), Strategy(canary=False, max_down_per_site=2, waves=("rest",))
    )
    site1 = next(s for s in plan.waves[0].sites if s.site_id == 1)
    assert site1.loss_w is None and site1.loss_kw is None
    assert site1.loss_known_w == 500.0 and site1.unknown_draw == 1
    assert site1.output_w is None and site1.loss_pct is None
    site2 = next(s for s in plan.waves[0].sites if s.site_id == 2)
    assert site2.loss_kw == 0.6
    worst = {s["site"]: s for s in plan.as_dict()["worst_loss_per_site"]}
    assert worst["site-1"]["loss_kw"] is None
    assert any("unknown" in w for w in plan.warnings)


def test_unknown_draw_with_a_percentage_budget_takes_one_node_at_a_time():
    nodes = [node(i, 1, power_w=None if i == 0 else 100.0) for i in range(6)]
    plan = campaign_plan(
        inputs(nodes), Strategy(canary=False, max_down_per_site=4, max_site_loss_pct=90)
    )
    assert plan.waves[0].sites[0].concurrency == 1


def test_exclusions_carry_their_reasons():
    nodes = [
        node(1, 1),
        node(2, 1, versions={"bmc": "2.50", "bios": "1.5.0"}),
        node(3, 1, prediction=None, reason_code="no_configuration", reason="No release recorded"),
        node(4, 1, prediction=None, reason_code="not_predicted"),
        node(5, 1, status="retired"),
        node(6, 1, in_campaign="spring"),
        node(7, 1, other_sku="HX-500"),
        node(8, 1, versions={"bmc": "2.42", "bios": "1.3.2"}),
        node(9, 1, no_redfish=True),
    ]
    plan = campaign_plan(inputs(nodes, BIOS="1.4.0"), Strategy())
    codes = {e.node: (e.code, e.reason) for e in plan.excluded}
    assert codes["n002"][0] == "up_to_date"
    assert codes["n003"] == ("no_configuration", "Prediction impossible: No release recorded")
    assert codes["n004"][0] == "not_predicted"
    assert codes["n005"][0] == "not_in_service"
    assert codes["n006"][0] == "in_campaign" and "spring" in codes["n006"][1]
    assert codes["n007"][0] == "other_sku"
    assert codes["n008"][0] == "filtered" and "1.3.2" in codes["n008"][1]
    assert codes["n009"][0] == "no_redfish" and "Redfish" in codes["n009"][1]
    assert [i for w in plan.waves for i in w.node_ids] == [1]


def test_duration_from_per_node_times_concurrency_and_soak():
    # 6 nodes at one site, 2 at a time: 3 rounds of 20 min; canary 1 round; one soak of 30
    nodes = [node(i, 1) for i in range(7)]
    strategy = Strategy(waves=("rest",), max_down_per_site=2, node_minutes=20, soak_minutes=30)
    plan = campaign_plan(inputs(nodes), strategy)
    assert [w.minutes for w in plan.waves] == [20, 60]
    assert plan.estimated_minutes == 20 + 60 + 30
    assert plan.worst_minutes == (1 + 3) * 60 * 2 + 30
    capped = campaign_plan(
        inputs(nodes), Strategy(waves=("rest",), max_down_per_site=6, max_parallel=2, canary=False)
    )
    assert capped.waves[0].minutes == 4 * 20  # 7 nodes, 2 in flight fleet-wide
