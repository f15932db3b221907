"""The committed rows, read incrementally by (partition, batch id).

Each refresh asks weather/read/committed.py for a partition's snapshot (the checkpoint first, then
its batches), passing how far the cache has read: only batches committed since then are read, and
only if they continue what the cache holds (same topic id, offsets on from where it ended). A
checkpoint that moves backwards, batches of another topic id (the folder or the topic was
recreated), or a rewrite with other batch boundaries drop that partition's rows, which are then
read again from batch 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from weather.common import batches, checkpoint
from weather.common.storage import ERRORS as storage_errors, Storage
from weather.read import committed


@dataclass
class PartitionData:
    saved: checkpoint.Checkpoint | None = None  # the checkpoint as last seen
    committed_at: float | None = None  # when it was written (the file's mtime, epoch seconds)
    read: committed.ReadThrough | None = None  # how far `table` goes
    table: pa.Table = field(default_factory=batches.SCHEMA.empty_table)
    last_batch_rows: int = 0
    error: str | None = None  # why the checkpoint or a committed batch could not be read

    @property
    def read_through(self) -> int:
        """The last batch id whose rows are in `table` (-1: none)."""
        return self.read.batch_id if self.read else -1

    @property
    def topic_id(self) -> str | None:
        """The topic incarnation of the batches read."""
        return self.read.topic_id if self.read else None


class CommittedCache:
    def __init__(self, storage: Storage, checkpoint_dir: str, partitions: range) -> None:
        self.storage = storage
        self.checkpoint_dir = checkpoint_dir
        self.partitions = {partition: PartitionData() for partition in partitions}
        self.version = 0  # changes whenever any partition's rows change
        self.batches_read = 0  # files read since start, for the tests of incremental reading

    def refresh(self, storage_reachable: bool = True) -> None:
        for partition in self.partitions:
            self._refresh(partition, storage_reachable)

    def table(self) -> pa.Table:
        return pa.concat_tables([data.table for data in self.partitions.values()])

    def _refresh(self, partition: int, storage_reachable: bool) -> None:
        data = self.partitions[partition]
        try:
            if not storage_reachable:
                return self._checkpoint_only(partition)
            snapshot = committed.read_partition(self.storage, self.checkpoint_dir, partition, known=data.read)
            committed_at = self._committed_at(partition, snapshot.saved)
        except (checkpoint.CorruptCheckpoint, committed.StaleRead) as error:
            data.error = str(error)
            return
        except storage_errors as error:
            data.error = f"{type(error).__name__}: {error}".splitlines()[0]
            return
        if not snapshot.continues and data.read:
            data = self._forget(partition)
        data.saved, data.committed_at, data.error = snapshot.saved, committed_at, None
        new = []
        for batch in snapshot.batches:
            if batch.table is None:
                data.error = str(committed.missing_batch(self.storage, self.checkpoint_dir, partition, batch.batch_id))
                break
            new.append(batch.table)
            data.read = committed.ReadThrough.after(batch)
        if new:
            data.table = pa.concat_tables([data.table, *new]).combine_chunks()
            data.last_batch_rows = new[-1].num_rows
            self.batches_read += len(new)
            self.version += 1

    def _checkpoint_only(self, partition: int) -> None:
        """The checkpoint still shows while the storage is unreachable; its new batches wait for it."""
        data = self.partitions[partition]
        saved = checkpoint.load(self.checkpoint_dir, partition)
        if data.read and not data.read.covered_by(saved):
            data = self._forget(partition)
        data.saved, data.committed_at, data.error = saved, self._committed_at(partition, saved), None
        if saved and saved.batch_id > data.read_through:
            data.error = f"batches {data.read_through + 1}..{saved.batch_id} not read yet: storage unreachable"

    def _committed_at(self, partition: int, saved: checkpoint.Checkpoint | None) -> float | None:
        return checkpoint.committed_at(self.checkpoint_dir, partition) if saved else None

    def _forget(self, partition: int) -> PartitionData:
        self.partitions[partition] = data = PartitionData()
        self.version += 1
        return data
