"""The dry run of a firmware campaign: pure functions over plain rows, no database.

`campaign_plan(inputs, strategy)` decides which target nodes are eligible (and why the others
are not), picks the canary wave, sizes the waves, packs each wave under the heat budget of every
site and estimates the duration. The page, the API and the command line all show the same
`CampaignPlan` (`as_dict()`); `apps.firmware.campaign_inputs` fetches the rows in a few queries.

Hardware class (what the canary must cover): SKU × the component versions the BMC reports ×
the set of plugged cards with option ROMs (the attestation configuration) × the prediction
class (the PCR vector predicted with the bundle: nodes that will measure the same values).
A node whose BMC reported no firmware falls in an "unknown versions" class of its own.

Heat: a node's loss is its live draw (`Node.power_w`): the electricity it stops drawing is the
heat the site stops receiving. An unknown draw is never taken as 0: the site's worst loss is then
unknown (the known part is shown beside it), and a percentage budget cannot be checked there, so
such a site gets at most one node down at a time.
"""

from __future__ import annotations

import gc
import hashlib
import math
from bisect import bisect_right
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import accumulate, chain, zip_longest
from operator import attrgetter
from types import MappingProxyType
from typing import Any, NamedTuple

WAVE_REST = "rest"
NO_VERSIONS: Mapping[str, str] = MappingProxyType({})  # the BMC reported none
_ID, _NAME, _POWER = attrgetter("id"), attrgetter("name"), attrgetter("power_w")
_UNSEEN = object()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector while a fleet's rows are built and planned.

    The rows hold no reference cycles, yet every full collection on the way walks all of them
    (250,000 rows: about 0.5 s of CPU out of a dry run's 2 s budget, measured). Restores the
    collector on the way out, error or not; nested or concurrent uses leave it enabled once
    the first user that found it enabled is done."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class NodeRow(NamedTuple):
    """One target node as the planner sees it. A tuple: a fleet-wide dry run builds 250,000 of
    them, and a tuple is built without running an ``__init__`` (a dataclass's cost 0.3-0.4 s)."""

    id: int
    name: str
    site_id: int
    status: str = "production"
    power_w: float | None = None
    versions: Mapping[str, str] = NO_VERSIONS  # component (lower) → version
    nics: tuple[str, ...] = ()  # plugged cards with option ROMs
    prediction: Hashable | None = None  # the predicted PCRs (any hashable form); None: impossible
    reason_code: str = ""  # why no prediction ("not_predicted" when none was computed)
    reason: str = ""
    in_campaign: str = ""  # another active campaign that holds the node
    other_sku: str = ""  # named explicitly but of another SKU
    no_redfish: bool = False  # its BMC does not speak Redfish: no UpdateService


@dataclass(frozen=True, slots=True)
class SiteRow:
    id: int
    code: str
    name: str
    timezone: str = "UTC"
    output_w: float = 0.0  # live draw of the site's nodes in production (known part)
    output_unknown: int = 0  # nodes in production whose draw is unknown
    windows: int = 0  # maintenance windows (0: not restricted)


@dataclass(frozen=True, slots=True)
class BundleRow:
    id: int
    sku: str
    version: str
    components: tuple[tuple[str, str], ...]  # (component, version) in apply order


@dataclass(frozen=True)
class PlanInputs:
    bundle: BundleRow
    nodes: Sequence[NodeRow]
    sites: Mapping[int, SiteRow]
    current: Mapping[str, str] = field(default_factory=dict)  # filter: component → version


@dataclass(frozen=True)
class Strategy:
    """How a campaign rolls out. Validated by `apps.firmware.campaign_spec.strategy_from`."""

    canary: bool = True
    waves: tuple[str, ...] = ("5%", "25%", WAVE_REST)
    soak_minutes: int = 30
    max_down_per_site: int = 1
    max_site_loss_pct: float | None = None
    max_parallel: int | None = None  # fleet-wide cap on nodes in flight
    node_minutes: int = 20  # expected time of one node, all steps
    node_timeout_minutes: int = 60  # per node, counts as a failure
    retries: int = 1
    success_threshold_pct: float = 100.0  # of a wave's nodes, to advance
    error_threshold_count: int | None = 3
    error_threshold_pct: float | None = 10.0
    error_min_sample: int = 5
    pre_hook: str = ""
    post_hook: str = ""
    # The executor's gates (`apps.firmware.campaign_steps.StepSettings`).
    step_minutes: Mapping[str, int] = field(default_factory=dict)  # per step; defaults there
    stable_reads: int = 3  # consecutive good BMC reads with every version right
    power_back_pct: float = 50.0  # of the pre-flash draw (or nominal) for the heat gate
    thermal_unknown: str = "warn"  # no fresh supply reading: "warn" (pass, said) or "wait"
    hook_timeout_s: int = 10
    method: str = "push"  # how images reach the BMC: push | simple

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["waves"] = list(self.waves)
        data["step_minutes"] = dict(self.step_minutes)
        return data


@dataclass
class Excluded:
    node_id: int
    node: str
    site: str
    code: str
    reason: str


@dataclass
class SiteLoad:
    """One site in one wave: its nodes, how many go down at once, and the heat that costs."""

    site_id: int
    site: str
    nodes: int
    concurrency: int
    loss_w: float | None  # worst loss with `concurrency` nodes down; None: a draw is unknown
    loss_known_w: float  # the known part of it
    unknown_draw: int  # nodes of this wave at this site whose draw is unknown
    output_w: float | None  # the site's live draw; None when a node's draw is unknown
    loss_pct: float | None
    windows: int

    @property
    def loss_kw(self) -> float | None:
        return None if self.loss_w is None else round(self.loss_w / 1000, 2)


@dataclass
class Wave:
    index: int
    kind: str  # canary | wave
    node_ids: list[int]
    node_names: list[str]
    sites: list[SiteLoad]
    minutes: int
    worst_minutes: int

    @property
    def node_count(self) -> int:
        return len(self.node_ids)


@dataclass
class HardwareClass:
    key: str  # short stable id
    label: str
    nodes: int
    canary: str  # the canary node's name, "" when not covered


@dataclass
class CampaignPlan:
    bundle: BundleRow
    strategy: Strategy
    targeted: int
    waves: list[Wave]
    excluded: list[Excluded]
    classes: list[HardwareClass]
    estimated_minutes: int
    worst_minutes: int
    warnings: list[str]

    @property
    def eligible(self) -> int:
        return sum(w.node_count for w in self.waves)

    def worst_loss_per_site(self) -> list[dict[str, Any]]:
        """Per site, the worst loss over all waves (unknown wins: it may be the largest)."""
        worst: dict[int, SiteLoad] = {}
        for wave in self.waves:
            for load in wave.sites:
                seen = worst.get(load.site_id)
                if seen is None or _worse(load, seen):
                    worst[load.site_id] = load
        return [_load_dict(v) for v in sorted(worst.values(), key=lambda s: s.site)]

    def as_dict(self, *, nodes: bool = True) -> dict[str, Any]:
        """The dry run as JSON; ``nodes=False`` leaves out the per-node lists (the snapshot)."""
        waves = []
        for wave in self.waves:
            item: dict[str, Any] = {
                "index": wave.index,
                "kind": wave.kind,
                "node_count": wave.node_count,
                "site_count": len(wave.sites),
                "minutes": wave.minutes,
                "worst_minutes": wave.worst_minutes,
                "sites": [_load_dict(s) for s in wave.sites],
            }
            if nodes:
                item["nodes"] = list(wave.node_names)
            waves.append(item)
        return {
            "bundle": {
                "id": self.bundle.id,
                "sku": self.bundle.sku,
                "version": self.bundle.version,
                "components": [{"component": c, "version": v} for c, v in self.bundle.components],
            },
            "strategy": self.strategy.as_dict(),
            "targeted": self.targeted,
            "eligible": self.eligible,
            "excluded_count": len(self.excluded),
            "classes": [asdict(c) for c in self.classes],
            "waves": waves,
            "worst_loss_per_site": self.worst_loss_per_site(),
            "estimated_minutes": self.estimated_minutes,
            "worst_minutes": self.worst_minutes,
            "excluded": [asdict(e) for e in self.excluded] if nodes else [],
            "warnings": list(self.warnings),
        }


def _worse(a: SiteLoad, b: SiteLoad) -> bool:
    if a.loss_w is None:
        return b.loss_w is not None or a.loss_known_w > b.loss_known_w
    return b.loss_w is not None and a.loss_w > b.loss_w


def _load_dict(load: SiteLoad) -> dict[str, Any]:
    return {
        "site_id": load.site_id,
        "site": load.site,
        "nodes": load.nodes,
        "concurrency": load.concurrency,
        "loss_kw": load.loss_kw,
        "loss_known_kw": round(load.loss_known_w / 1000, 2),
        "unknown_draw": load.unknown_draw,
        "output_kw": None if load.output_w is None else round(load.output_w / 1000, 2),
        "loss_pct": None if load.loss_pct is None else round(load.loss_pct, 1),
        "windows": load.windows,
    }


# --- eligibility ------------------------------------------------------------------------------


def _exclusion(
    node: NodeRow,
    bundle: BundleRow,
    components: tuple[tuple[str, str], ...],
    current: Mapping[str, str],
) -> tuple[str, str]:
    """(code, reason) why the node cannot be in the campaign; ("", "") when it can.
    ``components``: the bundle's (component lowercased, version)."""
    if node.other_sku:
        return "other_sku", f"Of SKU {node.other_sku}, not the bundle's {bundle.sku}."
    if node.status != "production":
        return "not_in_service", f"The node is {node.status}, not in production."
    if node.in_campaign:
        return "in_campaign", f"Already in campaign {node.in_campaign!r}, which is not finished."
    if node.no_redfish:
        return "no_redfish", (
            "Its BMC does not speak Redfish (or was not probed yet): firmware updates need its "
            "UpdateService."
        )
    versions = node.versions
    if versions:
        for component, version in components:
            if versions.get(component) != version:
                break
        else:
            return "up_to_date", f"Up to date: already runs every component of {bundle.version}."
    for component, wanted in current.items():
        running = versions.get(component.lower())
        if running != wanted:
            return "filtered", (
                f"Runs {component} {running or 'unknown'}, the targets ask for {wanted}."
            )
    if node.prediction is None:
        if node.reason_code == "not_predicted" or not node.reason:
            return "not_predicted", (
                "No prediction computed for this node and bundle (run `firmware_bundle predict`)."
            )
        return node.reason_code or "prediction_impossible", f"Prediction impossible: {node.reason}"
    return "", ""


def _eligibility(inputs: PlanInputs, strategy: Strategy) -> tuple[list[Excluded], list[NodeRow]]:
    """The excluded nodes with why, and the eligible ones, both in name order.

    The common case (a production node of the SKU, free, on Redfish, predicted, not up to date,
    no version filter) is decided inline; any other node goes through `_exclusion`, the one
    place that says why, so both paths give the same answer."""
    bundle = inputs.bundle
    components = tuple((c.lower(), v) for c, v in bundle.components)
    current = inputs.current
    sites = inputs.sites
    budget = strategy.max_site_loss_pct is not None
    excluded: list[Excluded] = []
    eligible: list[NodeRow] = []
    for node in sorted(inputs.nodes, key=_NAME):
        if (
            current
            or node.other_sku
            or node.in_campaign
            or node.no_redfish
            or node.prediction is None
            or node.status != "production"
        ):
            code, reason = _exclusion(node, bundle, components, current)
        else:
            code = reason = ""
            versions = node.versions
            if versions:
                for component, version in components:
                    if versions.get(component) != version:
                        break
                else:
                    code, reason = _exclusion(node, bundle, components, current)
        if not code and budget:
            reason = _over_budget(node, sites[node.site_id], strategy)
            code = "heat_budget" if reason else ""
        if code:
            excluded.append(Excluded(node.id, node.name, sites[node.site_id].code, code, reason))
        else:
            eligible.append(node)
    return excluded, eligible


def _classes(
    eligible: list[NodeRow], sku: str
) -> tuple[dict[tuple[Any, ...], int], dict[tuple[Any, ...], dict[int, NodeRow]]]:
    """Each hardware class's node count and its first node (by name) at each site: the
    canary's candidates. Key: (SKU, sorted versions or None, cards, prediction)."""
    keys: list[tuple[Any, ...]] = []
    index: dict[tuple[Any, ...], int] = {}
    counts: list[int] = []
    firsts: list[dict[int, NodeRow]] = []
    # `campaign_inputs` shares one versions mapping, cards tuple and prediction per distinct
    # value: a node's class is found by the ids of those three (each object stays referenced by
    # its nodes for the whole call), its key built once per combination; when the objects are
    # not shared the cache stops growing and every node's key is built.
    by_ids: dict[tuple[int, int, int], int] = {}
    for node in eligible:
        versions, nics, prediction = node.versions, node.nics, node.prediction
        ids = (id(versions), id(nics), id(prediction))
        at = by_ids.get(ids)
        if at is None:
            ordered = tuple(sorted(versions.items())) if versions else None
            key = (sku, ordered, nics, prediction)
            at = index.get(key)
            if at is None:
                at = index[key] = len(keys)
                keys.append(key)
                counts.append(0)
                firsts.append({})
            if len(by_ids) < 1024:
                by_ids[ids] = at
        counts[at] += 1
        firsts[at].setdefault(node.site_id, node)
    return dict(zip(keys, counts, strict=True)), dict(zip(keys, firsts, strict=True))


def _class_label(key: tuple[Any, ...]) -> tuple[str, str]:
    sku, versions, nics, prediction = key
    version_text = ", ".join(f"{c} {v}" for c, v in versions) if versions else "unknown versions"
    nic_text = "+".join(nics) if nics else "no option-ROM cards"
    digest = hashlib.sha256(repr(prediction).encode()).hexdigest()[:8]
    label = f"{sku} · {version_text} · {nic_text} · PCRs {digest}"
    return hashlib.sha256(label.encode()).hexdigest()[:10], label


# --- canary: every class, at most one node per site -------------------------------------------


def _canary(
    candidates: dict[tuple[Any, ...], dict[int, NodeRow]],
) -> dict[tuple[Any, ...], NodeRow]:
    """One node per class, no two at the same site: a bipartite matching (classes × sites),
    greedy first and augmenting paths (Kuhn) for the classes greedy could not place.
    ``candidates``: per class, its first node at each site."""
    order = sorted(candidates, key=lambda k: (len(candidates[k]), repr(k)))
    site_holder: dict[int, tuple[Any, ...]] = {}
    class_site: dict[tuple[Any, ...], int] = {}
    unplaced = []
    for key in order:
        free = next((s for s in candidates[key] if s not in site_holder), None)
        if free is None:
            unplaced.append(key)
        else:
            site_holder[free] = key
            class_site[key] = free

    def augment(key: tuple[Any, ...], seen: set[int]) -> bool:
        for site in candidates[key]:
            if site in seen:
                continue
            seen.add(site)
            holder = site_holder.get(site)
            if holder is None or augment(holder, seen):
                site_holder[site] = key
                class_site[key] = site
                return True
        return False

    for key in unplaced:
        augment(key, set())
    return {key: candidates[key][site] for key, site in class_site.items()}


# --- waves ------------------------------------------------------------------------------------


def wave_sizes(spec: Sequence[str], total: int) -> list[int]:
    """Sizes of the waves for ``total`` nodes: "5%" (of the total, at least 1), "40" (a
    count) or "rest"; nodes left after the last entry form one more wave."""
    sizes = []
    left = total
    for item in spec:
        if left <= 0:
            break
        if item == WAVE_REST:
            size = left
        elif item.endswith("%"):
            size = max(1, math.ceil(total * float(item[:-1]) / 100))
        else:
            size = int(item)
        size = min(size, left)
        sizes.append(size)
        left -= size
    if left > 0:
        sizes.append(left)
    return sizes


def _per_site(rows: Sequence[NodeRow]) -> dict[int, list[NodeRow]]:
    per_site: dict[int, list[NodeRow]] = {}
    for row in rows:
        site_rows = per_site.get(row.site_id)
        if site_rows is None:
            per_site[row.site_id] = [row]
        else:
            site_rows.append(row)
    return per_site


def _interleaved(rows: list[NodeRow]) -> tuple[list[NodeRow], list[int], list[list[NodeRow]]]:
    """First node of every site, then the second of every site, ...: early waves touch many
    sites lightly rather than a few sites heavily. Also the sites (in order) and their rows,
    the columns that order was taken from, for `_cut`."""
    per_site = _per_site(rows)
    site_ids = sorted(per_site)
    columns = [per_site[s] for s in site_ids]
    order = [row for row in chain.from_iterable(zip_longest(*columns)) if row is not None]
    return order, site_ids, columns


def _cut(columns: list[list[NodeRow]], sizes: list[int]) -> list[list[tuple[int, int]]]:
    """Where waves of ``sizes`` cut the interleaved order, per site: for each wave, each
    site's (start, end) in its column. Worked out from the cut positions, site by site, instead
    of grouping every wave's rows by site again.

    Rank r of the order holds one row of every site with more than r rows, in site order, so
    a cut inside rank r leaves r rows of each such site before it, plus one for the first
    sites of that rank up to the cut."""
    lengths = [len(c) for c in columns]
    longest = max(lengths, default=0)
    ending = [0] * (longest + 1)
    for n in lengths:
        ending[n] += 1
    starts = [0]  # where each rank begins in the order; the last: its length
    active = len(lengths)
    for rank in range(longest):
        active -= ending[rank]
        starts.append(starts[-1] + active)

    def before(position: int) -> list[int]:
        if position >= starts[-1]:
            return lengths
        rank = bisect_right(starts, position) - 1
        first = position - starts[rank]  # rows of this rank before the cut
        out = []
        for n in lengths:
            if n > rank and first > 0:
                out.append(rank + 1)
                first -= 1
            else:
                out.append(min(n, rank))
        return out

    cuts = [0, *accumulate(sizes)]
    ends = [before(c) for c in cuts]
    return [list(zip(ends[i], ends[i + 1], strict=True)) for i in range(len(sizes))]


def _site_load(site: SiteRow, rows: list[NodeRow], strategy: Strategy) -> SiteLoad:
    known = [w for w in map(_POWER, rows) if w is not None]
    unknown = len(rows) - len(known)
    output = site.output_w if site.output_unknown == 0 else None
    concurrency = min(strategy.max_down_per_site, len(rows))
    if len(known) > 1:
        known.sort(reverse=True)
    if strategy.max_site_loss_pct is not None:
        if output is None or unknown:
            concurrency = 1  # the percentage cannot be checked: one node at a time
        else:
            limit = output * strategy.max_site_loss_pct / 100
            while concurrency > 1 and sum(known[:concurrency]) > limit:
                concurrency -= 1
    loss_known = float(sum(known[:concurrency]))
    loss = None if unknown else loss_known
    pct = None if loss is None or not output else 100 * loss / output
    # positional: 30,000 of these per fleet-wide plan
    return SiteLoad(
        site.id, site.code, len(rows), concurrency, loss, loss_known, unknown, output, pct,
        site.windows,
    )  # fmt: skip


def _wave(
    index: int,
    kind: str,
    rows: list[NodeRow],
    inputs: PlanInputs,
    strategy: Strategy,
    per_site: list[tuple[int, list[NodeRow]]] | None = None,
) -> Wave:
    """One wave of ``rows``; ``per_site``: its rows per site in site order, when known."""
    if per_site is None:
        grouped = _per_site(rows)
        per_site = [(s, grouped[s]) for s in sorted(grouped)]
    sites = inputs.sites
    loads = [_site_load(sites[s], site_rows, strategy) for s, site_rows in per_site]
    rounds = max((math.ceil(s.nodes / s.concurrency) for s in loads), default=0)
    if strategy.max_parallel:
        rounds = max(rounds, math.ceil(len(rows) / strategy.max_parallel))
    return Wave(
        index=index,
        kind=kind,
        node_ids=list(map(_ID, rows)),
        node_names=list(map(_NAME, rows)),
        sites=loads,
        minutes=rounds * strategy.node_minutes,
        worst_minutes=rounds * strategy.node_timeout_minutes * (1 + strategy.retries),
    )


def _over_budget(node: NodeRow, site: SiteRow, strategy: Strategy) -> str:
    if strategy.max_site_loss_pct is None or node.power_w is None or site.output_unknown:
        return ""
    limit = site.output_w * strategy.max_site_loss_pct / 100
    if node.power_w > limit:
        return (
            f"Alone it draws {node.power_w / 1000:.2f} kW, more than "
            f"{strategy.max_site_loss_pct:g} % of its site's {site.output_w / 1000:.2f} kW."
        )
    return ""


def campaign_plan(inputs: PlanInputs, strategy: Strategy) -> CampaignPlan:
    """The dry run: eligible nodes in waves under the heat budget, and the excluded with why."""
    with gc_paused():
        return _plan(inputs, strategy)


def _plan(inputs: PlanInputs, strategy: Strategy) -> CampaignPlan:
    bundle = inputs.bundle
    excluded, eligible = _eligibility(inputs, strategy)
    counts, candidates = _classes(eligible, bundle.sku)
    canary = _canary(candidates) if strategy.canary else {}
    class_rows = []
    for key, count in counts.items():
        short, label = _class_label(key)
        picked = canary.get(key)
        class_rows.append(HardwareClass(short, label, count, picked.name if picked else ""))
    class_rows.sort(key=lambda c: c.label)

    warnings = []
    uncovered = [c.label for c in class_rows if strategy.canary and not c.canary]
    if uncovered:
        warnings.append(
            f"{len(uncovered)} hardware class(es) could not get a canary node at a site of "
            "their own; they first appear in wave 1."
        )
    waves: list[Wave] = []
    canary_ids = {n.id for n in canary.values()}
    if canary:
        canary_rows = sorted(canary.values(), key=lambda n: n.name)
        waves.append(_wave(0, "canary", canary_rows, inputs, strategy))
    rest, site_ids, columns = _interleaved(
        [n for n in eligible if n.id not in canary_ids] if canary else eligible
    )
    sizes = wave_sizes(strategy.waves, len(rest))
    start = 0
    for size, spans in zip(sizes, _cut(columns, sizes), strict=True):
        per_site = [(site_ids[i], columns[i][a:b]) for i, (a, b) in enumerate(spans) if b > a]
        rows = rest[start : start + size]
        waves.append(_wave(len(waves), "wave", rows, inputs, strategy, per_site))
        start += size

    soak = strategy.soak_minutes * max(len(waves) - 1, 0)
    if any(s.unknown_draw for w in waves for s in w.sites):
        warnings.append("Some nodes' live draw is unknown: their sites' heat loss is unknown.")
    return CampaignPlan(
        bundle=bundle,
        strategy=strategy,
        targeted=len(inputs.nodes),
        waves=waves,
        excluded=excluded,
        classes=class_rows,
        estimated_minutes=sum(w.minutes for w in waves) + soak,
        worst_minutes=sum(w.worst_minutes for w in waves) + soak,
        warnings=warnings,
    )
