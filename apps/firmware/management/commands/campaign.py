"""``manage.py campaign plan|apply FILE``: firmware campaigns as code (YAML or JSON).

* ``plan FILE [--json]``: print the dry run (waves, sites and nodes per wave, worst heat loss
  per site, estimated duration, excluded nodes with why); nothing is stored.
* ``apply FILE [--user NAME] [--json]``: create the campaign in state planned; a different
  engineer must approve it (page or API) before it can start.

A bad file exits with status 1 and the reason (`docs`: the format is in
`apps/firmware/campaign_spec.py`).
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.accounts import access
from apps.accounts.models import User
from apps.accounts.policy import Action
from apps.firmware.campaign_plan import CampaignPlan
from apps.firmware.campaign_services import campaign_create, campaign_preview
from apps.firmware.campaign_spec import CampaignSpecError


def _kw(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.2f} kW"


def plan_text(plan: CampaignPlan) -> str:
    """The dry run as a human table."""
    data = plan.as_dict(nodes=False)
    b = data["bundle"]
    lines = [
        f"Bundle {b['sku']} {b['version']} (id {b['id']}): "
        + " → ".join(f"{c['component']} {c['version']}" for c in b["components"]),
        f"Targeted {data['targeted']}, eligible {data['eligible']}, "
        f"excluded {data['excluded_count']}; {len(data['classes'])} hardware class(es).",
        f"Estimated duration {data['estimated_minutes']} min "
        f"(worst case {data['worst_minutes']} min, not counting waits for maintenance windows).",
        "",
        f"{'wave':<10}{'nodes':>7}{'sites':>7}{'minutes':>9}  worst site loss",
    ]
    for wave in plan.waves:
        worst = max(
            wave.sites, key=lambda s: (s.loss_w is None, s.loss_w or s.loss_known_w), default=None
        )
        loss = f"{worst.site} {_kw(worst.loss_kw)}" if worst else "-"
        label = "canary" if wave.kind == "canary" else f"wave {wave.index}"
        lines.append(
            f"{label:<10}{wave.node_count:>7}{len(wave.sites):>7}{wave.minutes:>9}  {loss}"
        )
    lines += ["", "Worst heat loss per site:"]
    for site in data["worst_loss_per_site"]:
        pct = (
            "" if site["loss_pct"] is None else f" ({site['loss_pct']} % of {site['output_kw']} kW)"
        )
        unknown = (
            f", {site['unknown_draw']} node(s) of unknown draw" if site["unknown_draw"] else ""
        )
        lines.append(
            f"  {site['site']:<20} {_kw(site['loss_kw'])}{pct}, "
            f"{site['concurrency']} down at once{unknown}"
        )
    if plan.classes:
        lines += ["", "Hardware classes (canary):"]
        lines += [f"  {c.label}: {c.nodes} node(s), canary {c.canary or '-'}" for c in plan.classes]
    if plan.excluded:
        lines += ["", "Excluded:"]
        lines += [f"  {e.node} ({e.site}): {e.code}: {e.reason}" for e in plan.excluded]
    lines += [f"Warning: {w}" for w in plan.warnings]
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Plan (dry run) or apply (create, awaiting approval) a firmware campaign file."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        plan = sub.add_parser("plan", help="print the dry run of a campaign file")
        plan.add_argument("file")
        plan.add_argument("--json", action="store_true", help="the dry run as JSON")
        apply = sub.add_parser("apply", help="create the campaign (state planned)")
        apply.add_argument("file")
        apply.add_argument("--user", help="username recorded as the creator (an engineer)")
        apply.add_argument("--json", action="store_true", help="the campaign and plan as JSON")

    def handle(self, *args, verb, file, **options):
        try:
            raw = Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(
                f"cannot read the campaign file {file}: {exc.strerror or exc}"
            ) from None
        try:
            if verb == "plan":
                _, plan = campaign_preview(spec=raw)
                self._print(plan, options["json"], None)
            else:
                user = self._user(options.get("user"))
                campaign, plan = campaign_create(spec=raw, actor=user)
                self._print(plan, options["json"], campaign)
        except CampaignSpecError as exc:
            raise CommandError(f"{file}: {exc}") from None

    def _user(self, name: str | None) -> User | None:
        if not name:
            return None
        user = User.objects.filter(username=name).first()
        if user is None:
            raise CommandError(f"no user {name!r}")
        if not access.can(user, Action.MANAGE_FIRMWARE):
            raise CommandError(f"{name} may not manage firmware")
        return user

    def _print(self, plan: CampaignPlan, as_json: bool, campaign) -> None:
        if as_json:
            data = {"plan": plan.as_dict()}
            if campaign is not None:
                data |= {"id": campaign.pk, "state": campaign.state, "name": campaign.name}
            self.stdout.write(json.dumps(data, indent=2))
            return
        if campaign is not None:
            self.stdout.write(
                f"Campaign {campaign.pk} {campaign.name!r} created: {campaign.state}, "
                "awaiting approval by another engineer.\n"
            )
        self.stdout.write(plan_text(plan))
