"""One folder of files, on HDFS (`hdfs://host:port/path`) or on local disk (`file:///path`).

Both kinds offer the same small interface, with names relative to the folder. `write_temp` writes a
new temp file under a name no other write uses (`<name>.<random>.tmp`) and returns that name once the
file is durable (closed on the DataNodes, or fsynced). `rename` replaces the target in one step (a
single NameNode RPC on HDFS; rename(2) and an fsync of the folder locally, so the rename too survives
a power loss): readers see the old file or the new one, never a mix. So a caller renames only the
file its own write closed: a write given up in the background may still land, but only in a temp
file of its own, which nothing renames.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable, Optional, Protocol
from urllib.parse import urlparse

import hdfs_native

from weather.common import waiting
from weather.common.config import ConfigError

# Without these the client retries an unreachable NameNode for about three minutes before raising;
# the programs' own retry loop should see the error within seconds and say so in its log.
HDFS_CLIENT_CONFIG = {
    "dfs.client.failover.max.attempts": "3",
    "dfs.client.failover.sleep.base.millis": "200",
    "dfs.client.failover.sleep.max.millis": "2000",
    "dfs.client.socket-timeout": "20000",
}


# What the storage raises for an unreachable or failing HDFS (hdfs-native uses both) or disk.
ERRORS = (OSError, RuntimeError)

TEMP_SUFFIX = ".tmp"
# hdfs-native's close() asks the NameNode to complete the file; when the answer is "not yet" (no
# DataNode has reported the last block yet) it sleeps a fixed 500 ms before asking again. A close
# normally takes 5-20 ms with three DataNodes, so one still open after HEDGE_AFTER is such a stall:
# the same bytes are then written again as another temp file of their own, and whichever copy
# completes first is the write's result (the others are deleted once they end). At most HEDGES
# extra copies per write.
HEDGE_AFTER = 0.06
HEDGES = 2
# A write whose copies all hang (a pipeline recovery with a dead DataNode waits out ~30 s socket
# timeouts) is given up after WRITE_GIVE_UP seconds and written again, on a new pipeline and into
# new temp files, while the hung threads run out their timeouts in the background: a copy not
# started yet is cancelled, a running one calls no hook and its file is deleted once it ends.
WRITE_GIVE_UP = 5.0
# hdfs-native never excludes a failed DataNode when it asks for a block's pipeline, and the NameNode
# keeps offering a dead DataNode until it declares it dead (~90 s with the reference settings), so
# with replication 3 on three DataNodes every new file fails meanwhile. A file whose pipeline
# failed is written again with FALLBACK_REPLICATION replicas (the NameNode leaves out a stale
# DataNode, after dfs.namenode.stale.datanode.interval, when it has enough others), then set back
# to the folder's replication: the NameNode adds the missing replica once a DataNode is back.
FALLBACK_REPLICATION = 2
FALLBACK_FOR = 20.0  # seconds of retrying the fallback before the caller's own retry takes over
FALLBACK_RETRY_EVERY = 0.2
log = logging.getLogger("storage")


# Called once part of a file's bytes are written and before it is closed: the fault tests' hook
# for a crash in the middle of a write.
Midway = Optional[Callable[[], None]]


def _halves(data: bytes) -> tuple[bytes, bytes]:
    return data[:len(data) // 2], data[len(data) // 2:]


def temp_name(name: str) -> str:
    """A name for one write of `name`'s next contents, used by no other write: `<name>.<random>.tmp`."""
    return f"{name}.{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}"


def is_temp_of(candidate: str, name: str) -> bool:
    """candidate is a temp file of `name`: `<name>.<random>.tmp`, or `<name>.tmp` and its copies
    `<name>.tmp.<random>.tmp` as earlier versions named them."""
    return candidate.startswith(name + ".") and candidate.endswith(TEMP_SUFFIX)


class Storage(Protocol):
    url: str

    def ensure_folder(self) -> None: ...
    def write_temp(self, name: str, data: bytes, midway: Midway = None) -> str: ...
    def write(self, name: str, data: bytes, midway: Midway = None) -> None: ...
    def rename(self, source: str, target: str) -> None: ...
    def names(self) -> list[str]: ...
    def read(self, name: str) -> bytes: ...
    def delete(self, name: str) -> None: ...
    def exists(self, name: str) -> bool: ...
    def modified(self, name: str) -> float: ...


class _Folder:
    def write(self, name: str, data: bytes, midway: Midway = None) -> None:
        """`name` holds data, durable, replaced in one step (a temp file renamed over it)."""
        self.rename(self.write_temp(name, data, midway), name)


