"""What the topic already holds, so the producer sends each row once.

Each message carries its table id in the `row_id` header. Within a partition the producer sends in
id order and the idempotent producer keeps that order, so the ids a partition holds are a prefix
of the rows that belong to it: its last record's id (its tail) says which of them arrived. Across
partitions there is no such order (a page cut short by a crash or a failed send may have reached
partition 0 but not partition 1), so a row is already sent exactly when its own partition's tail
is at or above its id, and the table is scanned again from the lowest tail.
"""
from __future__ import annotations

from weather.common.records import partition_for
from weather.produce.source import ID, STATION_ID


def resume_point(tails: dict[int, int]) -> int:
    """The id after which to scan the table again: every row at or below it is in its partition."""
    return min(tails.values())


def unsent(rows: list, tails: dict[int, int]) -> list:
    """The rows whose partition does not hold them yet (rows: table rows in id order, weather/produce/source.py)."""
    if not rows or rows[0][ID] > max(tails.values()):  # the usual case: past every tail, so all unsent
        return rows
    return [row for row in rows if row[ID] > tails[partition_for(row[STATION_ID].encode(), len(tails))]]
