"""Sentences stored or sent in English, rebuilt in the reader's language at display.

Code that writes a reason for machines and the audit log keeps writing English; a page or a
socket shows it through a `Sentences` table: the text is matched against the English msgids
(their ``%(name)s`` placeholders as wildcards) and rewritten with the active language's msgstr.
A placeholder named in ``nested`` is itself translated the same way (a BMC error inside a
reason); one named in ``numbers`` is written with the reader's decimal mark; any other is data
(a node's or a gateway's name) and kept. A text matching no msgid (a BMC's own words) is
returned as it came. The console's reasons (`apps.console.console_text`) and attestation
divergences (`apps.attestation.reason_text`) use it; `apps.firmware.campaign_text` shares its
`pattern` and `specificity`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cached_property

from django.utils.translation import gettext

from apps.core.l10n import compact

_FIELD = re.compile(r"%\((\w+)\)s")


def pattern(msgid: str) -> re.Pattern[str]:
    """The msgid as a regular expression: each placeholder a lazy wildcard (a repeated one must
    repeat its value)."""
    out, seen, pos = [], set(), 0
    for match in _FIELD.finditer(msgid):
        out.append(re.escape(msgid[pos : match.start()].replace("%%", "%")))
        name = match[1]
        out.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        pos = match.end()
    out.append(re.escape(msgid[pos:].replace("%%", "%")))
    return re.compile("".join(out), re.DOTALL)


def specificity(msgid: str) -> tuple[bool, int]:
    """Sentences that open with words before those that open with a placeholder, longer
    wording first."""
    return (msgid.startswith("%("), -len(_FIELD.sub("", msgid)))


class Sentences:
    """A table of English msgids and how their placeholders are shown (module docstring)."""

    def __init__(
        self, texts: Iterable[str], *, nested: Iterable[str] = (), numbers: Iterable[str] = ()
    ):
        self.texts = tuple(texts)
        self.nested = frozenset(nested)
        self.numbers = frozenset(numbers)

    @cached_property
    def patterns(self) -> tuple[tuple[str, re.Pattern[str]], ...]:
        return tuple((m, pattern(m)) for m in sorted(self.texts, key=specificity))

    def _part(self, name: str, value: str, depth: int) -> tuple[str, bool]:
        if name in self.nested:
            return self._said(value, depth + 1)
        if name in self.numbers:
            try:
                return compact(float(value)), True
            except ValueError:
                return value, False
        return value, True

    def _said(self, text: str, depth: int) -> tuple[str, bool]:
        """(the text in the active language, whether it and its nested parts were ours)."""
        if not text or depth > 4:
            return text, False
        fallback = None
        for msgid, regex in self.patterns:
            match = regex.fullmatch(text)
            if match is None:
                continue
            translated = gettext(msgid)
            if translated == msgid:  # English, or not translated: as it came
                return text, True
            parts, whole = {}, True
            for name, value in match.groupdict().items():
                parts[name], ours = self._part(name, value, depth)
                whole = whole and ours
            if whole:
                return translated % parts, True
            # "Site gateway offline: <why>. Reconnecting in 1 s." also reads as an offline
            # gateway whose reason is "<why>. Reconnecting in 1 s": a later reading may
            # recognise every part
            fallback = fallback or translated % parts
        return (fallback, False) if fallback is not None else (text, False)

    def said(self, text: str) -> str:
        """``text`` (English) in the active language; unchanged when it is none of ours."""
        return self._said(str(text or ""), 0)[0]
