"""Building blocks of every API view: errors with reasons and checked query parameters.

Two shapes of 4xx body, documented in the schema: a request *body* that fails validation gets
field errors (``{"field": ["message", ...]}``, DRF's own shape); everything else (a bad query
parameter, a missing object, a role without the right) gets ``{"detail": "reason"}``.

Imported by the pagination class, so nothing here may import DRF's views (an import cycle
through ``DEFAULT_PAGINATION_CLASS``).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request


class BadQuery(exceptions.APIException):
    """A query parameter the endpoint cannot use: a 400 whose ``detail`` says which and why."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Bad query parameter."
    default_code = "bad_query"


# -- error bodies, for the schema -------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    """``{"detail": "reason"}``: every 4xx that is not a request body's field errors."""

    detail = serializers.CharField(help_text="What is wrong, in words.")


class FieldErrorsSerializer(serializers.Serializer):
    """A request body that failed validation: field name to messages (mapped by the extension
    below, since a serializer cannot say "any key")."""


class FieldErrorsExtension(OpenApiSerializerExtension):
    target_class = FieldErrorsSerializer

    def map_serializer(self, auto_schema, direction):
        return {
            "type": "object",
            "description": (
                "Field name to its messages; `non_field_errors` for the body as a whole, "
                "`detail` for an error not tied to a field; a list field's errors are keyed "
                "by item index."
            ),
            "additionalProperties": {
                "anyOf": [
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "object"},
                    {"type": "string"},
                ]
            },
            "example": {"bmc_port": ["Ensure this value is less than or equal to 65535."]},
        }


def error(description: str, example: str | None = None) -> OpenApiResponse:
    """A documented ``{"detail": ...}`` response, with its typical reason as the example."""
    examples = [OpenApiExample("reason", value={"detail": example})] if example else []
    return OpenApiResponse(ErrorSerializer, description=description, examples=examples)


def field_errors(description: str = "The request body failed validation.") -> OpenApiResponse:
    return OpenApiResponse(FieldErrorsSerializer, description=description)


# -- query parameters -------------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]+")
# A "+01:00" offset sent unencoded in a query string arrives as " 01:00".
_SPACE_OFFSET = re.compile(r" (\d{2}(:?\d{2})?)$")


# Days a query's instants may fall on: outside, no data exists and date arithmetic
# (a period before, a conversion to UTC) overflows into a 500.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2200, 1, 1)


def parse_instant(value: str) -> datetime:
    """An ISO 8601 date-time that carries its UTC offset, from 1970 to 2199; ``ValueError``
    says what is wrong."""
    text = _SPACE_OFFSET.sub(r"+\1", value.strip())
    try:
        parsed = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(_("is not an ISO 8601 date-time: %(value)r") % {"value": value})
    if parsed.tzinfo is None:
        raise ValueError(_("must carry a UTC offset (e.g. +01:00 or Z)"))
    if not FIRST_DAY <= parsed.date() < LAST_DAY:
        raise ValueError(
            _("must lie between %(first)s and %(last)s") % {"first": FIRST_DAY, "last": LAST_DAY}
        )
    return parsed


@extend_schema_field(OpenApiTypes.DATETIME)
class InstantField(serializers.Field):
    """A query parameter naming an instant: ISO 8601 with offset, never a naive time."""

    def to_internal_value(self, data: Any) -> datetime:
        try:
            return parse_instant(str(data))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


# The largest id a database column holds: a larger one is a 400, not an overflow in the query.
MAX_ID = 2**63 - 1


def id_param(help_text: str) -> serializers.IntegerField:
    """An optional query parameter naming an object by id."""
    return serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text=help_text
    )


def count_param(request, name: str, *, minimum: int, what: str) -> int | None:
    """A count parameter (a limit, an offset) as an int; None when absent or blank; a
    ``BadQuery`` when it is not a whole number ≥ ``minimum``."""
    value = request.query_params.get(name, "").strip()
    if value == "":
        return None
    try:
        # ASCII digits only: int() would also take "+5", "1_000" and "٥".
        number = int(value) if _DIGITS.fullmatch(value) else None
    except ValueError:  # more digits than Python converts
        number = None
    if number is None or number < minimum:
        raise BadQuery(
            _("%(name)s must be %(what)s, got %(value)r")
            % {"name": name, "what": what, "value": value[:40]}
        )
    return number


def parse_query(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    """The request's query parameters validated by ``serializer_class``, or a ``BadQuery``
    naming each bad parameter. Blank parameters count as absent (an empty form field)."""
    data = {k: v for k, v in request.query_params.items() if v != ""}
    query = serializer_class(data=data)
    if not query.is_valid():
        raise BadQuery(
            "; ".join(
                f"{name}: {' '.join(str(m) for m in messages)}"
                for name, messages in query.errors.items()
            )
        )
    return dict(query.validated_data)
