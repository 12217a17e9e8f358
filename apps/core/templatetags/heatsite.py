"""Small template helpers for sortable tables and local times."""

from urllib.parse import urlencode

from django import template
from django.utils.html import format_html

register = template.Library()


@register.filter
def get_item(mapping, key):
    return mapping.get(key, "")


def _params(query, **overrides):
    params = {
        "q": query.q,
        "status": query.status,
        "sort": f"{'-' if query.descending else ''}{query.sort}",
        "page": query.page,
    }
    params.update(overrides)
    return urlencode({k: v for k, v in params.items() if v not in ("", None)})


@register.simple_tag
def query_with(query, **overrides):
    return _params(query, **overrides)


@register.simple_tag
def sort_header(field, label, query, css=""):
    descending = query.sort == field and not query.descending
    href = "?" + _params(query, sort=f"{'-' if descending else ''}{field}", page=1)
    arrow = ""
    aria = "none"
    if query.sort == field:
        arrow = " ▼" if query.descending else " ▲"
        aria = "descending" if query.descending else "ascending"
    return format_html(
        '<th class="{}" aria-sort="{}"><a class="sort-link" href="{}" hx-get="{}" '
        'hx-target="#fleet-table" hx-push-url="true">{}{}</a></th>',
        css,
        aria,
        href,
        href,
        label,
        arrow,
    )
