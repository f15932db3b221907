"""Where a partition's consumer starts: its checkpoint, one rebuilt from the batch files, or afresh.

- No checkpoint: the specification's start, batch 0 at offset 0 (a reader then sees none of the
  partition's batches, and each rewritten batch replaces the old file before the checkpoint names
  it, so the committed view never holds a row twice). With `recover`, the checkpoint is rebuilt
  from the batch files' offsets instead, and nothing is read again.
- A corrupt checkpoint (truncated, not JSON): rebuilt from the batch files, never a crash loop.
- A checkpoint of an older incarnation of the topic (weather/incarnation.py): forgotten; the
  partition starts afresh.
"""
from __future__ import annotations

import logging

from . import checkpoint, incarnation
from .checkpoint import Checkpoint
from .storage import Storage

log = logging.getLogger(__name__)


def start_position(storage: Storage, checkpoint_dir: str, partition: int, topic_id: str, log_end: int,
                   recover: bool = False) -> Checkpoint | None:
    """The checkpoint to continue from, saved again when rebuilt; None to start at batch 0, offset 0."""
    try:
        saved = checkpoint.load(checkpoint_dir, partition)
    except checkpoint.CorruptCheckpoint as error:
        saved = _rebuild(storage, checkpoint_dir, partition, topic_id)
        log.warning("partition %d: %s; rebuilt it from the batch files' offset metadata: %s", partition, error,
                    _described(saved))
        return saved
    if saved is None and recover:
        saved = _rebuild(storage, checkpoint_dir, partition, topic_id)
        log.info("partition %d: no checkpoint; --recover rebuilt it from the batch files' offset metadata: %s",
                 partition, _described(saved))
        return saved
    reason = saved and incarnation.stale_reason(saved, topic_id, log_end)
    if reason:
        log.warning("partition %d: %s; starting the partition afresh at batch 0, offset 0", partition, reason)
        checkpoint.remove(checkpoint_dir, partition)
        return None
    return saved


def _rebuild(storage: Storage, checkpoint_dir: str, partition: int, topic_id: str) -> Checkpoint | None:
    rebuilt = checkpoint.rebuild_from_batches(storage, partition, topic_id)
    if rebuilt:
        checkpoint.save(checkpoint_dir, partition, rebuilt)
    else:
        checkpoint.remove(checkpoint_dir, partition)
    return rebuilt


def _described(rebuilt: Checkpoint | None) -> str:
    if rebuilt is None:
        return "no usable batch of this topic, so batch 0 at offset 0"
    return f"batch {rebuilt.batch_id}, offset {rebuilt.offset}"
