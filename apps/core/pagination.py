"""The one pagination of every list endpoint: ``limit`` and ``offset``, bounded, checked."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination

from apps.core.rest import count_param


class Pagination(LimitOffsetPagination):
    """``limit`` (default 50, at most 500: a larger one is capped, and the ``next`` link says the
    limit used) and ``offset`` (past the end: an empty page). Anything that is not a count is a
    400 whose ``detail`` says so, never a query the database cannot run."""

    default_limit = 50
    max_limit = 500

    def get_limit(self, request):
        limit = count_param(request, self.limit_query_param, minimum=1, what="a positive integer")
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request):
        offset = count_param(request, self.offset_query_param, minimum=0, what="an integer ≥ 0")
        return offset or 0

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.limit_query_param,
                "required": False,
                "in": "query",
                "description": (
                    f"Results per page: default {self.default_limit}, at most {self.max_limit} "
                    "(a larger limit is capped). Not a positive integer: 400."
                ),
                "schema": {"type": "integer", "minimum": 1, "default": self.default_limit},
            },
            {
                "name": self.offset_query_param,
                "required": False,
                "in": "query",
                "description": (
                    "Index of the first result (0 is the first). Past the end: an empty page. "
                    "Negative or not an integer: 400."
                ),
                "schema": {"type": "integer", "minimum": 0, "default": 0},
            },
        ]
