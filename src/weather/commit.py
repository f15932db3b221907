"""The consumer's commit protocol for one batch, as named steps.

    polled -> temp_written -> renamed -> checkpointed

polled        the batch's records are in memory; nothing is written.
temp_written  `partition-N-batch-M.parquet.tmp` is complete and closed; invisible to readers.
renamed       the file has its final name, but the checkpoint still says batch M-1: readers
              ignore it, and a restarted consumer rewrites it from the same offsets.
checkpointed  the checkpoint says batch M and the next offset: the batch is committed.

A crash at any step leaves the committed view (batches 0..checkpoint.batch_id) unchanged or
advanced by exactly this batch. The fault tests stop the consumer at each step by name through
`crash_hook` (environment variable CONSUMER_CRASH_AT=<step>[:<batch_id>]).
"""
from __future__ import annotations

import os
import signal
from enum import Enum
from typing import Callable

import pyarrow as pa

from . import batches, checkpoint
from .config import ConfigError
from .storage import Storage


class Step(str, Enum):
    POLLED = "polled"
    TEMP_WRITTEN = "temp_written"
    RENAMED = "renamed"
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
                 next_offset: int, reached: StepHook = no_hook) -> None:
    """Make `table` batch `batch_id` of the partition, then record the checkpoint; safe to repeat."""
    reached(Step.POLLED, batch_id)
    batches.write_temp(storage, partition, batch_id, table)
    reached(Step.TEMP_WRITTEN, batch_id)
    batches.publish(storage, partition, batch_id)
    reached(Step.RENAMED, batch_id)
    checkpoint.save(checkpoint_dir, partition, checkpoint.Checkpoint(batch_id=batch_id, offset=next_offset))
    reached(Step.CHECKPOINTED, batch_id)
