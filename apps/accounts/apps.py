from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.accounts"
    verbose_name = gettext_lazy("Accounts")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        user_logged_in.connect(_speak_their_language, dispatch_uid="accounts-login-language")


def _speak_their_language(sender, request, user, **kwargs) -> None:
    """From the moment they are known, the rest of the login request (its "signed in as"
    message included) is in the user's own language, not the anonymous form's."""
    from django.utils import translation

    from apps.accounts.languages import user_language

    language = user_language(user)
    if language and request is not None:
        translation.activate(language)
        request.LANGUAGE_CODE = language
