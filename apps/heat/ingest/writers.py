"""The SQL of ingestion: raw rows, rollup merges and state updates.

PostgreSQL gets binary COPY (into the table, or into a session temp table merged with one
``INSERT … SELECT … ON CONFLICT DO UPDATE`` or ``UPDATE … FROM``); SQLite gets multi-row
``INSERT … ON CONFLICT`` and ``executemany`` with the same merge rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from apps.heat.models import DailyRollup, HourlyRollup, MeterState, Reading

from .records import EPOCH, RAW_FIELDS, ROLLUP_SUMS, STATE_FIELDS, from_us

RAW_PG_TYPES = ["int8", "timestamptz", *["float8"] * 6, "int4", "int2"]
ROLLUP_STAGE = (
    ("meter_id", "int8"),
    ("site_id", "int8"),
    ("bucket_start_s", "int8"),
    ("readings", "int8"),
    *((c, "float8") for c in ROLLUP_SUMS[1:]),
    ("first_us", "int8"),
    ("register_first_kwh", "float8"),
    ("cumulative_first_kwh", "float8"),
    ("last_us", "int8"),
    ("register_last_kwh", "float8"),
    ("cumulative_last_kwh", "float8"),
    ("supply_min_c", "float8"),
    ("supply_max_c", "float8"),
    ("day", "date"),
)
STATE_STAGE = (
    ("status", "text"),
    ("last_ts", "timestamptz"),
    *((c, "float8") for c in STATE_FIELDS[2:8]),
    ("register_changed_at", "timestamptz"),
    ("rebased", "bool"),
    ("last_error", "text"),
    ("meter_id", "int8"),
)
STAGES = {"heat_stage_rollup": ROLLUP_STAGE, "heat_stage_state": STATE_STAGE}


def _dt(value: datetime | None) -> Any:
    return connection.ops.adapt_datetimefield_value(value) if value is not None else None


CHUNK_ROWS = 500  # rows per multi-row statement (SQLite allows 32 766 bound variables)


def _chunks(rows: list[list[Any]]) -> Iterable[list[list[Any]]]:
    for i in range(0, len(rows), CHUNK_ROWS):
        yield rows[i : i + CHUNK_ROWS]


def _insert_values(table: str, cols: list[str], rows: list[list[Any]], suffix: str = "") -> None:
    """Multi-row INSERT in chunks: one round trip per 500 rows instead of one per row."""
    with connection.cursor() as cursor:
        for chunk in _chunks(rows):
            values = ", ".join(["(" + ", ".join(["%s"] * len(cols)) + ")"] * len(chunk))
            # Identifiers come from our own constants, values are bound parameters.
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES {values} {suffix}"  # noqa: S608
            cursor.execute(sql, [v for row in chunk for v in row])


def copy_rows(
    rows: Iterable[Sequence[Any]],
    table: str = Reading._meta.db_table,
    cols: Sequence[str] = RAW_FIELDS,
    types: Sequence[str] = RAW_PG_TYPES,
) -> None:
    """Binary COPY (PostgreSQL): psycopg's C dumpers, no text formatting in Python."""
    sql = f"COPY {table} ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


def _stage(name: str, rows: list[list[Any]]) -> None:
    """Fill a session-local staging table (created on first use, emptied at commit)."""
    spec = STAGES[name]
    columns = ", ".join(f"{c} {t}" for c, t in spec)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns}) ON COMMIT DELETE ROWS")
        # Several ingests can share one transaction (tests, backfills): start empty.
        cursor.execute(f"TRUNCATE {name}")
    copy_rows(rows, name, [c for c, _ in spec], [t for _, t in spec])


def insert_raw(rows: list[tuple[Any, ...]]) -> None:
    _insert_values(
        Reading._meta.db_table, list(RAW_FIELDS), [[r[0], _dt(r[1]), *r[2:]] for r in rows]
    )


