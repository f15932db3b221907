"""The committed data: what readers (reader.py, the verifier, a dashboard) may trust.

For each partition the checkpoint is read first; its batch_id M says batches 0..M are committed.
Only those files are read: a later file (written, not yet checkpointed) or a `.tmp` file may be
incomplete or about to be rewritten, so it is ignored.

A topic recreated while a partition is read makes its consumer start afresh: it removes the
checkpoint, then rewrites batches from 0 with the new topic id (a checkpoint removed by hand does
the same with the same id, perhaps other batch boundaries). So a read is a consistent snapshot only
if all its batches carry one topic id, their offsets follow each other from 0 to the checkpoint's,
and the checkpoint, read again afterwards, has not gone back; otherwise it is read again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import pyarrow as pa

from weather.common import batches, checkpoint
from weather.common.batches import BatchInfo
from weather.common.checkpoint import Checkpoint
from weather.common.storage import Storage


class MissingBatch(Exception):
    """A batch the checkpoint calls committed is not on storage: committed data was lost."""


class StaleRead(Exception):
    """The partition was started afresh (topic recreated) again and again while it was being read."""


@dataclass(frozen=True)
class CommittedBatch:
    batch_id: int
    table: pa.Table | None  # rows without the file's metadata (so batches concatenate); None when unreadable
    info: BatchInfo | None


@dataclass(frozen=True)
class PartitionSnapshot:
    saved: Checkpoint | None
    batches: list[CommittedBatch]


def read_partition(storage: Storage, checkpoint_dir: str, partition: int, attempts: int = 5,
                   check_tiling: bool = True) -> PartitionSnapshot:
    """A consistent snapshot of the partition's committed batches (see above).

    check_tiling=False: for the verifier, which reports batches that do not tile as damage itself.
    """
    for _ in range(attempts):
        saved = checkpoint.load(checkpoint_dir, partition)
        read = [_read(storage, partition, batch_id) for batch_id in (range(saved.batch_id + 1) if saved else ())]
        topic_ids = {batch.info.topic_id for batch in read if batch.info}
        again = checkpoint.load(checkpoint_dir, partition)
        if len(topic_ids) <= 1 and (saved is None or (again is not None and again.batch_id >= saved.batch_id)) \
                and (not check_tiling or _tiled(saved, read)):
            return PartitionSnapshot(saved, read)
    raise StaleRead(f"partition {partition}: its batches kept changing topic while being read; try again")


def _tiled(saved: Checkpoint | None, read: list[CommittedBatch]) -> bool:
    """The batches' offsets follow each other from 0 to the checkpoint's (a missing batch is reported as such)."""
    if saved is None or any(batch.info is None for batch in read):
        return True
    next_offset = 0
    for batch in read:
        if batch.info.offsets.first != next_offset:
            return False
        next_offset = batch.info.offsets.last + 1
    return next_offset == saved.offset


def _read(storage: Storage, partition: int, batch_id: int) -> CommittedBatch:
    try:
        table, info = batches.read_batch_and_info(storage, partition, batch_id)
    except (FileNotFoundError, ValueError):
        return CommittedBatch(batch_id, None, None)
    return CommittedBatch(batch_id, table, info)


def read_committed_partition(storage: Storage, checkpoint_dir: str, partition: int) -> pa.Table:
    """Every committed row of the partition; MissingBatch when a committed file is missing or unreadable."""
    snapshot = read_partition(storage, checkpoint_dir, partition)
    for batch in snapshot.batches:
        if batch.table is None:
            raise MissingBatch(f"{storage.url}/{batches.batch_name(partition, batch.batch_id)} is committed by "
                               f"{checkpoint.checkpoint_path(checkpoint_dir, partition)} but missing or unreadable")
    tables = [batch.table for batch in snapshot.batches]
    return pa.concat_tables(tables) if tables else batches.SCHEMA.empty_table()


def read_committed(storage: Storage, checkpoint_dir: str, partitions: Iterable[int]) -> pa.Table:
    """Every committed row of the given partitions as one table (date, degrees, station_id)."""
    return pa.concat_tables([read_committed_partition(storage, checkpoint_dir, partition) for partition in partitions])
