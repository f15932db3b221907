"""The committed data: what readers (reader.py, the verifier, a dashboard) may trust.

For each partition the checkpoint is read first; its batch_id M says batches 0..M are committed.
Only those files are read: a later file (written, not yet checkpointed) or a `.tmp` file may be
incomplete or about to be rewritten, so it is ignored.

A topic recreated while a partition is read makes its consumer start afresh: it removes the
checkpoint, then rewrites batches from 0 with the new topic id (a checkpoint removed by hand does
the same with the same id, perhaps other batch boundaries). So a read is a consistent snapshot only
if all its batches carry one topic id, their offsets follow each other from 0 to the checkpoint's,
and the checkpoint, read again afterwards, has not gone back; otherwise it is read again.

A reader that keeps what it read (the dashboard) asks only for the batches after those: they are
taken as such only if they continue them (same topic id, offsets on from where those ended);
otherwise, as after a rewrite with other batch boundaries, the partition is read again from batch 0,
or not at all for a reader that reads it afresh its own way (the dashboard, through the table).
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
class ReadThrough:
    """How far a reader has read a partition: batches 0..batch_id, offsets up to next_offset, of one topic id."""
    batch_id: int
    next_offset: int
    topic_id: str | None

    @classmethod
    def after(cls, batch: CommittedBatch) -> "ReadThrough":
        return cls(batch.batch_id, batch.info.offsets.last + 1, batch.info.topic_id)

    def covered_by(self, saved: Checkpoint | None) -> bool:
        """The checkpoint has not gone back behind it (else the partition was started afresh meanwhile)."""
        return saved is not None and saved.batch_id >= self.batch_id and saved.offset >= self.next_offset


@dataclass(frozen=True)
class PartitionSnapshot:
    saved: Checkpoint | None
    batches: list[CommittedBatch]  # 0..saved.batch_id, or only those after `known` when `continues`
    continues: bool = False  # the batches follow on from read_partition's `known`


def read_partition(storage: Storage, checkpoint_dir: str, partition: int, attempts: int = 5,
                   check_tiling: bool = True, known: ReadThrough | None = None,
                   reread_all: bool = True) -> PartitionSnapshot:
    """A consistent snapshot of the partition's committed batches (see above).

    known: what the caller has read already; then only the batches after it, if they continue it. If they
    do not: all batches again, or with reread_all=False none (continues=False says to read it afresh).
    check_tiling=False: for the verifier, which reports batches that do not tile as damage itself.
    """
    for _ in range(attempts):
        saved = checkpoint.load(checkpoint_dir, partition)
        start = known if known and known.covered_by(saved) else None
        if known and not start and not reread_all:
            return PartitionSnapshot(saved, [])
        batch_ids = range(start.batch_id + 1 if start else 0, saved.batch_id + 1) if saved else range(0)
        read = [_read(storage, partition, batch_id) for batch_id in batch_ids]
        topic_ids = {batch.info.topic_id for batch in read if batch.info} | ({start.topic_id} if start else set())
        again = checkpoint.load(checkpoint_dir, partition)
        if len(topic_ids) <= 1 and (saved is None or (again is not None and again.batch_id >= saved.batch_id)) \
                and (not check_tiling or _tiled(start.next_offset if start else 0, saved, read)):
            return PartitionSnapshot(saved, read, start is not None)
        if known and not reread_all:
            return PartitionSnapshot(saved, [])
        known = None  # changed while read, or the batches do not continue what was known: read them all
    raise StaleRead(f"partition {partition}: its batches kept changing while being read (a topic recreated, a "
                    "rewrite); try again")


def _tiled(first_offset: int, saved: Checkpoint | None, read: list[CommittedBatch]) -> bool:
    """The batches' offsets follow each other from first_offset to the checkpoint's, or up to a missing batch
    (the caller reports it as such)."""
    if saved is None:
        return True
    next_offset = first_offset
    for batch in read:
        if batch.info is None:
            return True
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


def missing_batch(storage: Storage, checkpoint_dir: str, partition: int, batch_id: int) -> MissingBatch:
    return MissingBatch(f"{storage.url}/{batches.batch_name(partition, batch_id)} is committed by "
                        f"{checkpoint.checkpoint_path(checkpoint_dir, partition)} but missing or unreadable")


def read_committed_partition(storage: Storage, checkpoint_dir: str, partition: int) -> pa.Table:
    """Every committed row of the partition; MissingBatch when a committed file is missing or unreadable."""
    snapshot = read_partition(storage, checkpoint_dir, partition)
    for batch in snapshot.batches:
        if batch.table is None:
            raise missing_batch(storage, checkpoint_dir, partition, batch.batch_id)
    tables = [batch.table for batch in snapshot.batches]
    return pa.concat_tables(tables) if tables else batches.SCHEMA.empty_table()


def read_committed(storage: Storage, checkpoint_dir: str, partitions: Iterable[int]) -> pa.Table:
    """Every committed row of the given partitions as one table (date, degrees, station_id)."""
    return pa.concat_tables([read_committed_partition(storage, checkpoint_dir, partition) for partition in partitions])
