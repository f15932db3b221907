"""One writer at a time, the newest wins: a partition's consumer, a topic's producer.

Killing a `docker exec` client leaves its program running in the container, so "restarting" a
program easily starts a second copy beside the first. Two writers of one partition would race on
its temp files, batch names and checkpoint; two producers would both fill the topic. So each
writer holds an OS lock: flock(2) on a file in a local folder, which the kernel releases when the
holder dies, however it dies. The file names the holder (pid and process start time, so a pid
reused by another process is never mistaken for it).

A new writer that finds the lock held takes over: it asks the holder to stop (SIGTERM, which the
programs obey between steps), waits up to `wait` seconds, then kills it (SIGKILL), and holds the
lock only once the kernel has released it. A waiting contender that sees a newer process hold the
lock leaves it to that one, so with three starts in a row the last one wins.
"""
from __future__ import annotations

import fcntl
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from weather.common.waiting import WAIT_LOG_EVERY, Stopped, pause, running

CHECK_EVERY = 0.05  # seconds between attempts while the holder stops


@dataclass(frozen=True)
class Holder:
    pid: int
    started: int  # the process's start time, in clock ticks since boot (/proc/PID/stat)

    @classmethod
    def of(cls, pid: int) -> "Holder | None":
        started = process_start(pid)
        return None if started is None else cls(pid, started)

    def text(self) -> str:
        return f"{self.pid} {self.started}\n"

    @classmethod
    def parse(cls, text: str) -> "Holder | None":
        try:
            pid, started = map(int, text.split())
        except ValueError:
            return None
        return cls(pid, started)

    def alive(self) -> bool:
        """The same process still runs (not merely some process with the same pid)."""
        return process_start(self.pid) == self.started

    def newer_than(self, other: "Holder") -> bool:
        return (self.started, self.pid) > (other.started, other.pid)


def process_start(pid: int) -> int | None:
    """The process's start time from /proc; None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the command name before ")" may hold spaces


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

    Raises Stopped when a newer process wins the lock first, or this program is asked to stop.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    me = Holder.of(os.getpid())
    asked: dict[Holder, float] = {}  # holder -> when it was asked to stop
    killed: set[Holder] = set()
    next_unknown_log = time.monotonic() + 1
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pass
            holder = Holder.parse(os.pread(fd, 64, 0).decode(errors="replace"))
            if holder is not None and holder.alive() and holder != me:
                if holder.newer_than(me):
                    log.info("%s was taken by pid %d, started after this one; leaving it to that one",
                             what, holder.pid)
                    raise Stopped
                _make_stop(holder, what, wait, asked, killed, log)
            elif time.monotonic() >= next_unknown_log:
                # Usually a holder that has just taken the lock and not named itself yet, or is exiting;
                # longer, a process this one cannot see (another pid namespace sharing the folder).
                log.warning("%s is locked (%s) by a process not found here (the file names %s); waiting for it",
                            what, path, holder.pid if holder else "nobody")
                next_unknown_log = time.monotonic() + WAIT_LOG_EVERY
            pause(CHECK_EVERY)
            if not running():
                raise Stopped
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, me.text().encode(), 0)
    if asked:
        log.info("took over %s from pid %d", what, max(asked, key=lambda holder: asked[holder]).pid)
    return WriterLock(fd)


def _make_stop(holder: Holder, what: str, wait: float, asked: dict, killed: set, log: logging.Logger) -> None:
    """SIGTERM the holder once; SIGKILL it once `wait` seconds later if it still holds the lock."""
    if holder not in asked:
        log.info("%s is held by pid %d; asking it to stop (SIGTERM)", what, holder.pid)
        asked[holder] = time.monotonic()
        _signal(holder, signal.SIGTERM)
    elif holder not in killed and time.monotonic() - asked[holder] > wait:
        log.warning("pid %d did not stop within %g s; killing it (SIGKILL)", holder.pid, wait)
        killed.add(holder)
        _signal(holder, signal.SIGKILL)


def _signal(holder: Holder, signum: int) -> None:
    if holder.alive():  # checked just before: never signal a process that merely reuses the pid
        try:
            os.kill(holder.pid, signum)
        except ProcessLookupError:
            pass
