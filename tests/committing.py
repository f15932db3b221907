"""Committing a prepared table as one batch through the partition writer's own steps, for tests that
need committed batches (readers, the dashboard's cache) without a consumer or Kafka."""
from __future__ import annotations

import logging

from weather.common.crash import no_hook
from weather.consume.writer import Batch, PartitionWriter, State

log = logging.getLogger("test")


def commit_table(storage, checkpoint_dir, partition, batch_id, table, next_offset, reached=no_hook, *,
                 dead_letters=(), dead_letter_storage=None) -> None:
    """`table` committed as batch `batch_id` of `partition`: the commit states from POLLED to CHECKPOINTED.
    No recovery and no lock: the test owns the folders."""
    writer = PartitionWriter(partition, storage, dead_letter_storage or storage, checkpoint_dir, writer_lock=None,
                             log=log, reached=reached)
    writer.state = State.READY
    writer.commit(Batch(batch_id, table, next_offset, list(dead_letters)))
