"""What a campaign node's steps ask of the world outside the BMC: the operator's drain/undrain
webhooks and the site's supply temperature (from the heat meters' last accepted readings)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any

from apps.heat.models import MeterState

SUPPLY_FRESH = timedelta(minutes=15)  # an older meter reading says nothing about now


def hook_body(cn: Any, which: str) -> dict[str, Any]:
    """What a hook is told: which event, for which node of which campaign."""
    return {
        "event": which,
        "campaign_id": cn.campaign_id,
        "node": cn.node.name,
        "node_id": cn.node_id,
        "site": cn.node.site.code,
        "phase": cn.phase,
    }


def hook_post(url: str, body: dict[str, Any], timeout: float) -> tuple[bool, str]:
    """POSTs ``body`` as JSON to ``url``: (a 2xx answer, what was answered). Never raises."""
    if not url.startswith(("http://", "https://")):
        return False, "not an http(s) URL"
    request = urllib.request.Request(  # noqa: S310 (http(s) only, checked above)
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return 200 <= answer.status < 300, f"HTTP {answer.status}"
    except urllib.error.HTTPError as error:
        return False, f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        return False, f"unreachable ({getattr(error, 'reason', error)})"


def site_supply_c(site_id: int, now: datetime) -> float | None:
    """The site's supply temperature now: the warmest fresh meter reading; None: unknown."""
    fresh = MeterState.objects.filter(
        meter__site_id=site_id, last_ts__gte=now - SUPPLY_FRESH, last_supply_c__isnull=False
    ).values_list("last_supply_c", flat=True)
    return max(fresh, default=None)
