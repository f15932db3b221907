"""One writer at a time, the newest wins: a partition's consumer, a topic's producer, a group's debug.py.

Killing a `docker exec` client leaves its program running in the container, so "restarting" a
program easily starts a second copy beside the first. Two writers of one partition would race on
its temp files, batch names and checkpoint; two producers would both fill the topic. So each
writer holds an OS lock: flock(2) on a file in a local folder, which the kernel releases when the
holder dies, however it dies. The file names the holder (pid and process start time, see
weather/common/process.py, so a pid reused by another process is never mistaken for it).

A new writer that finds the lock held takes over: it asks the holder to stop (SIGTERM, which the
programs obey between steps), waits up to `wait` seconds, then kills it (SIGKILL), and holds the
lock only once the kernel has released it. A waiting contender that sees a newer process hold the
lock leaves it to that one, so with three starts in a row the last one wins.

Removing the lock file (clearing CHECKPOINT_DIR under a running consumer) hides the lock without
freeing it: the holder keeps its lock on a file no longer at the path, and the next writer would
lock a new file there. So a writer counts only a lock on the file at the path (checked once
locked; else it opens the path again), and takes over from whoever still holds a removed one.
"""
from __future__ import annotations

import fcntl
import logging
import os
import signal
import time
from pathlib import Path

from weather.common.process import ProcessId, boot_id, flock_holders_of_removed
from weather.common.waiting import WAIT_LOG_EVERY, Stopped, pause, running

CHECK_EVERY = 0.05  # seconds between attempts while the holder stops


def holder_text(holder: ProcessId) -> str:
    """How a lock file names its holder."""
    return f"{holder.pid} {holder.start}\n"


def named_holder(text: str) -> ProcessId | None:
    """The holder a lock file names; None if it names nobody yet (or is garbled).

    Of this boot: the file is read only while its lock is held, and no lock outlives a reboot."""
    try:
        pid, started = map(int, text.split())
    except ValueError:
        return None
    return ProcessId(pid, started, boot_id())


class WriterLock:
    """A held lock. The programs never release it: the kernel does once the process is gone, so a
    successor starts only when nothing of its predecessor runs. `release()` is for tests."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


def acquire(path: Path, what: str, wait: float, log: logging.Logger) -> WriterLock:
    """Hold the lock at `path` for `what` (e.g. "partition 0"), taking it over from a running holder.

    Raises Stopped when a newer process wins the lock first, or this program is asked to stop;
    NoProcFilesystem without Linux /proc.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    me = ProcessId.current()
    asked: dict[ProcessId, float] = {}  # holder -> when it was asked to stop
    killed: set[ProcessId] = set()
    next_unknown_log = time.monotonic() + 1
    fd = None
    try:
        while True:
            if fd is None:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            if _locked(fd):
                if not _is_file_at(fd, path):  # removed or replaced since it was opened: lock the one there now
                    os.close(fd)
                    fd = None
                    continue
                os.ftruncate(fd, 0)
                os.pwrite(fd, holder_text(me).encode(), 0)
                holders = [holder for holder in flock_holders_of_removed(path) if holder != me]
                if not holders:
                    break
            else:
                holder = named_holder(os.pread(fd, 64, 0).decode(errors="replace"))
                holders = [holder] if holder is not None and holder.alive() and holder != me else []
                if not holders and time.monotonic() >= next_unknown_log:
                    # Usually a holder that has just taken the lock and not named itself yet, or is exiting;
                    # longer, a process this one cannot see (another pid namespace sharing the folder).
                    log.warning("%s is locked (%s) by a process not found here (the file names %s); waiting for it",
                                what, path, holder.pid if holder else "nobody")
                    next_unknown_log = time.monotonic() + WAIT_LOG_EVERY
            for holder in holders:
                if holder.newer_than(me):
                    log.info("%s was taken by pid %d, started after this one; leaving it to that one",
                             what, holder.pid)
                    raise Stopped
                _make_stop(holder, what, wait, asked, killed, log)
            pause(CHECK_EVERY)
            if not running():
                raise Stopped
    except BaseException:
        if fd is not None:
            os.close(fd)
        raise
    if asked:
        log.info("took over %s from pid %d", what, max(asked, key=lambda holder: asked[holder]).pid)
    return WriterLock(fd)


def _locked(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _is_file_at(fd: int, path: Path) -> bool:
    """The open file is still the one at path (not removed, nor replaced by another)."""
    try:
        there = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)


def _make_stop(holder: ProcessId, what: str, wait: float, asked: dict, killed: set, log: logging.Logger) -> None:
    """SIGTERM the holder once; SIGKILL it once `wait` seconds later if it still holds the lock."""
    if holder not in asked:
        log.info("%s is held by pid %d; asking it to stop (SIGTERM)", what, holder.pid)
        asked[holder] = time.monotonic()
        holder.signal(signal.SIGTERM)
    elif holder not in killed and time.monotonic() - asked[holder] > wait:
        log.warning("pid %d did not stop within %g s; killing it (SIGKILL)", holder.pid, wait)
        killed.add(holder)
        holder.signal(signal.SIGKILL)
