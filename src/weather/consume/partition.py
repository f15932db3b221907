"""One partition's writer: the state a consumer keeps for as long as it runs, and what it does with it.

    acquire (the partition's lock, taking over a running holder)
    -> start (stale temp files removed; where it stands: next batch, next offset, high-water row id)
    -> batch(records) -> commit(batch), again and again
    -> start_afresh when the topic is recreated

Every message the producer sends carries its table id (header `row_id`), and within one topic
incarnation a partition's committed row ids only increase. So a record whose row id is at or below
the partition's high-water mark is a duplicate Kafka holds (a resend, a second producer): it is
dropped and counted in the batch's metadata. A record without the header is kept.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from weather.common import batches, checkpoint, deadletter, lock
from weather.consume import commit, fetch, recovery
from weather.common.batches import BatchInfo, OffsetRange
from weather.common.deadletter import DeadLetter
from weather.common.storage import Storage


@dataclass
class Batch:
    """The records of one poll, ready to commit as batch `batch_id`."""
    batch_id: int
    table: pa.Table
    next_offset: int  # the consumer's position after the batch
    dead_letters: list[DeadLetter] = field(default_factory=list)
    duplicates: int = 0
    high_water: int = 0


class PartitionWriter:
    def __init__(self, partition: int, storage: Storage, dead_storage: Storage, checkpoint_dir: str,
                 writer_lock: lock.WriterLock, log: logging.Logger, reached: commit.StepHook = commit.no_hook) -> None:
        self.partition = partition
        self.storage = storage
        self.dead_storage = dead_storage
        self.checkpoint_dir = checkpoint_dir
        self.lock = writer_lock
        self.log = log
        self.reached = reached
        self.topic_id: str | None = None
        self.position = recovery.START
        self.rows_committed = 0  # since this process started

    @classmethod
    def acquire(cls, partition: int, lock_dir: str, takeover_wait: float, log: logging.Logger,
                **kwargs) -> "PartitionWriter":
        """The writer of `partition`, once it holds the partition's lock (see weather/lock.py)."""
        held = lock.acquire(Path(lock_dir) / f"partition-{partition}.lock", f"partition {partition}",
                            takeover_wait, log)
        return cls(partition, log=log, writer_lock=held, **kwargs)

    # -- where it stands ---------------------------------------------------------------------
    @property
    def batch_id(self) -> int:
        return self.position.batch_id

    @property
    def offset(self) -> int:
        return self.position.offset

    def start(self, topic_id: str, recover: bool = False) -> None:
        """Clean what a previous writer left half done, and learn where the partition stands."""
        self.storage.ensure_folder()
        for name in batches.remove_temp_files(self.storage, self.partition):
            self.log.info("removed stale %s/%s", self.storage.url, name)
        if checkpoint.remove_temp(self.checkpoint_dir, self.partition):
            self.log.info("removed stale %s", checkpoint.temp_path(self.checkpoint_dir, self.partition))
        self.topic_id = topic_id
        self.position = recovery.start_position(self.storage, self.checkpoint_dir, self.partition, topic_id, recover)
        self._remove_uncommitted_dead_letters()

    def start_afresh(self, topic_id: str, reason: str) -> None:
        """The topic was recreated under us: forget the old incarnation's batches, read the new one from 0."""
        self.log.warning("partition %d: %s; starting the partition afresh at batch 0, offset 0", self.partition, reason)
        checkpoint.remove(self.checkpoint_dir, self.partition)  # readers drop the old batches at once
        self.topic_id = topic_id
        self.position = recovery.START
        self._remove_uncommitted_dead_letters()

    def _remove_uncommitted_dead_letters(self) -> None:
        for name in deadletter.remove_uncommitted(self.dead_storage, self.partition, self.batch_id - 1):
            self.log.info("removed uncommitted %s/%s", self.dead_storage.url, name)

    # -- the loop ---------------------------------------------------------------------------
    def batch(self, records: list) -> Batch | None:
        """The polled records (see weather/fetch.py) as the next batch: rows, dead letters (logged once),
        dropped duplicates. None if no record was at or after the position."""
        decoded = fetch.decode(records, self.partition, self.position.high_water)
        if decoded.first_offset < 0:
            return None
        for letter in decoded.dead_letters:
            self.log.warning("partition %d offset %d: %s; kept in the dead-letter file", self.partition,
                             letter.offset, letter.error)
        info = BatchInfo(OffsetRange(decoded.first_offset, decoded.last_offset), self.topic_id,
                         len(decoded.dead_letters), decoded.duplicates, decoded.high_water)
        return Batch(self.batch_id, batches.build_table(*decoded.columns(), info), decoded.last_offset + 1,
                     decoded.dead_letters, decoded.duplicates, decoded.high_water)

    def commit(self, batch: Batch) -> None:
        """Commit the batch through the named steps of weather/commit.py; safe to repeat after a failure."""
        commit.commit_batch(self.storage, self.checkpoint_dir, self.partition, batch.batch_id, batch.table,
                            batch.next_offset, self.reached, dead_letters=batch.dead_letters,
                            dead_letter_storage=self.dead_storage)
        if batch.duplicates:
            self.log.info("partition %d batch %d: dropped %d duplicate records (row ids already committed)",
                          self.partition, batch.batch_id, batch.duplicates)
        self.position = recovery.Position(batch.batch_id + 1, batch.next_offset, batch.high_water)
        self.rows_committed += batch.table.num_rows


