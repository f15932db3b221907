"""One folder of files, on HDFS (`hdfs://host:port/path`) or on local disk (`file:///path`).

Both kinds offer the same small interface, with names relative to the folder. `rename` replaces
the target in one step (a single NameNode RPC on HDFS, rename(2) locally): readers see the old
file or the new one, never a mix.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional, Protocol
from urllib.parse import urlparse

import hdfs_native

from .config import ConfigError

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


# Called once part of a file's bytes are written and before it is closed: the fault tests' hook
# for a crash in the middle of a write.
Midway = Optional[Callable[[], None]]


def _halves(data: bytes) -> tuple[bytes, bytes]:
    return data[:len(data) // 2], data[len(data) // 2:]


class Storage(Protocol):
    url: str

    def ensure_folder(self) -> None: ...
    def write(self, name: str, data: bytes, midway: Midway = None) -> None: ...
    def rename(self, source: str, target: str) -> None: ...
    def names(self) -> list[str]: ...
    def read(self, name: str) -> bytes: ...
    def delete(self, name: str) -> None: ...
    def exists(self, name: str) -> bool: ...


class HdfsStorage:
    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        self.url = url
        self.folder = parsed.path or "/"
        self.client = hdfs_native.Client(f"hdfs://{parsed.netloc}", config=HDFS_CLIENT_CONFIG)

    def _path(self, name: str) -> str:
        return f"{self.folder.rstrip('/')}/{name}"

    def ensure_folder(self) -> None:
        self.client.mkdirs(self.folder, create_parent=True)

    def write(self, name: str, data: bytes, midway: Midway = None) -> None:
        writer = self.client.create(self._path(name), hdfs_native.WriteOptions(overwrite=True))
        try:
            first, rest = _halves(data)
            writer.write(first)
            if midway:
                midway()
            writer.write(rest)
        finally:
            writer.close()  # the data is durable on the DataNodes only once close() returns

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

    def exists(self, name: str) -> bool:
        try:
            self.client.get_file_info(self._path(name))
        except FileNotFoundError:
            return False
        return True


class LocalStorage:
    def __init__(self, url: str) -> None:
        self.url = url
        self.folder = Path(urlparse(url).path)

    def ensure_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, data: bytes, midway: Midway = None) -> None:
        with open(self.folder / name, "wb") as file:
            first, rest = _halves(data)
            file.write(first)
            if midway:
                file.flush()
                midway()
            file.write(rest)
            file.flush()
            os.fsync(file.fileno())

    def rename(self, source: str, target: str) -> None:
        os.replace(self.folder / source, self.folder / target)

    def names(self) -> list[str]:
        try:
            return [entry.name for entry in os.scandir(self.folder)]
        except FileNotFoundError:
            return []

    def read(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()

    def delete(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)

    def exists(self, name: str) -> bool:
        return (self.folder / name).exists()


def open_storage(url: str) -> Storage:
    """The folder at url: `hdfs://host:port/path` or `file:///path`."""
    scheme = urlparse(url).scheme
    if scheme == "hdfs":
        return HdfsStorage(url)
    if scheme == "file":
        return LocalStorage(url)
    raise ConfigError(f"DATA_URL={url!r}: use hdfs://host:port/path or file:///path")
