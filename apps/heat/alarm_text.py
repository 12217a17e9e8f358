"""An alarm's sentence in the reader's language, rebuilt from the figures it was judged on.

``HeatAlarm.detail`` keeps the English sentence written when the alarm was raised (audit log,
old rows); pages, e-mails and events show this one, which follows the active language and its
number format. An alarm whose context lacks a figure falls back to the stored sentence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _

from apps.core.l10n import compact, local_datetime, number

from .models import HeatAlarm


def _below_contract(context: dict[str, Any]) -> str:
    from .alarms import below_contract_s

    return _(
        "Supply %(supply)s °C below the contracted %(contract)s °C for more than %(minutes)s min"
    ) % {
        "supply": number(context["supply_c"], 1),
        "contract": compact(float(context["contract_min_supply_c"])),
        "minutes": compact(below_contract_s() / 60),
    }


def _output_drop(context: dict[str, Any]) -> str:
    power, reference = float(context["power_kw"]), float(context["reference_kw"])
    return _(
        "Thermal output %(power)s kW, down %(drop)s %% from %(reference)s kW over the previous hour"
    ) % {
        "power": number(power, 1),
        "drop": number(100 * (1 - power / reference), 0) if reference else "—",
        "reference": number(reference, 1),
    }


def _meter_offline(context: dict[str, Any], serial: str) -> str:
    last = context.get("last_good_at")
    why = context.get("error") or context.get("status") or ""
    if last:
        return _("No good reading from meter %(serial)s since %(since)s UTC (%(why)s)") % {
            "serial": serial,
            "since": local_datetime(datetime.fromisoformat(last)),
            "why": why,
        }
    return _("No good reading from meter %(serial)s ever (%(why)s)") % {
        "serial": serial,
        "why": why,
    }


def alarm_detail(alarm: HeatAlarm) -> str:
    """The alarm's detail sentence in the active language."""
    context = alarm.context or {}
    try:
        if alarm.kind == HeatAlarm.Kind.BELOW_CONTRACT:
            return _below_contract(context)
        if alarm.kind == HeatAlarm.Kind.OUTPUT_DROP:
            return _output_drop(context)
        if alarm.kind == HeatAlarm.Kind.METER_OFFLINE and alarm.meter is not None:
            return _meter_offline(context, alarm.meter.serial)
    except (KeyError, TypeError, ValueError):
        pass
    return alarm.detail
