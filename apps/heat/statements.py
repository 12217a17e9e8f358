"""Monthly heat-delivery statements as a partner bills them: JSON, CSV and PDF.

All three render the same figures, from ``selectors.monthly_statement`` (energy from the meter's
own cumulative register, coverage, hours below the contracted supply temperature), with the same
rounding, so the CSV a partner imports and the PDF they file never disagree. Times are the
site's local time with their UTC offset. What goes out is a whitelist (``FIELDS``): a partner
sees the meter serial (billing needs it) but no other hardware detail.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy
from fpdf import FPDF

from apps.core.l10n import CSV_DIALECTS, CsvDialect, local_datetime, number

from .selectors import HeatQueryError

# fpdf2 subsets embedded fonts with fontTools, which logs every table it prunes at INFO: noise
# in the web and worker logs for each PDF, never a problem. Its warnings still get through.
logging.getLogger("fontTools").setLevel(logging.WARNING)

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
CSV_COLUMNS = (
    "site_code",
    "site_name",
    "partner",
    "period_start",
    "period_end",
    "timezone",
    "meter_serial",
    "start_reading_at",
    "start_register_kwh",
    "end_reading_at",
    "end_register_kwh",
    "energy_kwh",
    "coverage_percent",
    "hours_at_or_above_contract",
    "hours_below_contract",
    "contract_min_supply_c",
    "generated_at",
)
TOTAL_SERIAL = "TOTAL"
# Column headings of the French (spreadsheet) dialect; the English file keeps the identifiers.
CSV_LABELS = {
    "site_code": pgettext_lazy("CSV column", "Site code"),
    "site_name": pgettext_lazy("CSV column", "Site"),
    "partner": pgettext_lazy("CSV column", "Partner"),
    "period_start": pgettext_lazy("CSV column", "Period start"),
    "period_end": pgettext_lazy("CSV column", "Period end"),
    "timezone": pgettext_lazy("CSV column", "Time zone"),
    "meter_serial": pgettext_lazy("CSV column", "Meter"),
    "start_reading_at": pgettext_lazy("CSV column", "Start reading"),
    "start_register_kwh": pgettext_lazy("CSV column", "Start register (kWh)"),
    "end_reading_at": pgettext_lazy("CSV column", "End reading"),
    "end_register_kwh": pgettext_lazy("CSV column", "End register (kWh)"),
    "energy_kwh": pgettext_lazy("CSV column", "Energy delivered (kWh)"),
    "coverage_percent": pgettext_lazy("CSV column", "Data coverage (%)"),
    "hours_at_or_above_contract": pgettext_lazy("CSV column", "Hours at or above contract"),
    "hours_below_contract": pgettext_lazy("CSV column", "Hours below contract"),
    "contract_min_supply_c": pgettext_lazy("CSV column", "Contracted minimum supply (°C)"),
    "generated_at": pgettext_lazy("CSV column", "Generated at"),
}


def parse_month(value: str | None) -> tuple[int, int]:
    """``"YYYY-MM"`` to ``(year, month)``; anything else is a :class:`HeatQueryError`."""
    match = MONTH_RE.match(value or "")
    if not match:
        raise HeatQueryError(_("month must be YYYY-MM, got %(value)r") % {"value": value})
    year, month = int(match[1]), int(match[2])
    if not 2000 <= year <= 2200 or not 1 <= month <= 12:
        raise HeatQueryError(_("impossible month %(value)r") % {"value": value})
    return year, month


def kwh(value: float | None) -> str:
    """kWh with three decimals (the register resolution we store), empty when unknown."""
    return "" if value is None else f"{value:.3f}"


def hours(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def percent(fraction: float | None, *, localised: bool = False) -> str:
    if fraction is None:
        return ""
    return number(fraction * 100, 2) if localised else f"{fraction * 100:.2f}"


def month_label(month: str) -> str:
    """``"2026-11"`` as the reader writes a month (``2026-11``, ``novembre 2026``)."""
    year, number_ = parse_month(month)
    return formats.date_format(date(year, number_, 1), "YEAR_MONTH_FORMAT")


def _with_unit(value: float | None, decimals: int, unit: str) -> str:
    # On paper an unknown figure says so: "n/a", never a bare unit or a zero.
    return f"{number(value, decimals)} {unit}" if value is not None else _("n/a")


def _pct(fraction: float | None) -> str:
    return _with_unit(None if fraction is None else fraction * 100, 2, "%")


def _local(ts: datetime | None, tz: Any) -> str:
    return "" if ts is None else ts.astimezone(tz).isoformat(timespec="seconds")


def statement_document(
    statement: Mapping[str, Any], *, partner: str, generated_at: datetime
) -> dict[str, Any]:
    """The whitelisted statement every format renders: strings for times, floats for figures."""
    tz = statement["period_start"].tzinfo
    lines = [
        {
            "meter_serial": line["meter_serial"],
            "start_reading_at": _local(line["start_reading_at"], tz) or None,
            "start_register_kwh": line["start_register_kwh"],
            "end_reading_at": _local(line["end_reading_at"], tz) or None,
            "end_register_kwh": line["end_register_kwh"],
            "energy_kwh": line["energy_kwh"],
            "coverage": line["coverage"],
            "hours_at_or_above_contract": line["hours_at_or_above_contract"],
            "hours_below_contract": line["hours_below_contract"],
        }
        for line in statement["lines"]
    ]
    return {
        "site_code": statement["site_code"],
        "site_name": statement["site_name"],
        "partner": partner,
        "month": statement["month"],
        "timezone": statement["timezone"],
        "period_start": _local(statement["period_start"], tz),
        "period_end": _local(statement["period_end"], tz),
        "contract_min_supply_c": statement["contract_min_supply_c"],
        "generated_at": _local(generated_at, tz),
        "lines": lines,
        "energy_kwh": statement["energy_kwh"],
        "coverage": statement["coverage"],
        "hours_at_or_above_contract": statement["hours_at_or_above_contract"],
        "hours_below_contract": statement["hours_below_contract"],
    }


def _csv_row(doc: Mapping[str, Any], line: Mapping[str, Any], d: CsvDialect) -> list[str]:
    return [
        doc["site_code"],
        doc["site_name"],
        doc["partner"],
        d.when(doc["period_start"]),
        d.when(doc["period_end"]),
        doc["timezone"],
        line["meter_serial"],
        d.when(line.get("start_reading_at")),
        d.figure(kwh(line.get("start_register_kwh"))),
        d.when(line.get("end_reading_at")),
        d.figure(kwh(line.get("end_register_kwh"))),
        d.figure(kwh(line["energy_kwh"])),
        d.figure(percent(line["coverage"])),
        d.figure(hours(line["hours_at_or_above_contract"])),
        d.figure(hours(line["hours_below_contract"])),
        d.figure(f"{doc['contract_min_supply_c']:.1f}"),
        d.when(doc["generated_at"]),
    ]


def statement_csv(doc: Mapping[str, Any], dialect: CsvDialect | None = None) -> str:
    """One row per meter and a ``TOTAL`` row; a self-describing table (header per column).

    ``dialect`` ``en`` (default, the API's) heads columns with identifiers; ``fr`` with French
    headings, ``;``, decimal commas, ``dd/mm/yyyy`` times and a BOM (``apps.core.l10n``).
    """
    d = dialect or CSV_DIALECTS["en"]
    header = CSV_COLUMNS if d.code == "en" else [str(CSV_LABELS[c]) for c in CSV_COLUMNS]
    total = {
        "meter_serial": TOTAL_SERIAL,
        "energy_kwh": doc["energy_kwh"],
        "coverage": doc["coverage"],
        "hours_at_or_above_contract": doc["hours_at_or_above_contract"],
        "hours_below_contract": doc["hours_below_contract"],
    }
    rows = [_csv_row(doc, line, d) for line in [*doc["lines"], total]]
    return d.write([header, *rows])


def error_csv(detail: str) -> str:
    """An error as CSV, for clients that asked for CSV and got a 4xx."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([["detail"], [detail]])
    return out.getvalue()


def filename(doc: Mapping[str, Any], ext: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", doc["site_code"])
    return f"heat-statement-{safe}-{doc['month']}.{ext}"


class _StatementPdf(FPDF):
    def __init__(self, footer_text: str, font: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.footer_text = footer_text
        self.font_name = font

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.font_name, size=8)
        page = _("page %(page)s/%(pages)s") % {"page": self.page_no(), "pages": "{nb}"}
        self.cell(0, 5, f"{self.footer_text} · {page}", align="C")


def _plain(text: str) -> str:
    # Core PDF fonts only cover Latin-1: spell out what they cannot draw.
    for src, dst in (("°C", " deg C"), ("₂", "2"), ("·", "-"), ("—", "-"), ("≥", ">=")):
        text = text.replace(src, dst)
    return text.encode("latin-1", "replace").decode("latin-1")


def statement_pdf(doc: Mapping[str, Any], *, font_dir: Path = FONT_DIR) -> bytes:
    """A one-page A4 statement: header (site, partner, period, generated at), one block per
    meter, totals. Uses DejaVu Sans (°C, ≥) when installed, the core Helvetica otherwise.
    Written in the active language (labels, numbers, dates): the caller picks the reader's."""
    regular, bold = font_dir / "DejaVuSans.ttf", font_dir / "DejaVuSans-Bold.ttf"
    unicode_font = regular.is_file() and bold.is_file()
    font = "DejaVu" if unicode_font else "helvetica"
    text = (lambda s: s) if unicode_font else _plain
    month = month_label(doc["month"])
    pdf = _StatementPdf(text(f"Heatsite · {doc['site_code']} · {month}"), font)
    if unicode_font:
        pdf.add_font("DejaVu", "", str(regular))
        pdf.add_font("DejaVu", "B", str(bold))
    pdf.set_title(
        _("Heat-delivery statement %(site)s %(month)s") % {"site": doc["site_code"], "month": month}
    )
    pdf.set_creator("Heatsite")
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_font(font, "B", 16)
    pdf.cell(0, 10, text(_("Heat-delivery statement")), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(font, "", 10)
    header = [
        (_("Site"), f"{doc['site_name']} ({doc['site_code']})"),
        (_("Partner"), doc["partner"]),
        (
            _("Period"),
            _("%(start)s to %(end)s")
            % {
                "start": local_datetime(doc["period_start"]),
                "end": local_datetime(doc["period_end"]),
            },
        ),
        (_("Time zone"), doc["timezone"]),
        (_("Contracted minimum supply"), f"≥ {number(doc['contract_min_supply_c'], 1)} °C"),
        (_("Generated at"), local_datetime(doc["generated_at"])),
    ]
    # The label column fits the widest label in bold, so no label runs into its value.
    pdf.set_font(font, "B", 10)
    label_w = max(pdf.get_string_width(text(label)) for label, _ in header) + 4
    for label, value in header:
        pdf.set_font(font, "B", 10)
        pdf.cell(label_w, 6, text(label))
        pdf.set_font(font, "", 10)
        pdf.multi_cell(0, 6, text(str(value)), align="L", new_x="LMARGIN", new_y="NEXT")
    for line in doc["lines"]:
        pdf.ln(4)
        pdf.set_font(font, "B", 11)
        meter = _("Meter %(serial)s") % {"serial": line["meter_serial"]}
        pdf.cell(0, 7, text(meter), new_x="LMARGIN", new_y="NEXT")
        rows = [
            (_("Start reading"), local_datetime(line["start_reading_at"]) or _("no reading"),
             _with_unit(line["start_register_kwh"], 3, "kWh")
             if line["start_register_kwh"] is not None else ""),
            (_("End reading"), local_datetime(line["end_reading_at"]) or _("no reading"),
             _with_unit(line["end_register_kwh"], 3, "kWh")
             if line["end_register_kwh"] is not None else ""),
            (_("Energy delivered"), "", _with_unit(line["energy_kwh"], 3, "kWh")),
            (_("Data coverage"), "", _pct(line["coverage"])),
            (_("Hours at or above contract"), "",
             _with_unit(line["hours_at_or_above_contract"], 2, "h")),
            (_("Hours below contract"), "", _with_unit(line["hours_below_contract"], 2, "h")),
        ]  # fmt: skip
        pdf.set_font(font, "", 10)
        for label, when, value in rows:
            pdf.cell(label_w, 6, text(label))
            pdf.cell(70, 6, text(when))
            pdf.cell(0, 6, text(value), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(font, "B", 11)
    pdf.cell(0, 7, text(_("Total for the site")), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(font, "", 10)
    totals = [
        (_("Energy delivered"), _with_unit(doc["energy_kwh"], 3, "kWh")),
        (_("Data coverage"), _pct(doc["coverage"])),
        (_("Hours at or above contract"), _with_unit(doc["hours_at_or_above_contract"], 2, "h")),
        (_("Hours below contract"), _with_unit(doc["hours_below_contract"], 2, "h")),
    ]
    for label, value in totals:
        pdf.cell(label_w + 70, 6, text(label))
        pdf.cell(0, 6, text(value), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(font, "", 8)
    pdf.multi_cell(
        0,
        4,
        text(
            _(
                "Energy is the difference of the meter's cumulative energy register between the "
                "last reading before the period and the last reading in it (register rollovers "
                "included). Coverage is the share of the period with readings no further apart "
                "than the gap limit; hours below contract count covered time only."
            )
        ),
    )
    return bytes(pdf.output())
