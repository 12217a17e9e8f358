"""The API's URL patterns, found by walking the resolver (so new endpoints are covered unnamed)."""

from collections.abc import Iterator

from django.urls import URLPattern, URLResolver, get_resolver


def api_patterns(patterns=None, namespace: str = "") -> Iterator[URLPattern]:
    """Every URL pattern in the ``api`` namespace."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from api_patterns(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and namespace == "api:":
            yield entry
