"""One Kafka batch -> one Parquet file `partition-N-batch-M.parquet`.

The file is written as `….parquet.tmp`, closed, then renamed over the final name, so a reader
never opens a half-written batch. Each file records the Kafka offsets it holds (first and last)
in its key-value metadata: enough to check coverage and to rebuild a lost checkpoint.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from .storage import Storage

SCHEMA = pa.schema([("date", pa.string()), ("degrees", pa.float64()), ("station_id", pa.string())])
FIRST_OFFSET_KEY = b"kafka.first_offset"
LAST_OFFSET_KEY = b"kafka.last_offset"
TEMP_SUFFIX = ".tmp"
_NAME = re.compile(r"partition-(\d+)-batch-(\d+)\.parquet")


@dataclass(frozen=True)
class OffsetRange:
    first: int
    last: int  # inclusive


def batch_name(partition: int, batch_id: int) -> str:
    return f"partition-{partition}-batch-{batch_id}.parquet"


def temp_name(partition: int, batch_id: int) -> str:
    return batch_name(partition, batch_id) + TEMP_SUFFIX


def batch_ids(storage: Storage, partition: int) -> list[int]:
    """Ids of the partition's final (not .tmp) batch files, ascending; committed or not."""
    found = (_NAME.fullmatch(name) for name in storage.names())
    return sorted(int(match[2]) for match in found if match and int(match[1]) == partition)


def build_table(dates: Sequence[str], degrees: Sequence[float], station_ids: Sequence[str],
                offsets: OffsetRange) -> pa.Table:
    """The batch as an Arrow table, columns straight from the lists, offsets in its metadata."""
    columns = [pa.array(dates, pa.string()), pa.array(degrees, pa.float64()), pa.array(station_ids, pa.string())]
    metadata = {FIRST_OFFSET_KEY: str(offsets.first).encode(), LAST_OFFSET_KEY: str(offsets.last).encode()}
    return pa.Table.from_arrays(columns, schema=SCHEMA.with_metadata(metadata))


def to_parquet(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def write_temp(storage: Storage, partition: int, batch_id: int, table: pa.Table) -> None:
    storage.write(temp_name(partition, batch_id), to_parquet(table))


def publish(storage: Storage, partition: int, batch_id: int) -> None:
    """Rename the written temp file over the final name in one atomic step."""
    storage.rename(temp_name(partition, batch_id), batch_name(partition, batch_id))


def read_batch(storage: Storage, partition: int, batch_id: int) -> pa.Table:
    """One batch file's rows (without the offset metadata, so batches concatenate)."""
    table = pq.read_table(pa.BufferReader(storage.read(batch_name(partition, batch_id))))
    return table.replace_schema_metadata(None)


def read_offsets(storage: Storage, partition: int, batch_id: int) -> OffsetRange:
    """The Kafka offsets a batch file holds, from its Parquet metadata (the footer only is parsed)."""
    metadata = pq.read_schema(pa.BufferReader(storage.read(batch_name(partition, batch_id)))).metadata or {}
    try:
        return OffsetRange(int(metadata[FIRST_OFFSET_KEY]), int(metadata[LAST_OFFSET_KEY]))
    except (KeyError, ValueError):
        raise ValueError(f"{batch_name(partition, batch_id)} has no Kafka offsets in its metadata") from None


def remove_temp_files(storage: Storage, partition: int) -> list[str]:
    """Delete the partition's leftover .tmp files (a crash between write and rename); their names."""
    prefix = f"partition-{partition}-batch-"
    stale = [name for name in storage.names() if name.startswith(prefix) and name.endswith(TEMP_SUFFIX)]
    for name in stale:
        storage.delete(name)
    return stale
