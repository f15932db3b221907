"""Waiting, the one way: for a stop request, for a server to come back, for a condition to hold.

The process-wide stop flag lives here, not in the command-line runner: Ctrl-C and SIGTERM only set it
(weather/common/program.py installs the handlers), and loops check `running()` between steps, so a
signal never lands in the middle of a library call (a pooled connection's rollback, a file write).

`retry` waits for a failing action (a server that is not there yet), saying so in one log line every
WAIT_LOG_EVERY seconds; `wait_until` waits for a condition with a deadline. Both wake at once when a
stop is asked for.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, TypeVar

from weather.common.errors import Unrecoverable

T = TypeVar("T")

FIRST_BACKOFF = 0.5  # seconds; doubled after each failure up to MAX_BACKOFF
MAX_BACKOFF = 10.0
WAIT_LOG_EVERY = 10.0  # seconds between the log lines of one wait


class Stopped(Exception):
    """A stop was asked for while the program was waiting."""


class GaveUp(Unrecoverable):
    """A retry ran out of its time: what failed, the last error, and what to check."""


class TimedOut(TimeoutError):
    """wait_until's condition did not hold in time: a TimeoutError of its own, so that a caller can
    tell it from a TimeoutError the condition raised (a socket's, a write's)."""


_stop_asked = threading.Event()


def running() -> bool:
    """False once Ctrl-C or SIGTERM has asked the program to stop."""
    return not _stop_asked.is_set()


def ask_to_stop() -> None:
    _stop_asked.set()


def pause(seconds: float) -> None:
    """Sleep, but wake up as soon as a stop is asked for."""
    _stop_asked.wait(seconds)


def retry(action: Callable[[], T], what: str, log: logging.Logger, errors: tuple[type[BaseException], ...],
          give_up_after: float | None = None, advice: str = "", quiet_for: float = 0) -> T:
    """action() until it stops raising one of errors, backing off, with a log line now and then.

    The first failure is logged at once, then one line every WAIT_LOG_EVERY seconds while it lasts,
    each naming what failed, why, and the advice (what to start or check). give_up_after: seconds
    after which GaveUp (what failed, the last error, advice) is raised; None (the default, and the
    programs' default at start-up too) waits forever. quiet_for: seconds of failures not worth a line
    (a server still starting). Stopped when the program is asked to stop while waiting.
    """
    started = time.monotonic()
    backoff = FIRST_BACKOFF
    next_log = started + quiet_for
    while True:
        try:
            return action()
        except errors as error:
            reason = f"{type(error).__name__}: {error}".splitlines()[0]
            now = time.monotonic()
            if give_up_after is not None and now - started + backoff > give_up_after:
                raise GaveUp(f"{what} failed ({reason}); {advice}".rstrip("; ")) from None
            if now >= next_log:
                waited = f" (waiting for {now - started:.0f} s)" if now > started + 1 else ""
                log.warning("%s failed (%s)%s; %sretrying", what, reason, waited, f"{advice}; " if advice else "")
                next_log = now + WAIT_LOG_EVERY
            pause(backoff)
            if not running():
                raise Stopped from None
            backoff = min(backoff * 2, MAX_BACKOFF)


def wait_until(condition: Callable[[], T], timeout: float | None, what: str, every: float = 0.2) -> T:
    """condition()'s first truthy result, asked every `every` seconds; TimedOut naming `what` after
    `timeout` seconds (None: no limit), Stopped when a stop is asked for meanwhile. Whatever the
    condition raises ends the wait at once."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if deadline is not None and time.monotonic() > deadline:
            raise TimedOut(f"{what}: not so after {timeout:g} s")
        pause(every)
        if not running():
            raise Stopped
