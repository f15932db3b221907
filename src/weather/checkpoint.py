"""The consumer's checkpoint: `<CHECKPOINT_DIR>/partition-N.json` = {"batch_id": M, "offset": O}.

It is the commit record of a partition: batches 0..M are committed, and O is the next Kafka offset
to read. It is replaced atomically (temp file, fsync, rename, fsync of the folder), so after any
crash it holds either the previous checkpoint or the new one.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import batches
from .storage import Storage


@dataclass(frozen=True)
class Checkpoint:
    batch_id: int  # last committed batch
    offset: int  # next offset to read


class CorruptCheckpoint(ValueError):
    """A checkpoint file exists but does not hold {"batch_id": int, "offset": int}."""


def checkpoint_path(checkpoint_dir: str, partition: int) -> Path:
    return Path(checkpoint_dir) / f"partition-{partition}.json"


def load(checkpoint_dir: str, partition: int) -> Checkpoint | None:
    """The partition's checkpoint, None when there is none; CorruptCheckpoint when unreadable."""
    path = checkpoint_path(checkpoint_dir, partition)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        checkpoint = Checkpoint(batch_id=data["batch_id"], offset=data["offset"])
    except (ValueError, TypeError, KeyError) as error:
        raise CorruptCheckpoint(f"{path} is corrupt ({type(error).__name__}: {error}): {text[:80]!r}") from None
    if not all(type(value) is int and value >= 0 for value in (checkpoint.batch_id, checkpoint.offset)):
        raise CorruptCheckpoint(f"{path} is corrupt (batch_id and offset must be whole numbers >= 0): {text[:80]!r}")
    return checkpoint


def save(checkpoint_dir: str, partition: int, checkpoint: Checkpoint) -> None:
    path = checkpoint_path(checkpoint_dir, partition)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    with open(temp, "w") as file:
        json.dump({"batch_id": checkpoint.batch_id, "offset": checkpoint.offset}, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # makes the rename itself survive a power loss
    finally:
        os.close(folder)


def rebuild_from_batches(storage: Storage, partition: int) -> Checkpoint | None:
    """The checkpoint implied by the batch files on storage, for when the JSON file is corrupt.

    Walks batches 0, 1, 2, ... while each exists and carries its offsets; the last one whose first
    offset follows the previous one's last is the committed end. None when batch 0 is unusable.
    """
    rebuilt = None
    for batch_id in batches.batch_ids(storage, partition):
        expected_first = 0 if rebuilt is None else rebuilt.offset
        if batch_id != (0 if rebuilt is None else rebuilt.batch_id + 1):
            break
        try:
            offsets = batches.read_offsets(storage, partition, batch_id)
        except (ValueError, OSError):
            break
        if offsets.first < expected_first:
            break
        rebuilt = Checkpoint(batch_id=batch_id, offset=offsets.last + 1)
    return rebuilt
