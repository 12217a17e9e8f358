"""The console's reasons and notices in the reader's language (docs/decisions.md, 27).

The broker writes a console's state reason and its notices in English (`sol.classify`,
`broker`): its log and the audit keep them so, and every viewer of a node shares them. The
consumer, which knows its reader, adds ``reason_text`` and translates notices through `said`.
Keep these msgids word for word what `apps.console.sol`, `apps.console.broker` and
`apps.gateways.console` write; `tests/i18n/test_console_french.py` checks each one.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

from apps.core.sentences import Sentences

TEXTS = (
    # sol.classify: a state's reason
    gettext_noop("Site gateway offline: %(why)s."),
    gettext_noop("Site gateway offline."),
    gettext_noop("Site gateway refused: %(why)s."),
    gettext_noop("Site gateway refused."),
    gettext_noop("The BMC has no free session: %(error)s."),
    gettext_noop("The BMC refused the stored credentials: %(error)s."),
    gettext_noop("The BMC does not answer."),
    gettext_noop("BMC session lost: %(error)s."),
    # broker
    gettext_noop("%(reason)s Reconnecting in %(seconds)s s."),
    gettext_noop("The node is powered off."),
    gettext_noop("Closed after no one watched it."),
    gettext_noop("Input ignored: the keyboard is held by %(name)s."),
    gettext_noop("Input ignored: the console is not connected."),
    # the links' own errors (sol.SolLink, gateways.console.GatewayLink)
    gettext_noop("no BMC address is configured for this node"),
    gettext_noop("Session Disconnected"),
    gettext_noop("SOL deactivated"),
    gettext_noop("chassis status refused"),
    gettext_noop("%(gateway)s has not been heard from recently"),
    gettext_noop("the gateways' broker cannot be reached"),
    gettext_noop("the gateway's queue is unavailable"),
    gettext_noop("%(gateway)s did not open it within %(seconds)s s"),
    gettext_noop("%(gateway)s was revoked"),
)

SENTENCES = Sentences(TEXTS, nested=("why", "error", "reason"), numbers=("seconds",))
said = SENTENCES.said
