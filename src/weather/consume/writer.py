"""One partition's writer: a state machine from recovery to a checkpointed batch, again and again.

    RECOVERING -> POSITIONED -> READY                       recovery: once per start, or per new topic
    READY -> POLLED -> [DEAD_LETTERED] -> WRITING_TEMP -> TEMP_WRITTEN -> RENAMED
          -> WRITING_CHECKPOINT -> CHECKPOINTED -> READY    one batch's commit

RECOVERING          the partition's lock is held (weather/common/lock.py); nothing is known yet.
POSITIONED          stale temp files are gone and the position is known: the next batch and offset,
                    the high-water row id, the topic's id (weather/consume/recovery.py).
READY               dead letters of batches never committed are gone; the writer waits for records.
POLLED              a batch's records are in memory; nothing of it is written.
DEAD_LETTERED       only for a batch with messages that are not Reports: its dead-letter file
                    (weather/common/deadletter.py) has its final name; nothing refers to it yet.
WRITING_TEMP        half of the Parquet bytes are in a new temp file of the batch, not closed.
TEMP_WRITTEN        the temp file is complete and closed; invisible to readers. Its name is this
                    write's own (weather/common/storage.py): a write given up earlier never lands in it.
RENAMED             the file has its final name `partition-N-batch-M.parquet`, but the checkpoint
                    still says batch M-1: readers ignore it, and a restart rewrites it from the same offsets.
WRITING_CHECKPOINT  the new checkpoint is durable in its temp file, not yet renamed.
CHECKPOINTED        the checkpoint says batch M and the next offset: the batch is committed.

The writer alone owns the partition's topic id, position and high-water row id. Each call runs the
machine forward from the state it is in; a step that fails raises and leaves the machine in the
last state it reached, so the caller's retry resumes at the step that failed (a failed checkpoint
write does not write the Parquet file again). A crash at any state leaves the committed view
(batches 0..checkpoint.batch_id) unchanged or advanced by exactly this batch. Entering each state
calls the hook `reached(state, batch_id)`: the fault tests stop the consumer there by name
(CONSUMER_CRASH_AT=<state>[:<batch_id>], weather/common/crash.py).

Every message the producer sends carries its table id (header `row_id`), and within one topic
incarnation a partition's committed row ids only increase. So a record whose row id is at or below
the high-water mark is a duplicate Kafka holds (a resend, a second producer): it is dropped and
counted in the batch's metadata. A record without the header is kept.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import pyarrow as pa

from weather.common import batches, checkpoint, deadletter, lock
from weather.common.batches import BatchInfo, OffsetRange
from weather.common.crash import Hook, no_hook
from weather.common.deadletter import DeadLetter
from weather.common.errors import Unrecoverable
from weather.common.storage import Storage
from weather.consume import fetch, recovery


class State(str, Enum):
    RECOVERING = "recovering"
    POSITIONED = "positioned"
    READY = "ready"
    POLLED = "polled"
    DEAD_LETTERED = "dead_lettered"
    WRITING_TEMP = "writing_temp"
    TEMP_WRITTEN = "temp_written"
    RENAMED = "renamed"
    WRITING_CHECKPOINT = "writing_checkpoint"
    CHECKPOINTED = "checkpointed"


RECOVERY = (State.RECOVERING, State.POSITIONED, State.READY)
COMMIT = (State.POLLED, State.DEAD_LETTERED, State.WRITING_TEMP, State.TEMP_WRITTEN, State.RENAMED,
          State.WRITING_CHECKPOINT, State.CHECKPOINTED)

class RecordsLost(Unrecoverable):
    """Records not yet committed were deleted from the topic (same topic id): exactly once is impossible."""


@dataclass
class Batch:
    """The records of one poll, ready to commit as batch `batch_id`."""
    batch_id: int
    table: pa.Table
    next_offset: int  # the consumer's position after the batch
    dead_letters: list[DeadLetter] = field(default_factory=list)
    duplicates: int = 0
    high_water: int = 0
    temp_name: str | None = None  # its Parquet temp file, once written and closed (TEMP_WRITTEN)


class PartitionWriter:
    def __init__(self, partition: int, storage: Storage, dead_storage: Storage, checkpoint_dir: str,
                 writer_lock: lock.WriterLock, log: logging.Logger, reached: Hook = no_hook) -> None:
        self.partition = partition
        self.storage = storage
        self.dead_storage = dead_storage
        self.checkpoint_dir = checkpoint_dir
        self.lock = writer_lock
        self.log = log
        self.reached = reached
        self.state = State.RECOVERING
        self.topic_id: str | None = None
        self.position = recovery.START
        self.pending: Batch | None = None  # the batch being committed, from POLLED to CHECKPOINTED
        self.rows_committed = 0  # since this process started
        self._recover_missing = False

    @classmethod
    def acquire(cls, partition: int, lock_dir: str, takeover_wait: float, log: logging.Logger,
                **kwargs) -> "PartitionWriter":
        """The writer of `partition`, once it holds the partition's lock (see weather/common/lock.py)."""
        held = lock.acquire(Path(lock_dir) / f"partition-{partition}.lock", f"partition {partition}",
                            takeover_wait, log)
        return cls(partition, log=log, writer_lock=held, **kwargs)

    @property
    def batch_id(self) -> int:
        """The next batch to write."""
        return self.position.batch_id

    @property
    def offset(self) -> int:
        """The next offset to read."""
        return self.position.offset

    # -- recovery ----------------------------------------------------------------------------------
    def start(self, topic_id: str, recover: bool = False) -> None:
        """Recover (clean what a previous writer left half done, learn where the partition stands) up to
        READY. `recover`: rebuild a missing checkpoint from the batch files instead of starting at 0."""
        self._enter(State.RECOVERING)
        self.topic_id = topic_id
        self._recover_missing = recover
        self._run_until(State.READY)

    def follow_topic(self, topic_id: str, why: str = "it was recreated") -> bool:
        """The topic's id as just asked of the broker; True when it changed and the partition started
        afresh at batch 0, offset 0 (the caller seeks there). Called between batches only."""
        if topic_id == self.topic_id:
            return False
        self.log.warning("partition %d: the topic's id changed from %s to %s (%s); starting the partition afresh "
                         "at batch 0, offset 0", self.partition, self.topic_id, topic_id, why)
        checkpoint.remove(self.checkpoint_dir, self.partition)  # readers drop the old batches at once
        self.topic_id = topic_id
        self.position = recovery.START
        self._enter(State.POSITIONED)
        self._run_until(State.READY)
        return True

    def offset_lost(self, topic_id: str, error: Exception) -> None:
        """The position is out of range: a recreated topic starts afresh; the same topic lost records."""
        if not self.follow_topic(topic_id, f"offset {self.offset} is out of range, {type(error).__name__}"):
            raise RecordsLost(
                f"partition {self.partition}: {type(error).__name__} (topic id {topic_id} unchanged): records not "
                f"yet committed were deleted, so this partition cannot be committed exactly once; move "
                f"{checkpoint.checkpoint_path(self.checkpoint_dir, self.partition)} away to start it afresh")

    # -- the loop ----------------------------------------------------------------------------------
    def batch(self, records: list) -> Batch | None:
        """The polled records (see weather/consume/fetch.py) as the next batch: rows, dead letters (logged
        once), dropped duplicates. None if no record was at or after the position."""
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
        """Commit `batch` through its steps, to READY. Called again with the same batch after a failure, it
        resumes at the step that failed."""
        if self.pending is not batch:
            if self.state is not State.READY:
                raise RuntimeError(f"partition {self.partition}: a new batch in state {self.state.value}")
            self.pending = batch
            self._enter(State.POLLED)
        self._run_until(State.READY)

    # -- the machine -------------------------------------------------------------------------------
    def _enter(self, state: State) -> None:
        self.state = state
        self.reached(state, self.pending.batch_id if self.pending else self.batch_id)

    def _run_until(self, target: State) -> None:
        while self.state is not target:
            self._STEPS[self.state](self)

    def _position(self) -> None:
        for name in batches.remove_temp_files(self.storage, self.partition):
            self.log.info("removed stale %s/%s", self.storage.url, name)
        for path in checkpoint.remove_temp(self.checkpoint_dir, self.partition):
            self.log.info("removed stale %s", path)
        self.storage.ensure_folder()
        self.position = recovery.start_position(self.storage, self.checkpoint_dir, self.partition, self.topic_id,
                                                self._recover_missing)
        self._enter(State.POSITIONED)

    def _drop_uncommitted_dead_letters(self) -> None:
        for name in deadletter.remove_uncommitted(self.dead_storage, self.partition, self.batch_id - 1):
            self.log.info("removed uncommitted %s/%s", self.dead_storage.url, name)
        self._enter(State.READY)

    def _write_dead_letters(self) -> None:
        if self.pending.dead_letters:
            deadletter.write(self.dead_storage, self.partition, self.pending.batch_id, self.pending.dead_letters)
            self._enter(State.DEAD_LETTERED)
        else:
            self._write_temp()

    def _write_temp(self) -> None:
        batch = self.pending
        batch.temp_name = batches.write_temp(self.storage, self.partition, batch.batch_id, batch.table,
                                             midway=lambda: self._enter(State.WRITING_TEMP))
        self._enter(State.TEMP_WRITTEN)

    def _rename(self) -> None:
        try:
            batches.publish(self.storage, self.partition, self.pending.batch_id, self.pending.temp_name)
        except FileNotFoundError:
            self.state = State.POLLED  # the temp file is gone: write it again
            raise
        self._enter(State.RENAMED)

    def _save_checkpoint(self) -> None:
        batch = self.pending
        checkpoint.save(self.checkpoint_dir, self.partition, checkpoint.Checkpoint(batch.batch_id, batch.next_offset),
                        before_replace=lambda: self._enter(State.WRITING_CHECKPOINT))
        self._enter(State.CHECKPOINTED)

    def _advance(self) -> None:
        batch, self.pending = self.pending, None
        if batch.duplicates:
            self.log.info("partition %d batch %d: dropped %d duplicate records (row ids already committed)",
                          self.partition, batch.batch_id, batch.duplicates)
        self.position = recovery.Position(batch.batch_id + 1, batch.next_offset, batch.high_water)
        self.rows_committed += batch.table.num_rows
        self.state = State.READY  # the next batch's POLLED is the hook's next stop

    # What each state does to reach the next one. WRITING_TEMP and WRITING_CHECKPOINT are entered in the
    # middle of a write: a failure there writes that file again from the start.
    _STEPS = {
        State.RECOVERING: _position,
        State.POSITIONED: _drop_uncommitted_dead_letters,
        State.POLLED: _write_dead_letters,
        State.DEAD_LETTERED: _write_temp,
        State.WRITING_TEMP: _write_temp,
        State.TEMP_WRITTEN: _rename,
        State.RENAMED: _save_checkpoint,
        State.WRITING_CHECKPOINT: _save_checkpoint,
        State.CHECKPOINTED: _advance,
    }
