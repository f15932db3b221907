"""The consumer's checkpoint: `<CHECKPOINT_DIR>/partition-N.json` = {"batch_id": M, "offset": O}, exactly.

It is the commit record of a partition: batches 0..M are committed, and O is the next Kafka offset
to read. It is replaced atomically (temp file, fsync, rename, fsync of the folder), so after any
crash it holds either the previous checkpoint or the new one.

CHECKPOINT_DIR is a local folder (the specification's), or an `hdfs://host:port/path` URL so that
a consumer can move to another machine: there the same steps go through the Storage folder
(weather/storage.py): temp file written and closed, then one rename with overwrite. What else a restart needs (the
topic's incarnation, the high-water row id) is in batch M's own metadata (weather/recovery.py).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from functools import lru_cache
from typing import Callable, Optional
from urllib.parse import urlparse

from .storage import HdfsStorage, Storage


@dataclass(frozen=True)
class Checkpoint:
    batch_id: int  # last committed batch
    offset: int  # next offset to read


class CorruptCheckpoint(ValueError):
    """A checkpoint file exists but does not hold {"batch_id": int, "offset": int}."""


def is_remote(checkpoint_dir: str) -> bool:
    return urlparse(str(checkpoint_dir)).scheme == "hdfs"


@lru_cache(maxsize=None)
def _remote(checkpoint_dir: str) -> Storage:
    return HdfsStorage(checkpoint_dir.rstrip("/"))


def _name(partition: int) -> str:
    return f"partition-{partition}.json"


def checkpoint_path(checkpoint_dir: str, partition: int) -> Path | str:
    """Where the checkpoint is: a local Path, or a URL when CHECKPOINT_DIR is on HDFS."""
    if is_remote(checkpoint_dir):
        return f"{checkpoint_dir.rstrip('/')}/{_name(partition)}"
    return Path(checkpoint_dir) / _name(partition)


def temp_path(checkpoint_dir: str, partition: int) -> Path | str:
    path = checkpoint_path(checkpoint_dir, partition)
    return f"{path}.tmp" if isinstance(path, str) else path.with_name(path.name + ".tmp")


def load(checkpoint_dir: str, partition: int) -> Checkpoint | None:
    """The partition's checkpoint, None when there is none; CorruptCheckpoint when unreadable."""
    path = checkpoint_path(checkpoint_dir, partition)
    try:
        text = _remote(checkpoint_dir).read(_name(partition)).decode() if is_remote(checkpoint_dir) else path.read_text()
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
    data = {"batch_id": checkpoint.batch_id, "offset": checkpoint.offset}
    if is_remote(checkpoint_dir):
        folder = _remote(checkpoint_dir)
        folder.ensure_folder()
        folder.write(_name(partition) + ".tmp", json.dumps(data).encode())  # closed: durable on the DataNodes
        if before_replace:
            before_replace()
        folder.rename(_name(partition) + ".tmp", _name(partition))
        return
    path = checkpoint_path(checkpoint_dir, partition)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path(checkpoint_dir, partition)
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


def committed_at(checkpoint_dir: str, partition: int) -> float | None:
    """When the checkpoint was last replaced (seconds since the epoch); None without one."""
    try:
        if is_remote(checkpoint_dir):
            return _remote(checkpoint_dir).modified(_name(partition))
        return os.stat(checkpoint_path(checkpoint_dir, partition)).st_mtime
    except FileNotFoundError:
        return None


def remove(checkpoint_dir: str, partition: int) -> None:
    """Forget the partition's checkpoint: readers then see none of its batches, at once."""
    if is_remote(checkpoint_dir):
        _remote(checkpoint_dir).delete(_name(partition))
        return
    checkpoint_path(checkpoint_dir, partition).unlink(missing_ok=True)


def remove_temp(checkpoint_dir: str, partition: int) -> bool:
    """Delete a temp file left by a crash inside save (or a copy of it); True if there was one."""
    if is_remote(checkpoint_dir):
        folder = _remote(checkpoint_dir)
        stale = [name for name in folder.names() if name.startswith(_name(partition) + ".tmp")]
        for name in stale:
            folder.delete(name)
        return bool(stale)
    temp = temp_path(checkpoint_dir, partition)
    existed = temp.exists()
    temp.unlink(missing_ok=True)
    return existed
