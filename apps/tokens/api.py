"""The user's own API tokens in the API: list, create (a session with a recent factor), revoke.

A token may list the tokens of its user (read) and revoke them (write), itself included; it may
not create tokens: scripts ask POST /api/v1/auth/token/ (password and second factor).
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from apps.core.rest import error, field_errors
from apps.identity.recent import RecentFactor
from apps.tokens import services
from apps.tokens.auth import TokenScope, request_token
from apps.tokens.models import ApiToken, Scope

TOKENS_CANNOT_CREATE = (
    "A token cannot create tokens: use POST /api/v1/auth/token/ (password and second factor) "
    "or the account page."
)


class ApiTokenSerializer(serializers.ModelSerializer):
    """A token as listed: never its secret (it exists only in the creation answer)."""

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "allowed_ips",
            "created",
            "expires",
            "last_used_at",
            "last_used_ip",
            "revoked_at",
            "revoked_reason",
        ]
        read_only_fields = fields


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices), required=False, max_length=3
    )
    days = serializers.IntegerField(
        required=False, min_value=1, max_value=services.MAX_DAYS, help_text="Default 30."
    )
    allowed_ips = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=50
    )


class CreatedTokenSerializer(ApiTokenSerializer):
    token = serializers.SerializerMethodField(help_text="The secret, shown this once.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields

    def get_token(self, obj) -> str:
        return self.context["secret"]


@extend_schema(
    methods=["GET"],
    summary="List your API tokens",
    responses={200: ApiTokenSerializer(many=True)},
)
@extend_schema(
    methods=["POST"],
    summary="Create an API token",
    description="Session authentication with a second factor used in the last minutes "
    "(re-authenticate first). The answer is the only time the secret is shown. Audited.",
    request=TokenCreateSerializer,
    responses={
        201: CreatedTokenSerializer,
        400: field_errors("Unknown scope, a scope your role may not hold, a bad address range."),
        403: error(
            "A token asked (tokens cannot create tokens), or no recent second factor.",
            TOKENS_CANNOT_CREATE,
        ),
    },
)
@api_view(["GET", "POST"])
@permission_classes([IsAuthenticated, TokenScope, RecentFactor])
def token_list(request):
    if request.method == "GET":
        tokens = services.tokens_of(request.user)
        return Response(ApiTokenSerializer(tokens, many=True).data)
    if request_token(request) is not None:
        raise PermissionDenied(TOKENS_CANNOT_CREATE)
    data = TokenCreateSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    try:
        token, secret = services.create_token(
            request.user, via="api (session)", **data.validated_data
        )
    except services.TokenError as exc:
        raise ValidationError({"detail": [str(exc)]}) from None
    body = CreatedTokenSerializer(token, context={"secret": secret}).data
    return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


@extend_schema(methods=["GET"], summary="One of your API tokens", responses=ApiTokenSerializer)
@extend_schema(
    methods=["DELETE"],
    summary="Revoke one of your API tokens",
    description="Effective on the token's next request. Audited.",
    responses={
        204: OpenApiResponse(description="Revoked (or already revoked)."),
        403: error("A read-only token asked.", "This token lacks the write scope."),
    },
)
@api_view(["GET", "DELETE"])
def token_detail(request, pk):
    try:
        token = services.tokens_of(request.user).get(pk=pk)
    except (ApiToken.DoesNotExist, ValueError, TypeError):
        raise Http404("No such token.") from None
    if request.method == "GET":
        return Response(ApiTokenSerializer(token).data)
    services.revoke(token, by=request.user, reason="revoked through the API")
    return Response(status=status.HTTP_204_NO_CONTENT)
