"""How every entry point logs, retries, and stops.

A program ends in one of three ways: Ctrl-C or SIGTERM (exit 0, no traceback), a usage error
(one line, exit 2), or a fatal error that names what is wrong and what to do (one line, exit 1).
A server or topic that is not there yet is no reason to end: `retry` waits for it, saying so in
one log line every WAIT_LOG_EVERY seconds.

Ctrl-C and SIGTERM only ask the program to stop: its loop checks `running()` between steps, so a
signal never lands in the middle of a library call (a pooled connection's rollback, a file write).
A second Ctrl-C interrupts at once.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from typing import Callable, TypeVar

from weather.common.config import ConfigError

T = TypeVar("T")

FIRST_BACKOFF = 0.5  # seconds; doubled after each failure up to MAX_BACKOFF
MAX_BACKOFF = 10.0
WAIT_LOG_EVERY = 10.0  # seconds between the log lines of one wait


class UsageError(Exception):
    """Bad command-line arguments: exit code 2."""


class FatalError(Exception):
    """The program cannot go on; the message says what is wrong and what to do."""


class Stopped(Exception):
    """A stop was asked for while the program was waiting to retry."""


_stop_asked = threading.Event()


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (a UsageError, exit 2 through `run`), not a usage block."""

    def error(self, message: str):
        raise UsageError(message)


def seconds(text: str) -> float:
    """An argparse type: a number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative; give 0 or more seconds")
    return value


def running() -> bool:
    """False once Ctrl-C or SIGTERM has asked the program to stop."""
    return not _stop_asked.is_set()


def pause(seconds: float) -> None:
    """Sleep, but wake up as soon as a stop is asked for."""
    _stop_asked.wait(seconds)


def _ask_to_stop(signum, frame):
    # A second Ctrl-C is a person insisting: interrupt at once. A second SIGTERM is only another
    # writer asking again (weather/lock.py): still stop between steps; SIGKILL is its escalation.
    if _stop_asked.is_set() and signum == signal.SIGINT:
        raise KeyboardInterrupt
    _stop_asked.set()


def run(main: Callable[[], None], usage: str, level: int = logging.INFO) -> None:
    """Run main with logging at `level` on stderr; map its ending to the exit codes above."""
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # kafka-python logs every lost connection (at ERROR since 3.x); our retries say it in one line.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    signal.signal(signal.SIGINT, _ask_to_stop)
    signal.signal(signal.SIGTERM, _ask_to_stop)  # `docker stop` / kill: the same clean exit as Ctrl-C
    name = sys.argv[0].rsplit("/", 1)[-1]
    try:
        main()
    except (Stopped, KeyboardInterrupt):
        pass
    except UsageError as error:
        print(f"usage: {usage}: {error}", file=sys.stderr)
        sys.exit(2)
    except (FatalError, ConfigError) as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        sys.exit(1)
    if not running():
        logging.getLogger(name).info("stopped")


def retry(action: Callable[[], T], what: str, log: logging.Logger, errors: tuple[type[BaseException], ...],
          give_up_after: float | None = None, advice: str = "", quiet_for: float = 0) -> T:
    """action() until it stops raising one of errors, backing off, with a log line now and then.

    The first failure is logged at once, then one line every WAIT_LOG_EVERY seconds while it lasts,
    each naming what failed, why, and the advice (what to start or check). give_up_after: seconds
    after which a FatalError (what failed, the last error, advice) ends the program; None (the
    default, and the programs' default at start-up too) waits forever. quiet_for: seconds of
    failures not worth a line (a server still starting). Stopped when the program is asked to stop
    while waiting.
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
                raise FatalError(f"{what} failed ({reason}); {advice}".rstrip("; ")) from None
            if now >= next_log:
                waited = f" (waiting for {now - started:.0f} s)" if now > started + 1 else ""
                log.warning("%s failed (%s)%s; %sretrying", what, reason, waited, f"{advice}; " if advice else "")
                next_log = now + WAIT_LOG_EVERY
            pause(backoff)
            if not running():
                raise Stopped from None
            backoff = min(backoff * 2, MAX_BACKOFF)
