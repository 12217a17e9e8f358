"""Attestation badges: pure functions from the latest facts to what a node or site shows.

A badge is computed at read time from the latest attestation and the time of the last trusted
one, so a verifier that stopped running turns green badges into "stale" by itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext


class Badge(StrEnum):
    TRUSTED = "trusted"
    MISMATCH = "mismatch"
    INVALID = "invalid"
    UNREACHABLE = "unreachable"
    STALE = "stale"
    NOT_ENROLLED = "not_enrolled"


LABELS = {
    Badge.TRUSTED: _("Trusted"),
    Badge.MISMATCH: _("Mismatch"),
    Badge.INVALID: _("Invalid evidence"),
    Badge.UNREACHABLE: _("Unreachable"),
    Badge.STALE: _("Stale"),
    Badge.NOT_ENROLLED: _("Not enrolled"),
}

EXPLANATIONS = {
    Badge.TRUSTED: _("The TPM's signed PCR values match the prediction for this node."),
    Badge.MISMATCH: _("The TPM's signed PCR values differ from every approved prediction."),
    Badge.INVALID: _("The evidence failed verification (signature, nonce, replay or event log)."),
    Badge.UNREACHABLE: _("The node's agent did not answer the last challenge."),
    Badge.STALE: _("No successful check recently: the verifier may not be running."),
    Badge.NOT_ENROLLED: _("No TPM identity is enrolled for this node yet."),
}

# Worst first: a site shows the worst badge of its nodes.
SEVERITY = (
    Badge.INVALID,
    Badge.MISMATCH,
    Badge.UNREACHABLE,
    Badge.STALE,
    Badge.NOT_ENROLLED,
    Badge.TRUSTED,
)

CSS = {
    Badge.TRUSTED: "text-bg-success",
    Badge.MISMATCH: "text-bg-danger",
    Badge.INVALID: "text-bg-danger",
    Badge.UNREACHABLE: "text-bg-warning",
    Badge.STALE: "text-bg-secondary",
    Badge.NOT_ENROLLED: "text-bg-light border",
}


def stale_after() -> timedelta:
    """ATTESTATION_STALE_AFTER seconds, or (unset) 3 x ATTESTATION_INTERVAL."""
    interval = float(getattr(settings, "ATTESTATION_INTERVAL", 300))
    configured = getattr(settings, "ATTESTATION_STALE_AFTER", None)
    return timedelta(seconds=float(configured if configured is not None else 3 * interval))


def node_badge(
    *,
    enrolled: bool,
    latest_verdict: str | None,
    last_trusted_at: datetime | None,
    now: datetime,
    stale: timedelta | None = None,
) -> Badge:
    """The badge of one node.

    Bad news (mismatch, invalid evidence, unreachable) shows until a later check says otherwise;
    "trusted" only while the last trusted check is younger than ``stale``.
    """
    if not enrolled:
        return Badge.NOT_ENROLLED
    if latest_verdict in (Badge.MISMATCH, Badge.INVALID, Badge.UNREACHABLE):
        return Badge(latest_verdict)
    window = stale if stale is not None else stale_after()
    if latest_verdict == Badge.TRUSTED and last_trusted_at and now - last_trusted_at <= window:
        return Badge.TRUSTED
    return Badge.STALE


def worst(badges: Iterable[Badge]) -> Badge | None:
    """The worst of several badges (None for none: a site without nodes)."""
    present = set(badges)
    return next((b for b in SEVERITY if b in present), None)


@dataclass(frozen=True)
class TrustSummary:
    """What a partner may see of a site: how many of its machines are verified. Nothing else."""

    verified: int
    total: int

    @property
    def all_verified(self) -> bool:
        return self.total > 0 and self.verified == self.total

    @property
    def label(self) -> str:
        if self.total == 0:
            return str(_("No machines"))
        if self.all_verified:
            return str(_("Machines verified"))
        # English reads the same either way; French agrees with the verified count.
        return ngettext(
            "%(verified)s of %(total)s machines verified",
            "%(verified)s of %(total)s machines verified",
            self.verified,
        ) % {"verified": self.verified, "total": self.total}


def view(badge: Badge | None) -> dict[str, str]:
    """What a template needs to draw a badge (an empty dict for no badge)."""
    if badge is None:
        return {}
    return {
        "key": badge.value,
        "label": LABELS[badge],
        "css": CSS[badge],
        "help": EXPLANATIONS[badge],
    }