class HdfsStorage(_Folder):
    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        self.url = url
        self.folder = parsed.path or "/"
        self.client = hdfs_native.Client(f"hdfs://{parsed.netloc}", config=HDFS_CLIENT_CONFIG)

    def _path(self, name: str) -> str:
        return f"{self.folder.rstrip('/')}/{name}"

    def ensure_folder(self) -> None:
        self.client.mkdirs(self.folder, create_parent=True)

    _pool: ThreadPoolExecutor | None = None

    def _background(self) -> ThreadPoolExecutor:
        if self._pool is None:
            # room for hung writes (see WRITE_GIVE_UP) besides the live ones
            self._pool = ThreadPoolExecutor(max_workers=8 * (HEDGES + 1), thread_name_prefix="hdfs-close")
        return self._pool

    def write_temp(self, name: str, data: bytes, midway: Midway = None) -> str:
        """A new temp file of `name` holding data, complete and closed (durable on the DataNodes): its name."""
        path = self._path(name)
        try:
            written = self._write_hedged(path, data, midway)
        except FileNotFoundError:
            raise
        except ERRORS as error:
            # Most likely a DataNode in the pipeline is down: the same file with fewer replicas.
            log.warning("writing %s failed (%s); writing it again with replication %d", path,
                        str(error).splitlines()[0][:200], FALLBACK_REPLICATION)
            written = self._write_fallback(path, data)
            self.client.set_replication(written, self._replication_or_default)
            log.info("wrote %s with replication %d, then set it back to %d", written, FALLBACK_REPLICATION,
                     self._replication_or_default)
            return written.rsplit("/", 1)[-1]
        if self._replication is None:
            self._replication = self.client.get_file_info(written).replication
        return written.rsplit("/", 1)[-1]

    def _write_fallback(self, path: str, data: bytes) -> str:
        """A temp file of path with FALLBACK_REPLICATION replicas, tried again every FALLBACK_RETRY_EVERY
        seconds for up to FALLBACK_FOR while the NameNode answers: until it sees the DataNode stale it
        may still choose it, and a consumer's own retry would back off for many seconds meanwhile."""
        failures: list[BaseException] = []

        def written() -> str | None:
            try:
                return self._write_hedged(path, data, None, FALLBACK_REPLICATION)
            except FileNotFoundError:
                raise
            except ERRORS as error:
                failures.append(error)
                self.client.get_file_info(self.folder)  # raises at once if the NameNode is what failed
                return None

        try:
            return waiting.wait_until(written, FALLBACK_FOR, f"writing {path}", every=FALLBACK_RETRY_EVERY)
        except waiting.TimedOut:
            raise failures[-1] from None  # the write's own error, for the caller's retry

    _replication: int | None = None  # the replication of a file written normally (dfs.replication); 3 until seen

    @property
    def _replication_or_default(self) -> int:
        return self._replication or 3

    def _create(self, path: str, replication: int | None) -> "hdfs_native.FileWriter":
        # never over an existing file: each temp name is one write's own
        return self.client.create(path, hdfs_native.WriteOptions(overwrite=False, replication=replication))

    def _write_hedged(self, path: str, data: bytes, midway: Midway, replication: int | None = None) -> str:
        """A temp file of path holding data, closed: the first of its copies to close. Every copy has a
        temp file of its own, so none of them can land in another's, nor in another write's."""
        # The whole write runs in the background, so a hung pipeline (in write() as well as in close())
        # is given up after WRITE_GIVE_UP; copies are started only once the bytes are written and the
        # close has taken HEDGE_AFTER (a big batch's write takes longer than that and is not a stall).
        closing = threading.Event()
        abandoned = threading.Event()  # set once the write stops waiting: copies still running are on their own
        first = temp_name(path)
        pending: dict[Future, str] = {
            self._background().submit(self._write_one, first, data, replication, abandoned, midway, closing): first}
        started = time.monotonic()
        errors: list[BaseException] = []
        hedges = 0
        try:
            while pending:
                left = started + WRITE_GIVE_UP - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{path}: not written and closed within {WRITE_GIVE_UP:g} s")
                done, _ = wait(pending, timeout=min(left, HEDGE_AFTER) if hedges < HEDGES else left,
                               return_when=FIRST_COMPLETED)
                for future in done:
                    written = pending.pop(future)
                    error = future.exception()
                    if error is None:
                        if written != first:
                            log.debug("%s: close stalled, a copy closed after %.0f ms instead", path,
                                      1000 * (time.monotonic() - started))
                        return written
                    errors.append(error)
                    self._delete_quietly(written)
                if errors and first not in pending.values():
                    break  # the first copy failed: its copies cannot save it from the caller's retry
                stalled = closing.is_set() and time.monotonic() - closing.at >= HEDGE_AFTER
                if not done and stalled and hedges < HEDGES:
                    hedges += 1
                    copy = temp_name(path)
                    pending[self._background().submit(self._write_one, copy, data, replication, abandoned)] = copy
            raise errors[0]
        finally:
            abandoned.set()
            for future, copy in pending.items():
                self._abandon(future, copy)

    def _abandon(self, future: Future, path: str) -> None:
        """A copy the write no longer waits for: cancelled if it has not started, else deleted once it ends."""
        if not future.cancel():
            future.add_done_callback(lambda _: self._delete_quietly(path))

    def _write_one(self, path: str, data: bytes, replication: int | None, abandoned: threading.Event,
                   midway: Midway = None, closing: threading.Event | None = None) -> None:
        writer = self._create(path, replication)
        try:
            first, rest = _halves(data)
            writer.write(first)
            if midway and not abandoned.is_set():  # the hook belongs to the caller's write, which has moved on
                midway()
            writer.write(rest)
        except BaseException:
            _close_quietly(writer)
            raise
        if closing is not None:
            closing.at = time.monotonic()
            closing.set()
        writer.close()  # the data is durable on the DataNodes only once close() returns

    def _delete_quietly(self, path: str) -> None:
        try:
            self.client.delete(path)
        except ERRORS:
            pass  # a stale temp file: removed by the next start (e.g. batches.remove_temp_files)

    def rename(self, source: str, target: str) -> None:
        self.client.rename(self._path(source), self._path(target), overwrite=True)

    def names(self) -> list[str]:
        try:
            return [status.path.rsplit("/", 1)[-1] for status in self.client.list_status(self.folder)]
        except FileNotFoundError:
            return []

    def read(self, name: str) -> bytes:
        with self.client.read(self._path(name)) as reader:
            return reader.read()

    def delete(self, name: str) -> None:
        self.client.delete(self._path(name))

    def modified(self, name: str) -> float:
        """The file's modification time, seconds since the epoch (FileNotFoundError without it)."""
        return self.client.get_file_info(self._path(name)).modification_time / 1000

    def exists(self, name: str) -> bool:
        try:
            self.client.get_file_info(self._path(name))
        except FileNotFoundError:
            return False
        return True


