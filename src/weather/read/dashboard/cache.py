"""The committed rows, summed up per partition and read incrementally through the snapshot.

A partition is loaded as every reader reads it (weather/read/snapshot.py): its part of the table's
newest version in one read, then the raw batches after it up to the checkpoint. From then on each
refresh reads only the raw batches committed since (weather/read/committed.py), taken only if they
continue what the cache holds (same topic id, offsets on from where it ended). The table covering
more later changes nothing: it holds the same rows. The partition is loaded again when the batches
do not continue (a checkpoint that went back, a recreated topic, a rewrite with other batch
boundaries) or when a raw batch it still needs was deleted because the table now holds it (raw
retention). Only the summaries are kept (summary.py), not the rows, so neither the memory nor a
refresh grows with the pipeline's age.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import pyarrow as pa
from deltalake.exceptions import DeltaError

from weather.common import checkpoint
from weather.common.storage import ERRORS as storage_errors, Storage
from weather.common.table import TableVersion
from weather.read import committed, snapshot
from weather.read.committed import CommittedBatch, ReadThrough
from .summary import Summary

READ_ERRORS = (*storage_errors, DeltaError)


@dataclass
class PartitionData:
    saved: checkpoint.Checkpoint | None = None  # the checkpoint as last seen
    committed_at: float | None = None  # when it was written (the file's mtime, epoch seconds)
    read: ReadThrough | None = None  # how far `summary` goes
    summary: Summary = field(default_factory=Summary)
    last_batch_rows: int | None = None  # None: unknown (the last batch read came with the table's part)
    error: str | None = None  # why the checkpoint or a committed batch could not be read

    @property
    def rows(self) -> int:
        return self.summary.rows

    @property
    def read_through(self) -> int:
        """The last batch id whose rows are summed up (-1: none)."""
        return self.read.batch_id if self.read else -1

    @property
    def topic_id(self) -> str | None:
        """The topic incarnation of the batches read."""
        return self.read.topic_id if self.read else None


class CommittedCache:
    def __init__(self, storage: Storage, checkpoint_dir: str, table_url: str, partitions: range) -> None:
        self.storage = storage
        self.checkpoint_dir = checkpoint_dir
        self.table_url = table_url
        self.partitions = {partition: PartitionData() for partition in partitions}
        self.version = 0  # changes whenever any partition's rows change
        self.batches_read = 0  # raw batch files read since start, for the tests of incremental reading
        self.table_reads = 0  # partitions' parts read from the table since start

    def refresh(self, storage_reachable: bool = True) -> None:
        # The table's newest version is opened only when a partition is loaded, once for all of them.
        newest = functools.cache(lambda: TableVersion.latest(self.table_url))
        for partition in self.partitions:
            self._refresh(partition, storage_reachable, newest)

    def summaries(self) -> list[Summary]:
        return [data.summary for data in self.partitions.values()]

    def _refresh(self, partition: int, storage_reachable: bool, newest: Callable[[], TableVersion]) -> None:
        data = self.partitions[partition]
        try:
            if not storage_reachable:
                data.saved = checkpoint.load(self.checkpoint_dir, partition)
                data.committed_at = checkpoint.committed_at(self.checkpoint_dir, partition) if data.saved else None
                if data.saved and data.saved.batch_id > data.read_through:
                    data.error = (f"batches {data.read_through + 1}..{data.saved.batch_id} not read yet: "
                                  "storage unreachable")
                return
            if data.read is not None:
                data = self._read_tail(partition, data, newest)
            elif checkpoint.load(self.checkpoint_dir, partition) is not None:  # else nothing to load yet
                data = self._load(partition, newest())
            else:
                data = self._forget(partition)
            data.committed_at = checkpoint.committed_at(self.checkpoint_dir, partition) if data.saved else None
        except (checkpoint.CorruptCheckpoint, committed.StaleRead) as error:
            data.error = str(error)
        except READ_ERRORS as error:
            data.error = f"{type(error).__name__}: {error}".splitlines()[0]

    def _read_tail(self, partition: int, data: PartitionData, newest: Callable[[], TableVersion]) -> PartitionData:
        """The raw batches committed since the last refresh, if they continue what is held; else a load."""
        tail = committed.read_partition(self.storage, self.checkpoint_dir, partition, known=data.read,
                                        reread_all=False)
        if not tail.continues:
            return self._load(partition, newest())
        data.saved, data.error = tail.saved, None
        missing = self._add(partition, data, tail.batches)
        if missing is not None:
            covered = newest().covered(partition, data.topic_id or "")
            if covered and covered.batch_id >= missing:  # deleted once the table held it (raw retention)
                return self._load(partition, newest())
        return data

    def _load(self, partition: int, version: TableVersion) -> PartitionData:
        """The partition afresh, as every reader reads it: the table's part, then the raw batches after it."""
        view = snapshot.read_partition(self.storage, self.checkpoint_dir, version, partition)
        data = self._forget(partition)
        data.saved = view.saved
        if view.covered:
            data.summary.add(view.table_rows)
            data.read = ReadThrough(view.covered.batch_id, view.covered.offset, view.topic_id)
            self.table_reads += 1
            self.version += 1
        self._add(partition, data, view.raw)
        return data

    def _forget(self, partition: int) -> PartitionData:
        """The partition's rows forgotten."""
        if self.partitions[partition].rows:
            self.version += 1
        self.partitions[partition] = data = PartitionData()
        return data

    def _add(self, partition: int, data: PartitionData, read: list[CommittedBatch]) -> int | None:
        """Sum up the batches' rows up to the first missing one; its batch id, or None."""
        new = []
        missing = None
        for batch in read:
            if batch.table is None:
                missing = batch.batch_id
                data.error = str(committed.missing_batch(self.storage, self.checkpoint_dir, partition, missing))
                break
            new.append(batch.table)
            data.read = ReadThrough.after(batch)
        if new:
            data.summary.add(pa.concat_tables(new))
            data.last_batch_rows = new[-1].num_rows
            self.batches_read += len(new)
            self.version += 1
        return missing
