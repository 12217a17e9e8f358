"""The signed-in user's own language beats the browser's Accept-Language."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import translation

from apps.accounts.languages import user_language


class UserLanguageMiddleware:
    """After AuthenticationMiddleware: activate ``user.language`` when the user chose one.

    LocaleMiddleware (earlier in the chain) already activated the cookie's or the browser's
    language and sets ``Content-Language`` on the way out from whatever is active then.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = user_language(getattr(request, "user", None))
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)
