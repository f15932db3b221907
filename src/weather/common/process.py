"""Which process is which: a pid plus the moment it started, read from Linux's /proc.

A pid alone names whichever process has it now: once the recorded one is gone, the kernel may give
its pid to any other. The start time (clock ticks after boot, /proc/<pid>/stat field 22) and the
boot tell the recorded process apart from a later one with the same pid. `ProcessId.signal` goes
through a pidfd, which names one process for good: the start time is checked while the pidfd is
open, so a pid reused between the check and the signal is never signalled.

Shared by the single-writer lock (weather/common/lock.py) and the local stack's pid files
(stack/supervise.py). Imports nothing of ours but the errors.
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from weather.common.errors import Unrecoverable

PROC = Path("/proc")


class NoProcFilesystem(Unrecoverable):
    """No Linux /proc here, so a process cannot be told apart from a later one with its pid."""


def _require_proc() -> None:
    if not (PROC / "self" / "stat").exists():
        raise NoProcFilesystem(f"{PROC}/self/stat is missing: the single-writer lock needs Linux /proc to tell "
                               "a running holder from a process that reuses its pid; run on Linux with /proc mounted")


def _state_and_start(pid: int) -> tuple[str, int] | None:
    """The process's state letter and start time; None when there is no such process."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except PermissionError:  # /proc mounted with hidepid: another user's process, as good as absent here
        return None
    except (FileNotFoundError, ProcessLookupError):
        _require_proc()
        return None
    fields = text.rsplit(")", 1)[1].split()  # field 3 onwards: the command name before ")" may hold spaces
    return fields[0], int(fields[19])


def boot_id() -> str:
    """This boot's id ("" if unknown): start times count from boot, so they name a process within one boot."""
    try:
        return (PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class ProcessId:
    pid: int
    start: int      # clock ticks after boot
    boot: str = ""  # "" when not recorded: this boot (a lock file is only read while its holder runs)

    @classmethod
    def of(cls, pid: int) -> "ProcessId | None":
        """The process that has `pid` now (a zombie too); None when there is none."""
        found = _state_and_start(pid)
        return None if found is None else cls(pid, found[1], boot_id())

    @classmethod
    def current(cls) -> "ProcessId":
        me = cls.of(os.getpid())
        if me is None:  # /proc is there, but another pid namespace's
            raise NoProcFilesystem(f"{PROC}/{os.getpid()} is missing: this /proc is another pid namespace's; "
                                   "the single-writer lock needs the /proc of the namespace it runs in")
        return me

    def alive(self) -> bool:
        """This very process still runs (not a zombie, and not merely a later process with its pid)."""
        found = _state_and_start(self.pid)
        return (found is not None and found[0] != "Z" and found[1] == self.start
                and (not self.boot or self.boot == boot_id()))

    def newer_than(self, other: "ProcessId") -> bool:
        return (self.start, self.pid) > (other.start, other.pid)

    def signal(self, signum: int) -> bool:
        """Send signum to this very process; False, sending nothing, once it is gone."""
        try:
            handle = os.pidfd_open(self.pid)
        except ProcessLookupError:
            return False
        try:
            # The pidfd holds the process that had the pid when it was opened: if that one is still
            # the recorded process now, no later process can take its place before the signal.
            if not self.alive():
                return False
            signal.pidfd_send_signal(handle, signum)
            return True
        except ProcessLookupError:  # it exited after the check
            return False
        finally:
            os.close(handle)


def flock_holders_of_removed(path: Path) -> list[ProcessId]:
    """The processes that hold an flock(2) and have a file open that was at `path` and is removed since.

    Removing a lock file does not free its lock: its holder keeps the lock on a file no longer at the
    path, and the next process locks a new file there. /proc/locks lists the processes holding a lock;
    such a holder's descriptor reads "<path> (deleted)" in /proc/<pid>/fd. (The inode numbers of
    /proc/locks are not compared: on overlayfs they are the lower file system's, not what stat says.)
    """
    try:
        locks = (PROC / "locks").read_text().splitlines()
    except FileNotFoundError:
        _require_proc()
        return []  # a kernel without file locking support: nobody can hold an flock
    removed = f"{os.path.realpath(path)} (deleted)"
    found = []
    for pid in {int(fields[4]) for fields in map(str.split, locks) if fields[1] == "FLOCK"}:  # "->": waiting
        try:
            descriptors = list((PROC / str(pid) / "fd").iterdir())
        except OSError:  # gone, or another user's
            continue
        if any(_link(descriptor) == removed for descriptor in descriptors):
            holder = ProcessId.of(pid)
            if holder is not None:
                found.append(holder)
    return found


def _link(descriptor: Path) -> str | None:
    try:
        return os.readlink(descriptor)
    except OSError:  # closed meanwhile
        return None
