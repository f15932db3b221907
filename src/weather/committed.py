"""The committed data: what readers (reader.py, a dashboard) may trust.

For each partition the checkpoint is read first; its batch_id M says batches 0..M are committed.
Only those files are read: a later file (written, not yet checkpointed) or a `.tmp` file may be
incomplete or about to be rewritten, so it is ignored. A batch whose topic id differs from the
checkpoint's was rewritten for a recreated topic after the checkpoint was read: read again.
"""
from __future__ import annotations

from typing import Iterable

import pyarrow as pa

from . import batches, checkpoint
from .storage import Storage


class MissingBatch(Exception):
    """A batch the checkpoint calls committed is not on storage: committed data was lost."""


class StaleRead(Exception):
    """The partition was started afresh (topic recreated) again and again while it was being read."""


def committed_batch_ids(checkpoint_dir: str, partition: int) -> range:
    """Ids of the partition's committed batches: 0..batch_id of its checkpoint, empty without one."""
    saved = checkpoint.load(checkpoint_dir, partition)
    return range(saved.batch_id + 1) if saved else range(0)


def read_committed_partition(storage: Storage, checkpoint_dir: str, partition: int, attempts: int = 5) -> pa.Table:
    for _ in range(attempts):
        saved = checkpoint.load(checkpoint_dir, partition)
        tables = []
        for batch_id in range(saved.batch_id + 1) if saved else ():
            try:
                table, info = batches.read_batch_and_info(storage, partition, batch_id)
            except FileNotFoundError:
                raise MissingBatch(f"{storage.url}/{batches.batch_name(partition, batch_id)} is committed by "
                                   f"{checkpoint.checkpoint_path(checkpoint_dir, partition)} but missing") from None
            if saved.topic_id and info.topic_id and info.topic_id != saved.topic_id:
                break  # the topic was recreated while we read: its consumer is rewriting from batch 0
            tables.append(table)
        else:
            return pa.concat_tables(tables) if tables else batches.SCHEMA.empty_table()
    raise StaleRead(f"partition {partition}: its batches kept changing topic while being read; try again")


def read_committed(storage: Storage, checkpoint_dir: str, partitions: Iterable[int]) -> pa.Table:
    """Every committed row of the given partitions as one table (date, degrees, station_id)."""
    return pa.concat_tables([read_committed_partition(storage, checkpoint_dir, partition) for partition in partitions])
