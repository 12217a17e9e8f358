"""API refusals in the reader's language (docs/decisions.md, 27).

`apps.accounts.access` and the selectors raise Django's ``Http404``/``PermissionDenied`` with
English reasons ("No such node.", "Your role may not power control."): the audit log and the
command line keep them so. The API's exception handler (`apps.core.api`) answers their
``detail`` through `said`, in the request's language; the token endpoint's refusals too.
Keep these msgids word for word what the code raises; tests/i18n/test_api_french.py checks
them.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

from apps.core.sentences import Sentences

TEXTS = (
    # apps.accounts.access.require
    gettext_noop("Your role may not %(action)s."),
    gettext_noop("This API token lacks the %(scope)s scope needed to %(action)s."),
    # the actions, as `require` words them (Action values, "_" as " ")
    gettext_noop("view site"),
    gettext_noop("view heat"),
    gettext_noop("view hardware"),
    gettext_noop("view attestation"),
    gettext_noop("view trust summary"),
    gettext_noop("view alarms"),
    gettext_noop("view audit"),
    gettext_noop("power control"),
    gettext_noop("open console"),
    gettext_noop("manage firmware"),
    gettext_noop("configure bmc"),
    gettext_noop("manage inventory"),
    gettext_noop("manage users"),
    gettext_noop("compare sites"),
    gettext_noop("manage contacts"),
    gettext_noop("manage gateways"),
    # objects out of reach (access, selectors): 404
    gettext_noop("No such attestation."),
    gettext_noop("No such bundle."),
    gettext_noop("No such campaign."),
    gettext_noop("No such console log."),
    gettext_noop("No such contact."),
    gettext_noop("No such firmware release."),
    gettext_noop("No such firmware update."),
    gettext_noop("No such gateway."),
    gettext_noop("No such meter."),
    gettext_noop("No such node."),
    gettext_noop("No such page."),
    gettext_noop("No such power action."),
    gettext_noop("No such power batch."),
    gettext_noop("No such selection."),
    gettext_noop("No such session."),
    gettext_noop("No such site."),
    gettext_noop("No such token."),
    gettext_noop("No such user."),
    # apps.identity.lockout.refusal (the token endpoint's 429)
    gettext_noop(
        "Too many failed sign-ins for this account: it is locked for %(minutes)s more "
        "minute(s). Try again later or ask an administrator."
    ),
    gettext_noop(
        "Too many failed sign-ins from your address: it is refused for %(minutes)s more minute(s)."
    ),
)

SENTENCES = Sentences(TEXTS, nested=("action",))
said = SENTENCES.said
