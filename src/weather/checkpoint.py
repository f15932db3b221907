"""The consumer's checkpoint: `<CHECKPOINT_DIR>/partition-N.json` = {"batch_id": M, "offset": O}, exactly.

It is the commit record of a partition: batches 0..M are committed, and O is the next Kafka offset
to read. It is replaced atomically (temp file, fsync, rename, fsync of the folder), so after any
crash it holds either the previous checkpoint or the new one. What else a restart needs (the
topic's incarnation, the high-water row id) is in batch M's own metadata (weather/recovery.py).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional


@dataclass(frozen=True)
class Checkpoint:
    batch_id: int  # last committed batch
    offset: int  # next offset to read


class CorruptCheckpoint(ValueError):
    """A checkpoint file exists but does not hold {"batch_id": int, "offset": int}."""


def checkpoint_path(checkpoint_dir: str, partition: int) -> Path:
    return Path(checkpoint_dir) / f"partition-{partition}.json"


def temp_path(checkpoint_dir: str, partition: int) -> Path:
    path = checkpoint_path(checkpoint_dir, partition)
    return path.with_name(path.name + ".tmp")


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
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise CorruptCheckpoint(f"{path} is corrupt ({type(error).__name__}: {error}): {text[:80]!r}") from None
    if not all(type(value) is int and value >= 0 for value in (checkpoint.batch_id, checkpoint.offset)):
        raise CorruptCheckpoint(f"{path} is corrupt (batch_id and offset must be whole numbers >= 0): {text[:80]!r}")
    return checkpoint


def save(checkpoint_dir: str, partition: int, checkpoint: Checkpoint,
         before_replace: Optional[Callable[[], None]] = None) -> None:
    """Replace the checkpoint atomically; before_replace runs once the temp file is durable (fault tests)."""
    path = checkpoint_path(checkpoint_dir, partition)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path(checkpoint_dir, partition)
    data = {"batch_id": checkpoint.batch_id, "offset": checkpoint.offset}
    with open(temp, "w") as file:
        json.dump(data, file)
        file.flush()
        os.fsync(file.fileno())
    if before_replace:
        before_replace()
    os.replace(temp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # makes the rename itself survive a power loss
    finally:
        os.close(folder)


def remove(checkpoint_dir: str, partition: int) -> None:
    """Forget the partition's checkpoint: readers then see none of its batches, at once."""
    checkpoint_path(checkpoint_dir, partition).unlink(missing_ok=True)


def remove_temp(checkpoint_dir: str, partition: int) -> bool:
    """Delete a temp file left by a crash inside save; True if there was one."""
    temp = temp_path(checkpoint_dir, partition)
    existed = temp.exists()
    temp.unlink(missing_ok=True)
    return existed
