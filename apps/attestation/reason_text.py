"""An attestation's reasons in the reader's language, rebuilt at display (docs/decisions.md, 27).

The verifier writes its reasons in English (`Attestation.reason`, each divergence's
``message``): the audit log, the API's ``reason`` and the campaign executor keep them so.
Pages and the API's ``reason_text`` show them through `said`; a mismatch's reason is its
divergences joined by "; ", each translated. Keep these msgids word for word what
`apps.attestation.predict.explain`, `apps.attestation.services.verify_evidence` and
`apps.attestation.tcg.quote` write; `tests/i18n/test_attestation_french.py` checks them.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

from apps.core.sentences import Sentences

TEXTS = (
    # predict.explain: a divergence's plain words
    gettext_noop(
        "PCR%(pcr)s: an option ROM not in the approved set was loaded from %(device)s — a new "
        "or changed PCIe card"
    ),
    gettext_noop("an unknown device"),
    gettext_noop(
        "PCR%(pcr)s: the approved option ROM from %(device)s was not loaded — a PCIe card was "
        "removed or its ROM disabled"
    ),
    gettext_noop("PCR%(pcr)s: BootOrder changed"),
    gettext_noop("PCR%(pcr)s: boot entry %(name)s was added, removed or changed"),
    gettext_noop("PCR%(pcr)s: Secure Boot configuration changed (%(name)s)"),
    gettext_noop("PCR%(pcr)s: a different Secure Boot authority verified a loaded image"),
    gettext_noop("PCR%(pcr)s: boot loader binary changed (%(where)s)"),
    gettext_noop("boot application"),
    gettext_noop("PCR%(pcr)s: the boot disk's partition table (GPT) changed"),
    gettext_noop("PCR%(pcr)s: a boot attempt failed and the firmware tried another boot option"),
    gettext_noop("PCR%(pcr)s: the boot flow differs (%(event)s)"),
    gettext_noop("PCR%(pcr)s: firmware differs from release %(release)s (%(event)s)"),
    gettext_noop(
        "PCR%(pcr)s: the event log does not replay to the quoted value — the log was altered "
        "or is incomplete, so it cannot explain this PCR"
    ),
    gettext_noop(
        "PCR0: startup locality %(locality)s instead of %(expected)s — firmware or platform changed"
    ),
    # services.verify_evidence
    gettext_noop("the agent reports an unknown PCR bank %(bank)s"),
    gettext_noop("the reported PCR values are not hex digests"),
    gettext_noop("%(why)s: the quote was not signed by this node's enrolled TPM key"),
    gettext_noop("the reported PCR values do not cover PCR0-7"),
    gettext_noop("the event log is unreadable: %(error)s"),
    gettext_noop(
        "the event log does not replay to the quoted values (%(pcrs)s): the log was altered "
        "or is incomplete"
    ),
    gettext_noop("no firmware release/configuration recorded"),
    gettext_noop("rebooted since the previous check"),
    gettext_noop("the PCRs match none of the approved variants of release %(release)s"),
    gettext_noop("replayed quote: it answers the challenge of %(at)s UTC, not this one"),
    # tcg.quote: the checks a quote fails most
    gettext_noop("nonce mismatch: the quote answers another challenge (replay?)"),
    gettext_noop("PCR digest mismatch: the PCR values are not the quoted"),
    gettext_noop(
        "resetCount went backwards (%(before)s -> %(after)s): TPM cleared or replaced, or an "
        "old quote replayed"
    ),
    gettext_noop("restartCount went backwards (%(before)s -> %(after)s)"),
    gettext_noop("clock went backwards (%(before)s -> %(after)s ms)"),
)

SENTENCES = Sentences(TEXTS, nested=("device", "where", "why", "error"))


def said(text: str) -> str:
    """An attestation's reason (one or several joined by "; ") in the active language."""
    return "; ".join(SENTENCES.said(part) for part in str(text or "").split("; "))
