"""Numbers, dates and CSV files in the reader's language (the active translation).

Templates localise through Django itself (``floatformat:"1g"``, ``date:"SHORT_DATE_FORMAT"``);
this module is for text built in Python: figures, documents, e-mails and CSV exports.

CSV dialects (docs/decisions.md, 27): ``en`` is the machine-friendly file the console always
wrote (``,`` separator, ``.`` decimal mark, ISO 8601 times, no BOM); ``fr`` opens as columns in a
French spreadsheet (``;`` separator, ``,`` decimal mark, ``dd/mm/yyyy hh:mm:ss`` local times,
UTF-8 with a byte-order mark so the accents survive). The page's user gets their language's
dialect; ``?dialect=en|fr`` chooses explicitly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import formats, translation
from django.utils.translation import gettext as _


def number(value: float | int | None, decimals: int, *, grouping: bool = True) -> str:
    """``3450.5`` as ``3,450.5`` (English) or ``3 450,5`` (French); "" for None."""
    if value is None:
        return ""
    return formats.number_format(
        round(float(value), decimals), decimals, use_l10n=True, force_grouping=grouping
    )


def compact(value: float) -> str:
    """``55`` / ``57.5`` (``57,5`` in French): as many decimals as the value needs."""
    return f"{value:g}".replace(".", formats.get_format("DECIMAL_SEPARATOR"))


def signed(value: float, decimals: int) -> str:
    """A change with its sign: ``+12.5`` / ``-3,0``."""
    text = number(abs(value), decimals)
    return ("+" if value >= 0 else "-") + text


def local_datetime(value: datetime | str | None, *, seconds: bool = False) -> str:
    """A zone-aware time (or its ISO text) as the reader writes it, in the zone it carries."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    text = formats.date_format(value, "SHORT_DATETIME_FORMAT")
    return text + value.strftime(":%S") if seconds else text


def local_date(value: Any) -> str:
    return "" if value is None else formats.date_format(value, "SHORT_DATE_FORMAT")


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file is written for a spreadsheet of one language."""

    code: str
    delimiter: str
    decimal: str
    bom: bool

    def figure(self, text: str) -> str:
        """A figure already written with ``.`` (e.g. ``"12.500"``) in this dialect."""
        return text.replace(".", self.decimal) if text and self.decimal != "." else text

    def when(self, iso: str | None) -> str:
        """An ISO 8601 local time in this dialect (ISO itself in ``en``)."""
        if not iso:
            return ""
        if self.code == "en":
            return iso
        return datetime.fromisoformat(iso).strftime("%d/%m/%Y %H:%M:%S")

    def write(self, rows: Iterable[Sequence[Any]]) -> str:
        out = io.StringIO()
        if self.bom:
            out.write("\ufeff")
        csv.writer(out, delimiter=self.delimiter, lineterminator="\r\n").writerows(rows)
        return out.getvalue()


CSV_DIALECTS = {
    "en": CsvDialect("en", ",", ".", bom=False),
    "fr": CsvDialect("fr", ";", ",", bom=True),
}


class UnknownDialect(ValueError):
    pass


def csv_dialect(requested: str | None = None) -> CsvDialect:
    """The dialect asked for (``?dialect=``), else the active language's."""
    if requested:
        if requested not in CSV_DIALECTS:
            raise UnknownDialect(
                _("Unknown CSV dialect %(dialect)s: use %(choices)s.")
                % {"dialect": requested, "choices": ", ".join(CSV_DIALECTS)}
            )
        return CSV_DIALECTS[requested]
    language = (translation.get_language() or "en").split("-")[0]
    return CSV_DIALECTS.get(language, CSV_DIALECTS["en"])