def _merge_sql(table: str, cols: list[str]) -> str:
    """ON CONFLICT clause merging new sums into a bucket: sums add, first/last keep the
    earliest/latest reading, min/max ignore NULLs (same SQL on PostgreSQL and SQLite 3.24+)."""
    updates = [f"{c} = {table}.{c} + EXCLUDED.{c}" for c in ROLLUP_SUMS]
    first_wins = (
        f"{table}.first_ts IS NULL OR (EXCLUDED.first_ts IS NOT NULL "
        f"AND EXCLUDED.first_ts < {table}.first_ts)"
    )
    last_wins = (
        f"EXCLUDED.last_ts IS NOT NULL AND ({table}.last_ts IS NULL "
        f"OR EXCLUDED.last_ts >= {table}.last_ts)"
    )
    updates += [
        f"{c} = CASE WHEN {first_wins} THEN EXCLUDED.{c} ELSE {table}.{c} END" for c in ROLLUP_FIRST
    ]
    updates += [
        f"{c} = CASE WHEN {last_wins} THEN EXCLUDED.{c} ELSE {table}.{c} END" for c in ROLLUP_LAST
    ]
    for c, op in (("supply_min_c", "<"), ("supply_max_c", ">")):
        updates.append(
            f"{c} = CASE WHEN {table}.{c} IS NULL THEN EXCLUDED.{c} "
            f"WHEN EXCLUDED.{c} IS NULL THEN {table}.{c} "
            f"WHEN EXCLUDED.{c} {op} {table}.{c} THEN EXCLUDED.{c} ELSE {table}.{c} END"
        )
    return f"ON CONFLICT (meter_id, bucket_start) DO UPDATE SET {', '.join(updates)}"


ROLLUP_FIRST = ("first_ts", "register_first_kwh", "cumulative_first_kwh")
ROLLUP_LAST = ("last_ts", "register_last_kwh", "cumulative_last_kwh")


def merge_rollups(
    model: type[HourlyRollup] | type[DailyRollup], daily: bool, rows: list[list[Any]], pg: bool
) -> None:
    """One merge per level and batch: staged by COPY on PostgreSQL, VALUES on SQLite."""
    table = model._meta.db_table
    cols = ["meter_id", "site_id", "bucket_start", *ROLLUP_SUMS, *ROLLUP_FIRST, *ROLLUP_LAST,
            "supply_min_c", "supply_max_c"]  # fmt: skip
    if daily:
        cols.append("day")
    suffix = _merge_sql(table, cols)
    if not pg:
        stamp = {2, 3 + len(ROLLUP_SUMS), 6 + len(ROLLUP_SUMS)}  # seconds / µs / µs
        for row in rows:
            row[2] = _dt(EPOCH + timedelta(seconds=row[2]))
            for i in sorted(stamp - {2}):
                row[i] = _dt(from_us(row[i])) if row[i] is not None else None
            if daily:
                row[-1] = connection.ops.adapt_datefield_value(row[-1])
        _insert_values(table, cols, rows, suffix)
        return
    if not daily:
        rows = [[*row, None] for row in rows]
    _stage("heat_stage_rollup", rows)
    source = [c for c, _ in ROLLUP_STAGE]
    exprs = []
    for c in source:
        if c == "bucket_start_s":
            exprs.append("to_timestamp(bucket_start_s)")
        elif c.endswith("_us"):
            exprs.append(f"TIMESTAMPTZ 'epoch' + {c} * INTERVAL '1 microsecond'")
        elif c != "day" or daily:
            exprs.append(c)
    with connection.cursor() as cursor:
        # Identifiers come from our own constants.
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) "  # noqa: S608
            f"SELECT {', '.join(exprs)} FROM heat_stage_rollup {suffix}"
        )


def update_states(rows: list[list[Any]], pg: bool) -> None:
    """Write back the state rows (``STATE_FIELDS`` then meter_id).

    PostgreSQL: COPY to a staging table and one UPDATE ... FROM; SQLite runs in-process, so
    per-row statements cost no round trip.
    """
    table = MeterState._meta.db_table
    if not pg:
        one_row = ", ".join(f"{c} = %s" for c in STATE_FIELDS)
        sql = f"UPDATE {table} SET {one_row} WHERE meter_id = %s"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.executemany(
                sql, [[_dt(v) if isinstance(v, datetime) else v for v in row] for row in rows]
            )
        return
    _stage("heat_stage_state", rows)
    sets = ", ".join(f"{c} = v.{c}" for c in STATE_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {sets} FROM heat_stage_state AS v "  # noqa: S608
            f"WHERE {table}.meter_id = v.meter_id"
        )
