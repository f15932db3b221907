"""Where a partition's consumer stands when it starts: its checkpoint and its last committed batch.

The checkpoint {batch_id: M, offset: O} says batches 0..M are committed and O is the next offset.
Batch M's own metadata says the rest: the topic incarnation (id) its offsets belong to and the
partition's high-water row id. So:
- No checkpoint: the specification's start, batch 0 at offset 0 (a reader then sees none of the
  partition's batches, and each rewritten batch replaces the old file before the checkpoint names
  it, so the committed view never holds a row twice). With `recover`, the checkpoint is rebuilt
  from the batch files instead, and nothing is read again.
- A corrupt checkpoint, or one whose batch M is missing or disagrees with it: rebuilt from the
  batch files, never a crash loop.
- Batch M of an older incarnation of the topic (it was deleted and created again): the checkpoint
  is forgotten and the partition starts afresh.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from weather.common import batches, checkpoint
from weather.common.checkpoint import Checkpoint
from weather.common.storage import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Position:
    batch_id: int  # the next batch to write
    offset: int  # the next offset to read
    high_water: int  # the highest row id committed in the partition (0: none)


START = Position(batch_id=0, offset=0, high_water=0)


def start_position(storage: Storage, checkpoint_dir: str, partition: int, topic_id: str,
                   recover: bool = False) -> Position:
    """Where to continue; a rebuilt checkpoint is saved, a stale one removed. Storage errors propagate."""
    try:
        saved = checkpoint.load(checkpoint_dir, partition)
    except checkpoint.CorruptCheckpoint as error:
        return _rebuild(storage, checkpoint_dir, partition, topic_id, str(error))
    if saved is None:
        if recover:
            return _rebuild(storage, checkpoint_dir, partition, topic_id, "no checkpoint (--recover)", logging.INFO)
        return START
    name = f"{storage.url}/{batches.batch_name(partition, saved.batch_id)}"
    try:
        info = batches.read_info(storage, partition, saved.batch_id)
    except FileNotFoundError:
        return _rebuild(storage, checkpoint_dir, partition, topic_id, f"the checkpoint's last batch {name} is missing")
    except ValueError as error:
        return _rebuild(storage, checkpoint_dir, partition, topic_id, f"the checkpoint's last batch is unusable: {error}")
    if info.topic_id != topic_id:
        log.warning("partition %d: the checkpoint's last batch is of topic id %s, the topic's id is now %s (it was "
                    "recreated); starting the partition afresh at batch 0, offset 0", partition, info.topic_id,
                    topic_id)
        checkpoint.remove(checkpoint_dir, partition)
        return START
    if info.offsets.last + 1 != saved.offset:
        return _rebuild(storage, checkpoint_dir, partition, topic_id,
                        f"the checkpoint's offset {saved.offset} does not follow its last batch (offsets "
                        f"{info.offsets.first}..{info.offsets.last})")
    return Position(saved.batch_id + 1, saved.offset, info.high_water)


def rebuild_from_batches(storage: Storage, partition: int, topic_id: str) -> Position | None:
    """The position after the last batch the files on storage can vouch for; None without any.

    Walks batches 0, 1, 2, ... while each exists, carries its offsets, starts exactly where the
    previous one ended and belongs to the topic's current incarnation: a batch left by an older one
    ends the walk. Every batch file is complete (renamed only after it was closed), so one written
    but not yet checkpointed is as good as a committed one.
    """
    position = None
    for batch_id in batches.batch_ids(storage, partition):
        if batch_id != (position or START).batch_id:
            break
        try:
            info = batches.read_info(storage, partition, batch_id)
        except (ValueError, OSError):
            break
        if info.offsets.first != (position or START).offset or info.topic_id != topic_id:
            break
        position = Position(batch_id + 1, info.offsets.last + 1, info.high_water)
    return position


def _rebuild(storage: Storage, checkpoint_dir: str, partition: int, topic_id: str, why: str,
             level: int = logging.WARNING) -> Position:
    position = rebuild_from_batches(storage, partition, topic_id)
    if position is None:
        checkpoint.remove(checkpoint_dir, partition)
        log.log(level, "partition %d: %s; no usable batch of this topic on storage, so batch 0 at offset 0",
                partition, why)
        return START
    checkpoint.save(checkpoint_dir, partition, Checkpoint(position.batch_id - 1, position.offset))
    log.log(level, "partition %d: %s; rebuilt the checkpoint from the batch files' metadata: batch %d, offset %d",
            partition, why, position.batch_id - 1, position.offset)
    return position
