"""Finds English left on a page rendered in French.

Two nets, both on the *visible* text of a page (text nodes outside script/style, plus the
title/placeholder/aria-label/alt attributes):

* catalogue: every English msgid of locale/fr whose French msgstr differs; a text node that
  *is* one (placeholders match anything), or contains one of three words or more, was
  marked for translation but rendered untranslated (missing .mo, a lost activate());
* function words: a text node with English grammar words (the, your, with, …) was never
  marked at all, so the catalogue cannot know it.

``allowed`` are texts that are data, not interface (site and organisation names, serials).
"""

from __future__ import annotations

import gettext
import re
from html.parser import HTMLParser
from pathlib import Path

from django.conf import settings

MO = Path(settings.BASE_DIR) / "locale" / "fr" / "LC_MESSAGES"
ENGLISH_WORDS = {
    "the", "your", "with", "and", "of", "is", "are", "this", "from", "since", "was", "were",
    "will", "has", "have", "been", "which", "there", "what", "when", "only", "yet", "no",
    "not", "at", "to", "for", "by", "all", "per", "here", "meter", "hours", "heat",
}  # fmt: skip
VISIBLE_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt"}
SPACES = re.compile(r"[\s\u00a0\u202f]+")


def _norm(text: str) -> str:
    return SPACES.sub(" ", text).strip()


def _pattern(msgid: str) -> re.Pattern[str]:
    parts = re.split(r"%\([a-z_]+\)[sd]|%[sd]", _norm(msgid.replace("%%", "%")))
    return re.compile(".+?".join(re.escape(p) for p in parts))


def catalogue_patterns(domain: str = "django") -> list[tuple[str, re.Pattern[str], bool]]:
    """(msgid, pattern, long) of every msgid whose French differs from the English."""
    with open(MO / f"{domain}.mo", "rb") as fh:
        catalog = gettext.GNUTranslations(fh)._catalog
    out = []
    for key, french in catalog.items():
        msgid = key[0] if isinstance(key, tuple) else key
        msgid = msgid.split("\x04", 1)[-1]  # context-qualified keys
        if not msgid or _norm(french).lower() == _norm(msgid).lower():
            continue
        text = re.sub(r"<[^>]+>", "", msgid)
        out.append((msgid, _pattern(text), len(text.split()) >= 3))
    return out


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


class _Text(HTMLParser):
    """Visible texts; an element marked ``translate="no"`` (HTML's own way to say "data, not
    interface": the audit log's stored details) is skipped with everything inside it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: list[str] = []
        self._skip = 0
        self._data_depth = 0  # open elements inside a translate="no" one (0: outside)

    def handle_starttag(self, tag, attrs):
        if self._data_depth:
            if tag not in VOID:
                self._data_depth += 1
            return
        if dict(attrs).get("translate") == "no" and tag not in VOID:
            self._data_depth = 1
            return
        if tag in ("script", "style", "code", "pre"):
            self._skip += 1
        for name, value in attrs:
            if name in VISIBLE_ATTRIBUTES and value:
                self.nodes.append(value)

    def handle_endtag(self, tag):
        if self._data_depth:
            if tag not in VOID:
                self._data_depth -= 1
            return
        if tag in ("script", "style", "code", "pre") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and not self._data_depth and data.strip():
            self.nodes.append(data)


def visible_texts(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return [t for t in (_norm(n) for n in parser.nodes) if t]


def english_in(texts: list[str], *, allowed: set[str] = frozenset(), domain: str = "django"):
    """The texts that look English, each with why."""
    patterns = catalogue_patterns(domain)
    found = []
    for text in texts:
        if text in allowed or not re.search(r"[A-Za-z]{2}", text):
            continue
        rest = text
        for value in allowed:
            rest = rest.replace(value, " ")
        for msgid, pattern, long in patterns:
            if pattern.fullmatch(rest.strip()) or (long and pattern.search(rest)):
                found.append((text, f"msgid {msgid!r}"))
                break
        else:
            words = {w.lower() for w in re.findall(r"[A-Za-z']+", rest)}
            english = sorted(words & ENGLISH_WORDS)
            if english:
                found.append((text, f"English words {english}"))
    return found


def lines_of(text: str) -> list[str]:
    """A plain-text document (e-mail, PDF text, CSV) as the texts to check."""
    return [t for t in (_norm(line) for line in text.splitlines()) if t]
