"""DRF authentication by API token, and the scope check every API view passes.

`Authorization: Token hst_…` (or `Bearer hst_…`). The user object a token authenticates carries
the token as ``user.api_token``: ``apps.accounts.access`` then refuses actions the token's scopes
do not cover (operate for power, console, BIOS, firmware), wherever the action is checked.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission

from apps.tokens import services
from apps.tokens.models import ApiToken

KEYWORDS = (b"token", b"bearer")


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or ""


class ApiTokenAuthentication(BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts:
            return None
        if parts[0].lower() not in KEYWORDS:
            # Any other scheme is refused rather than ignored: session authentication must not
            # answer a request that carries credentials of its own (the factor middleware
            # leaves requests with an Authorization header to the token's scopes).
            raise exceptions.AuthenticationFailed(
                "Unsupported Authorization scheme: send `Token hst_…`."
            )
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid Authorization header: send `Token hst_…`."
            )
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        try:
            token = services.authenticate(secret, client_ip(request))
        except services.TokenRefused as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        user = token.user
        user.api_token = token
        # A safe request needs only read, whatever the access layer asks to show it (some
        # reads are gated on a managing action); a change needs the action's scope.
        user.api_token_read_only_request = request.method in SAFE_METHODS
        # For the audit trail's "how did the actor authenticate" (apps.tokens.context).
        request._request.api_token = token
        return user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


def request_token(request) -> ApiToken | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiToken) else None


class TokenScope(BasePermission):
    """A token-authenticated request needs the read scope to read and write to change anything;
    actions that touch machines need operate, checked by the access layer per action."""

    message = "This token's scopes do not allow this request."

    def has_permission(self, request, view) -> bool:
        token = request_token(request)
        if token is None:
            return True
        needed = "read" if request.method in SAFE_METHODS else "write"
        if token.has_scope(needed):
            return True
        self.message = f"This token lacks the {needed} scope (it has: {', '.join(token.scopes)})."
        return False