def _close_quietly(writer) -> None:
    try:
        writer.close()
    except ERRORS:
        pass


class LocalStorage(_Folder):
    def __init__(self, url: str, folder: Path | None = None) -> None:
        self.url = url
        self.folder = folder if folder is not None else Path(urlparse(url).path)

    @classmethod
    def at(cls, folder: str | Path) -> "LocalStorage":
        """The local folder at a plain path (CHECKPOINT_DIR is one), not a URL."""
        return cls(Path(folder).absolute().as_uri(), Path(folder))

    def ensure_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def write_temp(self, name: str, data: bytes, midway: Midway = None) -> str:
        """A new temp file of `name` holding data, fsynced: its name."""
        temp = temp_name(name)
        with open(self.folder / temp, "xb") as file:
            first, rest = _halves(data)
            file.write(first)
            if midway:
                file.flush()
                midway()
            file.write(rest)
            file.flush()
            os.fsync(file.fileno())
        return temp

    def rename(self, source: str, target: str) -> None:
        os.replace(self.folder / source, self.folder / target)
        folder = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(folder)  # makes the rename itself survive a power loss
        finally:
            os.close(folder)

    def names(self) -> list[str]:
        try:
            return [entry.name for entry in os.scandir(self.folder)]
        except FileNotFoundError:
            return []

    def read(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()

    def delete(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)

    def modified(self, name: str) -> float:
        """The file's modification time, seconds since the epoch (FileNotFoundError without it)."""
        return (self.folder / name).stat().st_mtime

    def exists(self, name: str) -> bool:
        return (self.folder / name).exists()


def open_storage(url: str, setting: str = "DATA_URL") -> Storage:
    """The folder at url: `hdfs://host:port/path` or `file:///path`; `setting` names the variable it came from."""
    scheme = urlparse(url).scheme
    if scheme == "hdfs":
        return HdfsStorage(url)
    if scheme == "file":
        return LocalStorage(url)
    raise ConfigError(f"{setting}={url!r}: use hdfs://host:port/path or file:///path")
