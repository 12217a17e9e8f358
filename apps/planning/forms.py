"""What a planner asks for: which sites, which period, in which order.

One form serves the page, its chart and CSV fragments and the API, so they all read the same
query string and refuse bad input with the same reasons (``CompareError``, a 400).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext, gettext_lazy

from apps.accounts import access
from apps.accounts.policy import Action
from apps.core.rest import FIRST_DAY, LAST_DAY, MAX_ID
from apps.sites.models import Organisation, Site

from .models import SiteSelection
from .selectors import SORT_KEYS, CompareError, Period, last_days, month_period

PERIODS = [
    ("7d", gettext_lazy("Last 7 days")),
    ("30d", gettext_lazy("Last 30 days")),
    ("365d", gettext_lazy("Last 365 days")),
    ("month", gettext_lazy("A month")),
    ("custom", gettext_lazy("Custom range")),
]
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
MAX_IDS = 10_000


def _site_ids(values: list[str]) -> list[int]:
    """Ids from ``sites=1,2&sites=3``; anything else is a 400, not a traceback."""
    ids: list[int] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            # Length first: int() refuses more than 4,300 digits with a ValueError.
            if not part.isdecimal() or len(part) > 19 or int(part) > MAX_ID:
                raise CompareError(
                    gettext("sites must be site ids separated by commas, not %(part)r")
                    % {"part": part}
                )
            ids.append(int(part))
    if len(ids) > MAX_IDS:
        raise CompareError(gettext("at most %(count)s site ids") % {"count": MAX_IDS})
    return ids


class CompareForm(forms.Form):
    """The comparison query. ``bounded=True`` (the API) requires an explicit start and end."""

    period = forms.ChoiceField(choices=PERIODS, required=False)
    month = forms.CharField(required=False, help_text="YYYY-MM")
    start = forms.DateField(required=False, help_text="First day (site-local)")
    end = forms.DateField(required=False, help_text="Day after the last (exclusive)")
    partner = forms.ModelChoiceField(
        queryset=Organisation.objects.filter(kind=Organisation.Kind.PARTNER), required=False
    )
    heat_network = forms.CharField(required=False, max_length=200)
    region = forms.CharField(required=False, max_length=100)
    status = forms.ChoiceField(
        choices=[("", gettext_lazy("Any status")), *Site.Status.choices], required=False
    )
    selection = forms.CharField(required=False, max_length=16)
    sort = forms.ChoiceField(choices=[(k, k) for k in SORT_KEYS], required=False)
    dir = forms.ChoiceField(choices=[("desc", "desc"), ("asc", "asc")], required=False)

    def __init__(self, data: Any, *, bounded: bool = False) -> None:
        super().__init__(data)
        self.bounded = bounded
        self.raw_sites = data.getlist("sites") if hasattr(data, "getlist") else []

    def reason(self) -> str:
        """The form's errors as one sentence for a 400."""
        parts = []
        for name, errors in self.errors.items():
            label = gettext("query") if name == "__all__" else name
            parts.append(f"{label}: {' '.join(str(e) for e in errors)}")
        return "; ".join(parts)

    def period_value(self, today: date | None = None) -> Period:
        data = self.cleaned_data
        start, end = data.get("start"), data.get("end")
        kind = data.get("period") or ("custom" if start or end else "30d")
        if self.bounded or kind == "custom":
            if start is None or end is None:
                raise CompareError(
                    gettext("both start and end are required (YYYY-MM-DD, end exclusive)")
                )
            if start < FIRST_DAY or end > LAST_DAY:
                raise CompareError(
                    gettext("start and end must lie between %(first)s and %(last)s")
                    % {"first": FIRST_DAY, "last": LAST_DAY}
                )
            return Period(start, end)
        if kind == "month":
            match = _MONTH.match(data.get("month") or "")
            if not match:
                raise CompareError(gettext("month must be YYYY-MM"))
            return month_period(int(match[1]), int(match[2]))
        return last_days(int(kind.rstrip("d")))

    def query(self, user: Any) -> CompareQuery:
        """The sites (access-checked) and period asked for, or ``CompareError`` / 404."""
        if not self.is_valid():
            raise CompareError(self.reason())
        data = self.cleaned_data
        sites = access.sites_visible_to(user, Action.COMPARE_SITES)
        selection = None
        if data["selection"]:
            selection = SiteSelection.objects.filter(key=data["selection"]).first()
            if selection is None:
                raise Http404(gettext("No such selection."))
            sites = sites.filter(pk__in=selection.sites.values("pk"))
        ids = _site_ids(self.raw_sites)
        if ids:
            found = set(sites.filter(pk__in=ids).values_list("pk", flat=True))
            if missing := sorted(set(ids) - found):
                # Outside the user's reach looks exactly like nonexistent: ids do not leak.
                raise Http404(
                    gettext("No such site: %(ids)s") % {"ids": ", ".join(map(str, missing[:10]))}
                )
            sites = sites.filter(pk__in=ids)
        if data["partner"]:
            sites = sites.filter(partner=data["partner"])
        for name in ("heat_network", "region", "status"):
            if data[name]:
                sites = sites.filter(**{name: data[name]})
        return CompareQuery(
            sites=sites,
            period=self.period_value(),
            sort=data["sort"] or "heat_mwh",
            descending=(data["dir"] or "desc") == "desc",
            selection=selection,
            site_ids=ids,
        )


@dataclass
class CompareQuery:
    """A validated comparison request."""

    sites: QuerySet[Site]
    period: Period
    sort: str
    descending: bool
    selection: SiteSelection | None
    site_ids: list[int]


class SelectionForm(forms.Form):
    """Save the ticked sites under a name."""

    name = forms.CharField(max_length=120)
