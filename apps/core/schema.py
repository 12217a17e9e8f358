"""The OpenAPI schema's common answers, so each view documents only what is its own.

Every operation that needs a login answers 401, and 403 (second factor not enrolled, token
scope too narrow, re-authentication needed); every operation on an object named in the path
answers 404 (unknown, or outside the user's reach: ids do not leak); every paginated list
answers 400 for a bad ``limit``/``offset``. Views add their own 400/403/409 with
``extend_schema``.

A model serializer's answer carries every one of its fields (null when unknown), so all are
``required`` in responses: generated clients get plain fields, not optional ones. A serializer
with ``closed_schema = True`` (a whitelist) says no other field can appear.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import force_instance
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated

from apps.core.pagination import Pagination
from apps.core.rest import error


class AutoSchema(SpectacularAutoSchema):
    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        instance = force_instance(serializer)
        if direction == "response" and isinstance(instance, serializers.ModelSerializer):
            schema["required"] = sorted(schema["properties"])
        if getattr(instance, "closed_schema", False):
            schema["additionalProperties"] = False
        return schema

    def _needs_login(self) -> bool:
        return any(isinstance(p, IsAuthenticated) for p in self.view.get_permissions())

    def _token_scoped(self) -> bool:
        from apps.tokens.auth import TokenScope

        return any(isinstance(p, TokenScope) for p in self.view.get_permissions())

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        common = {}
        if self._is_list_view() and isinstance(self._get_paginator(), Pagination):
            common["400"] = error(
                "`limit` or `offset` is not a count.", "limit must be a positive integer, got '-1'"
            )
        if self._needs_login():
            common["401"] = error(
                "No valid session or token.", "Authentication credentials were not provided."
            )
            # Any signed-in call may be refused: a second factor still to enrol (staff), a token
            # whose scopes do not cover the act, or a dangerous act without a recent factor.
            common["403"] = error(
                "Refused: second factor not enrolled, token scope too narrow, or the act needs"
                " the second factor again.",
                "Your role requires a second factor: enrol one first.",
            )
        if self.method not in ("GET", "HEAD", "OPTIONS") and self._token_scoped():
            common["403"] = error(
                "An API token without the scope this change needs (write; operate for power, "
                "console, BIOS and firmware).",
                "This token lacks the write scope (it has: read).",
            )
        if "{" in self.path:
            common["404"] = error("No such object, or one outside your reach.", "No such node.")
        for code, response in common.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return dict(sorted(responses.items()))
