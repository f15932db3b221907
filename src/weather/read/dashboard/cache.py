"""The committed rows, read incrementally by (partition, batch id).

As weather/read/committed.py does, each partition's checkpoint is read first and only batches
0..batch_id are trusted. Batches already read stay in memory, so a refresh reads just the
batches committed since the previous one. A checkpoint that moves backwards, or a new batch of
another topic id than those already read (its folder or the topic was recreated), drops that
partition's rows, which are then read again from batch 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from weather.common import batches, checkpoint
from weather.common.storage import ERRORS as storage_errors, Storage


@dataclass
class PartitionData:
    saved: checkpoint.Checkpoint | None = None  # the checkpoint as last seen
    committed_at: float | None = None  # when it was written (the file's mtime, epoch seconds)
    read_through: int = -1  # the last batch id whose rows are in `table`
    table: pa.Table = field(default_factory=batches.SCHEMA.empty_table)
    last_batch_rows: int = 0
    topic_id: str | None = None  # the topic incarnation of the batches read
    error: str | None = None  # why the checkpoint or a committed batch could not be read


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
            saved = checkpoint.load(self.checkpoint_dir, partition)
            committed_at = checkpoint.committed_at(self.checkpoint_dir, partition) if saved else None
        except checkpoint.CorruptCheckpoint as error:
            data.error = str(error)
            return
        if committed_at is None:  # removed between the two reads: as if never written
            saved = None
        if data.saved and (saved is None or saved.batch_id < data.saved.batch_id or saved.offset < data.saved.offset):
            data = self._forget(partition)
        data.saved, data.committed_at, data.error = saved, committed_at, None
        if saved is None or saved.batch_id == data.read_through:
            return
        if not storage_reachable:
            data.error = f"batches {data.read_through + 1}..{saved.batch_id} not read yet: storage unreachable"
            return
        new = []
        try:
            for batch_id in range(data.read_through + 1, saved.batch_id + 1):
                table, info = batches.read_batch_and_info(self.storage, partition, batch_id)
                if data.topic_id not in (None, info.topic_id):  # rewritten for a recreated topic: read all again
                    self._forget(partition)
                    return self._refresh(partition, storage_reachable)
                data.topic_id = info.topic_id
                new.append(table)
                data.read_through = batch_id
        except FileNotFoundError:
            data.error = (f"{self.storage.url}/{batches.batch_name(partition, batch_id)} is committed by "
                          f"{checkpoint.checkpoint_path(self.checkpoint_dir, partition)} "
                          "but missing: committed data was lost")
        except storage_errors as error:
            data.error = f"reading batch {batch_id}: {type(error).__name__}: {error}".splitlines()[0]
        if new:
            data.table = pa.concat_tables([data.table, *new]).combine_chunks()
            data.last_batch_rows = new[-1].num_rows
            self.batches_read += len(new)
            self.version += 1

    def _forget(self, partition: int) -> PartitionData:
        self.partitions[partition] = data = PartitionData()
        self.version += 1
        return data
