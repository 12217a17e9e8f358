"""Monthly statements against figures computed by hand, in every format a partner downloads.

The month is March 2026 in Paris: 1 March 00:00 +01:00 to 1 April 00:00 +02:00 (DST on the 29th),
743 hours = 2 674 800 s. One meter, 60 kW, readings every 10 minutes with a register step of
10 kWh each (60 kW x 1/6 h):

* 28 Feb 22:50 UTC (23:50 local, before the month): register 1000 — the start reading;
* 28 Feb 23:00 UTC ... 1 Mar 00:50 UTC: 12 readings, 1010 ... 1120; supply 70 °C up to and
  including 23:40 UTC, then 60 °C (contract 65 °C);
* 15 Mar 12:00 UTC, after a 14-day outage: register 1500 — the end reading;
* 31 Mar 22:30 UTC (1 April 00:30 local, after the month): register 1600 — not billed.

Energy = 1500 - 1000 = 500 kWh. Covered in March: 23:00-00:50 UTC = 110 min (the outage is a
gap) → coverage 6600 / 2 674 800 = 0.2467 %. Supply read at an interval's start holds for it:
23:00-23:50 at 70 °C (50 min = 0.83 h), 23:50-00:50 at 60 °C (60 min = 1.00 h).
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from apps.heat import statements
from apps.heat.ingest import ingest_readings
from apps.heat.selectors import HeatQueryError
from tests.heat.test_views import reading

pytestmark = pytest.mark.django_db
GENERATED = datetime(2026, 4, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def partner_org(site):
    return site.partner


@pytest.fixture(autouse=True)
def ten_minute_gap_limit(settings):
    settings.HEAT_MAX_GAP_S = 900


@pytest.fixture
def march(make_meter):
    meter = make_meter(serial="HM-2026-0042", host="10.0.0.9")
    t0 = datetime(2026, 2, 28, 22, 50, tzinfo=UTC)
    rows = [reading(t0, 1000, power=60)]
    for k in range(1, 13):
        ts = t0 + timedelta(minutes=10 * k)
        rows.append(reading(ts, 1000 + 10 * k, power=60, supply=70 if k <= 5 else 60))
    ingest_readings({meter.id: rows})
    ingest_readings({meter.id: [reading(datetime(2026, 3, 15, 12, tzinfo=UTC), 1500)]})
    ingest_readings({meter.id: [reading(datetime(2026, 3, 31, 22, 30, tzinfo=UTC), 1600)]})
    return meter


def march_doc(site):
    from apps.heat.selectors import monthly_statement

    return statements.statement_document(
        monthly_statement(site.id, 2026, 3), partner=site.partner.name, generated_at=GENERATED
    )


def test_statement_document_matches_the_hand_computed_figures(site, march):
    doc = march_doc(site)
    assert doc["period_start"] == "2026-03-01T00:00:00+01:00"
    assert doc["period_end"] == "2026-04-01T00:00:00+02:00"
    assert doc["generated_at"] == "2026-04-02T10:00:00+02:00"
    [line] = doc["lines"]
    assert line["start_reading_at"] == "2026-02-28T23:50:00+01:00"
    assert line["end_reading_at"] == "2026-03-15T13:00:00+01:00"
    assert (line["start_register_kwh"], line["end_register_kwh"]) == (1000, 1500)
    assert line["energy_kwh"] == pytest.approx(500)
    assert line["coverage"] == pytest.approx(6600 / 2_674_800)
    assert line["hours_at_or_above_contract"] == pytest.approx(50 / 60)
    assert line["hours_below_contract"] == pytest.approx(1.0)
    assert doc["energy_kwh"] == pytest.approx(500)


def test_statement_csv_has_one_row_per_meter_and_a_total(site, march):
    rows = list(csv.DictReader(io.StringIO(statements.statement_csv(march_doc(site)))))
    assert [r["meter_serial"] for r in rows] == ["HM-2026-0042", "TOTAL"]
    meter, total = rows
    assert meter["start_register_kwh"] == "1000.000" and meter["end_register_kwh"] == "1500.000"
    assert meter["energy_kwh"] == total["energy_kwh"] == "500.000"
    assert meter["coverage_percent"] == total["coverage_percent"] == "0.25"
    assert meter["hours_at_or_above_contract"] == "0.83"
    assert meter["hours_below_contract"] == "1.00"
    assert meter["partner"] == site.partner.name and meter["timezone"] == "Europe/Paris"
    assert meter["contract_min_supply_c"] == "65.0"


def pdf_text(data: bytes) -> str:
    result = subprocess.run(
        [shutil.which("pdftotext") or "pdftotext", "-layout", "-", "-"],
        input=data,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return result.stdout.decode()


def test_statement_pdf_reads_the_same_figures(site, march):
    text = pdf_text(statements.statement_pdf(march_doc(site)))
    for expected in (
        "Heat-delivery statement",
        "Lyon 1 (lyon-1)",
        site.partner.name,
        # Times and figures as the reader writes them (English here; French in tests/i18n).
        "2026-03-01 00:00 to 2026-04-01 00:00",
        "Europe/Paris",
        "≥ 65.0 °C",
        "Meter HM-2026-0042",
        "2026-02-28 23:50",
        "1,000.000 kWh",
        "1,500.000 kWh",
        "500.000 kWh",
        "0.25 %",
        "0.83 h",
        "1.00 h",
        "2026-04-02 10:00",
    ):
        assert expected in text, expected
    assert "10.0.0.9" not in text


def test_statement_pdf_falls_back_to_a_core_font_without_dejavu(site, march, tmp_path):
    text = pdf_text(statements.statement_pdf(march_doc(site), font_dir=tmp_path))
    assert ">= 65.0 deg C" in text and "500.000 kWh" in text


def test_partner_downloads_csv_and_pdf_of_their_statement(client, partner, site, march):
    client.force_login(partner)
    csv_response = client.get(reverse("heat-statement-csv", args=[site.pk, "2026-03"]))
    assert csv_response["Content-Type"].startswith("text/csv")
    assert 'filename="heat-statement-lyon-1-2026-03.csv"' in csv_response["Content-Disposition"]
    assert "HM-2026-0042" in csv_response.content.decode()
    pdf_response = client.get(reverse("heat-statement-pdf", args=[site.pk, "2026-03"]))
    assert pdf_response["Content-Type"] == "application/pdf"
    assert "500.000 kWh" in pdf_text(pdf_response.content)
    page = client.get(reverse("heat-statement", args=[site.pk, "2026-03"])).content.decode()
    assert "500.000" in page and "0.25 %" in page and "10.0.0.9" not in page


def test_statement_list_shows_each_months_heat_from_the_rollups(client, partner, site, march):
    client.force_login(partner)
    response = client.get(reverse("heat-statements", args=[site.pk]))
    rows = {row["month"]: row["energy"] for row in response.context["months"]}
    assert rows["2026-03"] == "500.0 kWh_th"
    assert rows["2026-04"] == "100.0 kWh_th"


@pytest.mark.parametrize("value", ["2026-13", "2026-3", "2026/03", "", None, "x2026-03"])
def test_parse_month_refuses_anything_but_an_existing_yyyy_mm(value):
    with pytest.raises(HeatQueryError):
        statements.parse_month(value)


def test_parse_month_reads_year_and_month():
    assert statements.parse_month("2026-03") == (2026, 3)


def test_a_month_without_readings_is_unknown_not_zero_and_not_covered(site, make_meter):
    make_meter(serial="HM-NEW")  # installed, never read
    doc = march_doc(site)
    [line] = doc["lines"]
    assert line["start_reading_at"] is None and line["end_reading_at"] is None
    assert line["energy_kwh"] is None and doc["energy_kwh"] is None
    assert line["coverage"] == 0.0 and doc["coverage"] == 0.0
    # Without covered time, hours at/above and below contract are unknown too, not 0 h.
    for figures in (line, doc):
        assert figures["hours_at_or_above_contract"] is None
        assert figures["hours_below_contract"] is None
    meter_row, total = csv.DictReader(io.StringIO(statements.statement_csv(doc)))
    assert meter_row["energy_kwh"] == total["energy_kwh"] == ""
    assert total["coverage_percent"] == "0.00"
    for row in (meter_row, total):
        assert row["hours_at_or_above_contract"] == row["hours_below_contract"] == ""
    text = pdf_text(statements.statement_pdf(doc))
    assert "0.000 kWh" not in text and "0.00 h" not in text
    assert text.count("n/a") == 6  # energy, hours at/above, hours below: meter and total


def test_a_site_total_adds_the_meters_that_were_read(site, march, make_meter):
    make_meter(serial="HM-SPARE")  # a second meter never read: nothing known to add
    doc = march_doc(site)
    energies = {line["meter_serial"]: line["energy_kwh"] for line in doc["lines"]}
    assert energies["HM-SPARE"] is None
    assert doc["energy_kwh"] == pytest.approx(500)


def test_the_statement_page_says_an_unknown_total_is_unknown(client, partner, site, make_meter):
    make_meter(serial="HM-NEW")
    client.force_login(partner)
    response = client.get(reverse("heat-statement", args=[site.pk, "2026-03"]))
    total = response.content.decode().split('data-testid="statement-total"')[1].split("</tr>")[0]
    assert "—" in total and "0.000" not in total
