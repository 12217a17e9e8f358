"""API plumbing shared by every app: the exception handler, the token endpoint."""

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext, gettext_noop
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.api_text import said
from apps.core.rest import error, field_errors
from apps.tokens import services as tokens
from apps.tokens.models import Scope


def exception_handler(exc, context):
    # Keep the reason the access module gave ("Your role may not ...") in the 403 body, in the
    # request's language (the reason itself is English: apps.core.api_text).
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(said(str(exc)) or None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(said(str(exc)) or None)
    return drf_exception_handler(exc, context)


# -- the token endpoint -----------------------------------------------------------------------

WRONG_CREDENTIALS = gettext_noop("Wrong username or password.")
OTP_REQUIRED = gettext_noop(
    "This account has a second factor: send `otp`, the current code of your authenticator app."
)
OTP_WRONG = gettext_noop("Wrong or already used `otp` code.")
ENROL_FIRST = gettext_noop(
    "Your role requires a second factor: enrol an authenticator app in the console "
    "(account page) before asking for API tokens."
)


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)
    otp = serializers.CharField(
        max_length=16,
        required=False,
        allow_blank=True,
        help_text="The current TOTP code; required for accounts with a second factor.",
    )
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices),
        required=False,
        max_length=3,
        help_text='Default `["read"]`. Each scope implies those below: operate ⊃ write ⊃ read. '
        "Partners and planners may hold read only.",
    )
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    days = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=tokens.MAX_DAYS,
        help_text=f"Days until the token expires (default {tokens.DEFAULT_DAYS}).",
    )


class IssuedTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`. Shown once.")
    expires = serializers.DateTimeField()
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices))
    id = serializers.IntegerField(help_text="The token's id (to list or revoke it).")
    name = serializers.CharField()


def _refused(status_code: int, detail: str) -> Response:
    headers = {"WWW-Authenticate": "Token"} if status_code == 401 else None
    # ``detail`` is English (the audit keeps it); the answer is in the request's language
    text = said(detail)
    if text == detail:
        text = gettext(detail)
    return Response({"detail": text}, status=status_code, headers=headers)


class TokenView(APIView):
    """POST username + password (+ `otp` for accounts with a second factor): a new API token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Get an API token",
        request=TokenRequestSerializer,
        responses={
            200: OpenApiResponse(
                IssuedTokenSerializer,
                examples=[
                    OpenApiExample(
                        "token",
                        value={
                            "token": "hst_3q2-7wEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAM",
                            "expires": "2027-01-03T10:00:00Z",
                            "scopes": ["read"],
                            "id": 7,
                            "name": "ERP import",
                        },
                    )
                ],
            ),
            400: field_errors("A missing field, an unknown scope, a scope the role may not hold."),
            401: error("Wrong credentials, or the `otp` is missing or wrong.", OTP_REQUIRED),
            403: error("The role requires a second factor that is not enrolled yet.", ENROL_FIRST),
            429: error(
                "Too many failed sign-ins for this username or address (lockout).",
                "Too many failed sign-ins for this account: it is locked for 14 more minute(s).",
            ),
        },
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        from apps.identity import factors, lockout

        query = TokenRequestSerializer(data=request.data)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        username, ip = data["username"], lockout.client_ip(request)

        reason = lockout.refusal(username, ip)
        if reason:
            audit_record(
                actor=None,
                action="token.refused",
                result=AuditEvent.Result.REFUSED,
                detail={"username": username, "ip": ip, "reason": reason, "via": "api"},
            )
            return _refused(status.HTTP_429_TOO_MANY_REQUESTS, reason)

        # The password is checked here without the lockout backend (apps.identity.backends),
        # which would reset the username's count on a right password before the code is
        # checked: a known password would then allow unlimited code guesses. The count is
        # reset only once password and code are both right.
        user = ModelBackend().authenticate(
            request._request, username=username, password=data["password"]
        )
        if user is None:
            lockout.failed(username, ip, channel="api")
            user_login_failed.send(  # audited as a failed login, like every door
                sender=__name__, credentials={"username": username}, request=request._request
            )
            return _refused(status.HTTP_401_UNAUTHORIZED, WRONG_CREDENTIALS)

        method = "password"
        if factors.has_factor(user):
            otp = data.get("otp", "")
            if not otp:
                self._audit_refusal(user, ip, OTP_REQUIRED)
                return _refused(status.HTTP_401_UNAUTHORIZED, OTP_REQUIRED)
            if not factors.verify_totp(user, otp):
                lockout.failed(username, ip, channel="otp")
                self._audit_refusal(user, ip, OTP_WRONG)
                return _refused(status.HTTP_401_UNAUTHORIZED, OTP_WRONG)
            method = "password+totp"
        elif factors.factor_required(user):
            self._audit_refusal(user, ip, ENROL_FIRST)
            return _refused(status.HTTP_403_FORBIDDEN, ENROL_FIRST)

        try:
            token, secret = tokens.create_token(
                user,
                name=data.get("name") or "API token (POST /api/v1/auth/token/)",
                scopes=data.get("scopes"),
                days=data.get("days"),
                via=f"api ({method})",
            )
        except tokens.TokenError as exc:
            raise exceptions.ValidationError({"scopes": [str(exc)]}) from None
        lockout.succeeded(username, ip)
        return Response(
            {
                "token": secret,
                "expires": token.expires,
                "scopes": token.scopes,
                "id": token.pk,
                "name": token.name,
            }
        )

    @staticmethod
    def _audit_refusal(user, ip: str, reason: str) -> None:
        audit_record(
            actor=None,
            action="token.refused",
            target=user,
            result=AuditEvent.Result.REFUSED,
            detail={"username": user.get_username(), "ip": ip, "reason": reason, "via": "api"},
        )
