"""API plumbing shared by every app: the exception handler, the token endpoint."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.audit.services import audit_record
from apps.core.rest import field_errors


def exception_handler(exc, context):
    # Keep the reason the access module gave ("Your role may not ...") in the 403 body.
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    return drf_exception_handler(exc, context)


# -- the token endpoint -----------------------------------------------------------------------


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")


class TokenView(ObtainAuthToken):
    """POST username + password, get the user's API token (created on first use)."""

    @extend_schema(
        summary="Get an API token",
        request=AuthTokenSerializer,
        responses={
            200: OpenApiResponse(
                TokenSerializer,
                examples=[OpenApiExample("token", value={"token": "9944b09199c62bcf9418ad8"})],
            ),
            400: field_errors("Wrong username or password (`non_field_errors`), or missing."),
        },
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        token, created = Token.objects.get_or_create(user=user)
        if created:
            audit_record(actor=user, action="token.create", target=user)
        return Response({"token": token.key})
