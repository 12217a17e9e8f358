"""Where a lab meter's energy register stands when the lab starts again.

A real heat meter never resets: its register only moves forward, whatever happens to the
console reading it. The lab's meters therefore resume from the console's own record of each
meter (``heat.MeterState``): the register the next reading is checked against, plus the heat
the meter's last known power delivered since that reading, as a real meter keeps counting while
nobody reads it. From the console's side a lab restart is then what it would be in the field: a
gap in the readings, and a register that went on.

Why the database and not a state file the lab writes: the register the console compares the
next reading with *is* that record, so resuming from it cannot go backwards, however the lab
stopped (a ``kill -9`` writes no file, and a file written every minute lags the last reading
the console stored); and it already holds what ``seed_history`` seeded, with no second copy of
the truth to drift from it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

from apps.heat.meters import register_map
from apps.heat.models import MeterState

# A resumed register sits this fraction of one register step above its grid point, so the
# lab's encoding (which floors) shows exactly the recorded value, not the step below.
ABOVE_STEP = 1e-3


def resume_registers(meter_ids: Iterable[int], *, now: datetime) -> dict[int, float]:
    """The register (kWh, within the register's range) each meter resumes at, for the meters
    the console has read or seeded; meters it has never read start at 0."""
    out: dict[int, float] = {}
    states = MeterState.objects.filter(
        meter_id__in=list(meter_ids), register_baseline_kwh__isnull=False
    ).select_related("meter")
    for state in states:
        rmap = register_map(state.meter.model)
        step = rmap.fields["energy_kwh"].scale
        since = 0.0
        if state.last_ts is not None and state.last_power_kw and now > state.last_ts:
            since = state.last_power_kw * (now - state.last_ts).total_seconds() / 3600
        baseline = state.register_baseline_kwh or 0.0
        # Never below the recorded register: up to its grid point, then a hair above it.
        grid = math.ceil(baseline / step - 1e-6) * step
        out[state.meter_id] = (grid + step * ABOVE_STEP + since) % rmap.rollover_kwh
    return out
