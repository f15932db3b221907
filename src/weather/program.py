"""How every entry point logs, retries, and stops.

A program ends in one of three ways: Ctrl-C or SIGTERM (exit 0, no traceback), a usage error
(one line, exit 2), or a fatal error that names what is wrong and what to do (one line, exit 1).

Ctrl-C and SIGTERM only ask the program to stop: its loop checks `running()` between steps, so a
signal never lands in the middle of a library call (a pooled connection's rollback, a file write).
A second signal interrupts at once.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from typing import Callable, TypeVar

from .config import ConfigError

T = TypeVar("T")

FIRST_BACKOFF = 0.5  # seconds; doubled after each failure up to MAX_BACKOFF
MAX_BACKOFF = 10.0


class UsageError(Exception):
    """Bad command-line arguments: exit code 2."""


class FatalError(Exception):
    """The program cannot go on; the message says what is wrong and what to do."""


class Stopped(Exception):
    """A stop was asked for while the program was waiting to retry."""


_stop_asked = threading.Event()


def seconds_option(argv: list[str], flag: str) -> float | None:
    """None without arguments, else the seconds of `flag SECONDS`; anything else is a UsageError."""
    if not argv:
        return None
    if len(argv) == 2 and argv[0] == flag:
        try:
            return float(argv[1])
        except ValueError:
            pass
    raise UsageError(f"unexpected arguments {' '.join(argv)!r}")


def running() -> bool:
    """False once Ctrl-C or SIGTERM has asked the program to stop."""
    return not _stop_asked.is_set()


def pause(seconds: float) -> None:
    """Sleep, but wake up as soon as a stop is asked for."""
    _stop_asked.wait(seconds)


def _ask_to_stop(signum, frame):
    if _stop_asked.is_set():
        raise KeyboardInterrupt
    _stop_asked.set()


def run(main: Callable[[], None], usage: str) -> None:
    """Run main with logging at INFO on stderr; map its ending to the exit codes above."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
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
          give_up_after: float | None = None, advice: str = "") -> T:
    """action() until it stops raising one of errors, backing off and logging each failure.

    give_up_after: seconds after which a FatalError (what failed, the last error, advice) ends the
    program; None retries forever, for servers that go away while the program runs. Stopped when
    the program is asked to stop while waiting.
    """
    started = time.monotonic()
    backoff = FIRST_BACKOFF
    while True:
        try:
            return action()
        except errors as error:
            reason = f"{type(error).__name__}: {error}".splitlines()[0]
            if give_up_after is not None and time.monotonic() - started + backoff > give_up_after:
                raise FatalError(f"{what} failed ({reason}); {advice}".rstrip("; ")) from None
            log.warning("%s failed (%s); retrying in %.1f s", what, reason, backoff)
            pause(backoff)
            if not running():
                raise Stopped from None
            backoff = min(backoff * 2, MAX_BACKOFF)
