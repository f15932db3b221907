"""One Kafka batch -> one Parquet file `partition-N-batch-M.parquet`.

The file is written as a temp file of its own (`….parquet.<random>.tmp`, see weather/common/
storage.py), closed, then renamed over the final name, so a reader never opens a half-written
batch. Each file records the Kafka offsets it holds (first and last) in its key-value metadata:
enough to check coverage and to rebuild a lost checkpoint. The metadata also names the topic's id
(a recreated topic gets a new one, so batches of an old topic are told apart), how many of those
offsets were bad messages sent to the dead-letter file instead (weather/common/deadletter.py) and
how many were duplicates the consumer dropped (a row id at or below the partition's high-water
mark), so rows + dead letters + duplicates = last - first + 1. The
high-water mark after the batch (the highest table id committed in the partition) is there too:
a restarted consumer reads it from its last committed batch.
"""
from __future__ import annotations

import array
import itertools
import re
from dataclasses import dataclass
from typing import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from weather.common.storage import TEMP_SUFFIX, Midway, Storage

SCHEMA = pa.schema([("date", pa.string()), ("degrees", pa.float64()), ("station_id", pa.string())])
FIRST_OFFSET_KEY = b"kafka.first_offset"
LAST_OFFSET_KEY = b"kafka.last_offset"
TOPIC_ID_KEY = b"kafka.topic_id"
DEAD_LETTERS_KEY = b"kafka.dead_letters"
DUPLICATES_KEY = b"kafka.duplicates"
HIGH_WATER_KEY = b"kafka.high_water_row_id"
_NAME = re.compile(r"partition-(\d+)-batch-(\d+)\.parquet")


@dataclass(frozen=True)
class OffsetRange:
    first: int
    last: int  # inclusive


@dataclass(frozen=True)
class BatchInfo:
    """What a batch file's metadata says about the Kafka records it holds."""
    offsets: OffsetRange
    topic_id: str | None = None  # None in files written before topic ids were recorded
    dead_letters: int = 0  # offsets in the range that were not Reports: in the dead-letter file, not in the rows
    duplicates: int = 0  # offsets in the range whose row id was already committed: dropped
    high_water: int = 0  # the highest row id committed in the partition up to this batch (0: none)


def batch_name(partition: int, batch_id: int) -> str:
    return f"partition-{partition}-batch-{batch_id}.parquet"


def batch_ids(storage: Storage, partition: int) -> list[int]:
    """Ids of the partition's final (not .tmp) batch files, ascending; committed or not."""
    found = (_NAME.fullmatch(name) for name in storage.names())
    return sorted(int(match[2]) for match in found if match and int(match[1]) == partition)


Column = Sequence | pa.Array | pa.ChunkedArray


def build_table(dates: Column, degrees: Column, station_ids: Column, info: BatchInfo) -> pa.Table:
    """The batch as an Arrow table, `info` in its metadata; columns given as Arrow arrays or as lists."""
    columns = [_arrow(dates, string_array), _arrow(degrees, double_array), _arrow(station_ids, string_array)]
    metadata = {FIRST_OFFSET_KEY: str(info.offsets.first).encode(), LAST_OFFSET_KEY: str(info.offsets.last).encode(),
                DEAD_LETTERS_KEY: str(info.dead_letters).encode(), DUPLICATES_KEY: str(info.duplicates).encode(),
                HIGH_WATER_KEY: str(info.high_water).encode()}
    if info.topic_id:
        metadata[TOPIC_ID_KEY] = info.topic_id.encode()
    return pa.Table.from_arrays(columns, schema=SCHEMA.with_metadata(metadata))


def _arrow(values: Column, build) -> pa.Array | pa.ChunkedArray:
    return values if isinstance(values, (pa.Array, pa.ChunkedArray)) else build(values)


# The columns are built from buffers, not with pa.array(): on a list, that imports pandas (a quarter
# of a second on a consumer's first batch, and some 40 MB) only to look for pandas values.
def string_array(values: Sequence[str]) -> pa.Array:
    encoded = [value.encode() for value in values]
    offsets = array.array("i", itertools.accumulate(map(len, encoded), initial=0))  # int32, as pa.string() wants
    return pa.StringArray.from_buffers(len(encoded), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded)))


def double_array(values: Sequence[float]) -> pa.Array:
    return pa.Array.from_buffers(pa.float64(), len(values), [None, pa.py_buffer(array.array("d", values))])


def to_parquet(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def write_temp(storage: Storage, partition: int, batch_id: int, table: pa.Table, midway: Midway = None) -> str:
    """The batch in a new temp file, complete and closed; its name, for publish."""
    return storage.write_temp(batch_name(partition, batch_id), to_parquet(table), midway)


def publish(storage: Storage, partition: int, batch_id: int, temp_name: str) -> None:
    """Rename the temp file write_temp returned (this attempt's own, closed) over the final name in one step."""
    storage.rename(temp_name, batch_name(partition, batch_id))


def _info(name: str, metadata: dict | None) -> BatchInfo:
    metadata = metadata or {}
    try:
        offsets = OffsetRange(int(metadata[FIRST_OFFSET_KEY]), int(metadata[LAST_OFFSET_KEY]))
        counts = [int(metadata.get(key, b"0")) for key in (DEAD_LETTERS_KEY, DUPLICATES_KEY, HIGH_WATER_KEY)]
    except (KeyError, ValueError):
        raise ValueError(f"{name} has no Kafka offsets in its metadata") from None
    topic_id = metadata.get(TOPIC_ID_KEY)
    return BatchInfo(offsets, topic_id.decode() if topic_id else None, *counts)


def read_batch_and_info(storage: Storage, partition: int, batch_id: int) -> tuple[pa.Table, BatchInfo]:
    """One batch file's rows (without the metadata, so batches concatenate) and what its metadata says."""
    table = pq.read_table(pa.BufferReader(storage.read(batch_name(partition, batch_id))))
    return table.replace_schema_metadata(None), _info(batch_name(partition, batch_id), table.schema.metadata)


def read_batch(storage: Storage, partition: int, batch_id: int) -> pa.Table:
    return read_batch_and_info(storage, partition, batch_id)[0]


def read_info(storage: Storage, partition: int, batch_id: int) -> BatchInfo:
    """A batch file's metadata (the footer only is parsed)."""
    schema = pq.read_schema(pa.BufferReader(storage.read(batch_name(partition, batch_id))))
    return _info(batch_name(partition, batch_id), schema.metadata)


def read_offsets(storage: Storage, partition: int, batch_id: int) -> OffsetRange:
    """The Kafka offsets a batch file holds, from its Parquet metadata."""
    return read_info(storage, partition, batch_id).offsets


def temp_files(storage: Storage, partition: int) -> list[str]:
    """The partition's temp files (`partition-N-batch-*.tmp`, whatever their middle), in no order."""
    prefix = f"partition-{partition}-batch-"
    return [name for name in storage.names() if name.startswith(prefix) and name.endswith(TEMP_SUFFIX)]


def remove_temp_files(storage: Storage, partition: int) -> list[str]:
    """Delete the partition's leftover temp files (a crash between write and rename, a write given up); their names."""
    stale = temp_files(storage, partition)
    for name in stale:
        storage.delete(name)
    return stale
