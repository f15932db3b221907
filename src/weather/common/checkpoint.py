"""The consumer's checkpoint: `<CHECKPOINT_DIR>/partition-N.json` = {"batch_id": M, "offset": O}, exactly.

It is the commit record of a partition: batches 0..M are committed, and O is the next Kafka offset
to read. It is replaced atomically (temp file, fsync, rename, fsync of the folder), so after any
crash it holds either the previous checkpoint or the new one.

CHECKPOINT_DIR is a local folder (the specification's, as a path or a `file:///path` URL), or an
`hdfs://host:port/path` URL so that a consumer can move to another machine. Either is a Storage
folder (weather/common/storage.py), so the steps are the same: a temp file of this save's own
(`partition-N.json.<random>.tmp`) made durable (fsynced locally, closed on the DataNodes on HDFS),
then renamed over the checkpoint in one step. What else a restart needs (the topic's incarnation,
the high-water row id) is in batch M's own metadata (weather/consume/recovery.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from functools import lru_cache
from typing import Callable, Optional
from urllib.parse import urlparse

from weather.common.storage import LocalStorage, Storage, is_temp_of, open_storage


@dataclass(frozen=True)
class Checkpoint:
    batch_id: int  # last committed batch
    offset: int  # next offset to read


class CorruptCheckpoint(ValueError):
    """A checkpoint file exists but does not hold {"batch_id": int, "offset": int}."""


@lru_cache(maxsize=None)
def _folder(checkpoint_dir: str) -> Storage:
    """The checkpoint folder, through the same interface on HDFS and on local disk."""
    if urlparse(checkpoint_dir).scheme:
        return open_storage(checkpoint_dir, "CHECKPOINT_DIR")
    return LocalStorage.at(checkpoint_dir)


def _name(partition: int) -> str:
    return f"partition-{partition}.json"


def _location(checkpoint_dir: str, name: str) -> Path | str:
    """Where a file of the folder is: a local Path, or a URL when CHECKPOINT_DIR is on HDFS."""
    folder = _folder(checkpoint_dir)
    return folder.folder / name if isinstance(folder, LocalStorage) else f"{folder.url.rstrip('/')}/{name}"


def checkpoint_path(checkpoint_dir: str, partition: int) -> Path | str:
    """Where the checkpoint is: a local Path, or a URL when CHECKPOINT_DIR is on HDFS."""
    return _location(checkpoint_dir, _name(partition))


def load(checkpoint_dir: str, partition: int) -> Checkpoint | None:
    """The partition's checkpoint, None when there is none; CorruptCheckpoint when unreadable."""
    path = checkpoint_path(checkpoint_dir, partition)
    try:
        raw = _folder(checkpoint_dir).read(_name(partition))
    except FileNotFoundError:
        return None
    shown = raw[:80].decode(errors="replace")  # what the error quotes, even from bytes that are not text
    try:
        data = json.loads(raw.decode())  # UnicodeDecodeError is a ValueError: corrupt too
        checkpoint = Checkpoint(batch_id=data["batch_id"], offset=data["offset"])
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise CorruptCheckpoint(f"{path} is corrupt ({type(error).__name__}: {error}): {shown!r}") from None
    if not all(type(value) is int and value >= 0 for value in (checkpoint.batch_id, checkpoint.offset)):
        raise CorruptCheckpoint(f"{path} is corrupt (batch_id and offset must be whole numbers >= 0): {shown!r}")
    return checkpoint


def save(checkpoint_dir: str, partition: int, checkpoint: Checkpoint,
         before_replace: Optional[Callable[[], None]] = None) -> None:
    """Replace the checkpoint atomically; before_replace runs once the temp file is durable (fault tests)."""
    folder = _folder(checkpoint_dir)
    folder.ensure_folder()
    data = {"batch_id": checkpoint.batch_id, "offset": checkpoint.offset}
    temp = folder.write_temp(_name(partition), json.dumps(data).encode())  # fsynced, or closed on the DataNodes
    if before_replace:
        before_replace()
    folder.rename(temp, _name(partition))


def committed_at(checkpoint_dir: str, partition: int) -> float | None:
    """When the checkpoint was last replaced (seconds since the epoch); None without one."""
    try:
        return _folder(checkpoint_dir).modified(_name(partition))
    except FileNotFoundError:
        return None


def remove(checkpoint_dir: str, partition: int) -> None:
    """Forget the partition's checkpoint: readers then see none of its batches, at once."""
    _folder(checkpoint_dir).delete(_name(partition))


def temp_files(checkpoint_dir: str, partition: int) -> list[Path | str]:
    """The partition's temp files (of a save that crashed or was given up, in any naming), where they are."""
    return [_location(checkpoint_dir, name) for name in _temp_names(checkpoint_dir, partition)]


def _temp_names(checkpoint_dir: str, partition: int) -> list[str]:
    return [name for name in _folder(checkpoint_dir).names() if is_temp_of(name, _name(partition))]


def remove_temp(checkpoint_dir: str, partition: int) -> list[Path | str]:
    """Delete the partition's temp files left by saves that crashed or were given up; where they were."""
    folder = _folder(checkpoint_dir)
    stale = _temp_names(checkpoint_dir, partition)
    for name in stale:
        folder.delete(name)
    return [_location(checkpoint_dir, name) for name in stale]
