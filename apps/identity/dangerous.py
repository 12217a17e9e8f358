"""The one list of dangerous endpoints: each needs a second factor used in the last minutes
(`apps.identity.recent`). `tests/identity/test_dangerous.py` walks this list: every entry is
refused at minute 6 and allowed after re-authentication. A new dangerous endpoint is added here
and guarded with `recent_factor_required` (pages) or `RecentFactor` (API)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dangerous:
    """One dangerous endpoint: URL name, HTTP method, what it does, how it is reached."""

    url_name: str
    method: str
    what: str
    kind: str  # "page" (htmx or form), "api" (session-authenticated API), "ws" (websocket)


DANGEROUS: tuple[Dangerous, ...] = ()
