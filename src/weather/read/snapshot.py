"""One snapshot for every reader: the table's rows, then the raw batches after them up to the checkpoint.

The table layer (weather/common/table.py) holds, per partition and topic incarnation, the rows of raw
batches 0..B and says so (batch B, next offset O). A reader pins one table version, then for each
partition reads the checkpoint (batches 0..M committed) and only the raw batches B+1..M, taken
only if they continue the table's part: the same topic id, offsets on from O to the checkpoint's
(weather/read/committed.py checks it). Otherwise (the table is of an older incarnation, or behind a
rewrite of the raw layer) the partition is read from its raw batches 0..M, as without a table. So a
read costs the fresh tail, not the pipeline's age, and sees every committed row exactly once.

Without a table (no compactor ran) this is exactly the raw layer's committed view.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import pyarrow as pa

from weather.common import batches, checkpoint
from weather.common.checkpoint import Checkpoint
from weather.common.storage import Storage
from weather.common.table import Covered, TableVersion
from weather.read import committed
from weather.read.committed import CommittedBatch, ReadThrough


@dataclass(frozen=True)
class PartitionView:
    """What a reader sees of one partition."""
    saved: Checkpoint | None
    covered: Covered | None  # the table's part (batches 0..covered.batch_id); None: the table holds none of it
    table_rows: pa.Table  # the table's rows of the partition (empty without its part)
    raw: list[CommittedBatch]  # the raw batches after the table's part, up to the checkpoint
    topic_id: str | None = None  # the incarnation the table's part was looked up for (the checkpoint's batch's)

    @property
    def first_raw_offset(self) -> int:
        return self.covered.offset if self.covered else 0

    def rows(self, storage: Storage, checkpoint_dir: str, partition: int) -> pa.Table:
        """Every row; MissingBatch when a committed raw file is missing or unreadable."""
        for batch in self.raw:
            if batch.table is None:
                raise committed.missing_batch(storage, checkpoint_dir, partition, batch.batch_id)
        return pa.concat_tables([self.table_rows, *(batch.table for batch in self.raw)])


def _topic_id(storage: Storage, checkpoint_dir: str, partition: int) -> str | None:
    """The incarnation of the topic the partition's committed batches belong to (its last batch's)."""
    saved = checkpoint.load(checkpoint_dir, partition)
    if saved is None:
        return None
    try:
        return batches.read_info(storage, partition, saved.batch_id).topic_id or ""
    except (FileNotFoundError, ValueError):
        return None  # reported by the raw read below


def read_partition(storage: Storage, checkpoint_dir: str, version: TableVersion, partition: int,
                   check_tiling: bool = True) -> PartitionView:
    """The partition as of the pinned table version and its checkpoint now (check_tiling: see committed)."""
    topic_id = _topic_id(storage, checkpoint_dir, partition)
    covered = version.covered(partition, topic_id)
    known = ReadThrough(covered.batch_id, covered.offset, topic_id) if covered else None
    raw = committed.read_partition(storage, checkpoint_dir, partition, check_tiling=check_tiling, known=known)
    if not raw.continues:
        return PartitionView(raw.saved, None, batches.SCHEMA.empty_table(), raw.batches, topic_id)
    return PartitionView(raw.saved, covered, version.rows([partition]), raw.batches, topic_id)


def read_views(storage: Storage, checkpoint_dir: str, table_url: str, partitions: Iterable[int],
               check_tiling: bool = True) -> dict[int, PartitionView]:
    version = TableVersion.latest(table_url)  # one version for all partitions
    return {p: read_partition(storage, checkpoint_dir, version, p, check_tiling) for p in partitions}


def read_rows(storage: Storage, checkpoint_dir: str, table_url: str, partitions: Iterable[int]) -> pa.Table:
    """Every committed row of the given partitions as one table (date, degrees, station_id)."""
    views = read_views(storage, checkpoint_dir, table_url, partitions)
    tables = [view.rows(storage, checkpoint_dir, p) for p, view in views.items()]
    return pa.concat_tables(tables) if tables else batches.SCHEMA.empty_table()
