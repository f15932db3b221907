"""The consumer's commit protocol for one batch, as named steps.

    polled -> [dead_lettered] -> writing_temp -> temp_written -> renamed -> writing_checkpoint -> checkpointed

polled              the batch's records are in memory; nothing is written.
dead_lettered       only for a batch with messages that are not Reports: its dead-letter file
                    (weather/deadletter.py) has its final name; nothing refers to it yet.
writing_temp        half of the Parquet bytes are in `partition-N-batch-M.parquet.tmp`, not closed.
temp_written        the temp file is complete and closed; invisible to readers.
renamed             the file has its final name, but the checkpoint still says batch M-1: readers
                    ignore it, and a restarted consumer rewrites it from the same offsets.
writing_checkpoint  the new checkpoint is durable in `partition-N.json.tmp`, not yet renamed.
checkpointed        the checkpoint says batch M and the next offset: the batch is committed.

Only the process holding the partition's lock (weather/lock.py) runs these steps.

A crash at any step leaves the committed view (batches 0..checkpoint.batch_id) unchanged or
advanced by exactly this batch. The fault tests stop the consumer at each step by name through
`crash_hook` (environment variable CONSUMER_CRASH_AT=<step>[:<batch_id>]).
"""
from __future__ import annotations

import os
import signal
from enum import Enum
from typing import Callable, Sequence

import pyarrow as pa

from weather.common import batches, checkpoint, deadletter
from weather.common.config import ConfigError
from weather.common.deadletter import DeadLetter
from weather.common.storage import Storage


class Step(str, Enum):
    POLLED = "polled"
    DEAD_LETTERED = "dead_lettered"
    WRITING_TEMP = "writing_temp"
    TEMP_WRITTEN = "temp_written"
    RENAMED = "renamed"
    WRITING_CHECKPOINT = "writing_checkpoint"
    CHECKPOINTED = "checkpointed"


StepHook = Callable[[Step, int], None]


def no_hook(step: Step, batch_id: int) -> None:
    """The hook of a consumer that is not under a fault test."""


def crash_hook(spec: str | None) -> StepHook:
    """A hook that SIGKILLs this process on reaching spec = `<step>[:<batch_id>]` (any batch if omitted)."""
    if not spec:
        return no_hook
    step_name, _, batch_text = spec.partition(":")
    try:
        target = Step(step_name)
        target_batch = int(batch_text) if batch_text else None
    except ValueError:
        steps = ", ".join(step.value for step in Step)
        raise ConfigError(f"CONSUMER_CRASH_AT={spec!r}: use <step>[:<batch_id>] with a step among {steps}") from None

    def crash_at_target(step: Step, batch_id: int) -> None:
        if step is target and target_batch in (None, batch_id):
            os.kill(os.getpid(), signal.SIGKILL)

    return crash_at_target


def commit_batch(storage: Storage, checkpoint_dir: str, partition: int, batch_id: int, table: pa.Table,
                 next_offset: int, reached: StepHook = no_hook, *, dead_letters: Sequence[DeadLetter] = (),
                 dead_letter_storage: Storage | None = None) -> None:
    """Make `table` batch `batch_id` of the partition, then record the checkpoint; safe to repeat."""
    reached(Step.POLLED, batch_id)
    if dead_letters:
        deadletter.write(dead_letter_storage, partition, batch_id, list(dead_letters))
        reached(Step.DEAD_LETTERED, batch_id)
    batches.write_temp(storage, partition, batch_id, table, midway=lambda: reached(Step.WRITING_TEMP, batch_id))
    reached(Step.TEMP_WRITTEN, batch_id)
    batches.publish(storage, partition, batch_id)
    reached(Step.RENAMED, batch_id)
    checkpoint.save(checkpoint_dir, partition, checkpoint.Checkpoint(batch_id, next_offset),
                    before_replace=lambda: reached(Step.WRITING_CHECKPOINT, batch_id))
    reached(Step.CHECKPOINTED, batch_id)
