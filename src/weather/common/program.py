"""How every entry point parses its arguments, logs, and ends. Only the entry points import this.

A program ends in one of three ways: Ctrl-C or SIGTERM (exit 0, no traceback), a usage error
(one line, exit 2), or an error no retry can fix that names what is wrong and what to do (one line,
exit 1): a FatalError of the program itself, or any library's Unrecoverable (weather/common/errors.py).
Ctrl-C and SIGTERM only ask the program to stop (weather/common/waiting.py); a second Ctrl-C
interrupts at once.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Callable

from weather.common import waiting
from weather.common.errors import Unrecoverable


class UsageError(Exception):
    """Bad command-line arguments: exit code 2."""


class FatalError(Unrecoverable):
    """The program cannot go on; the message says what is wrong and what to do."""


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


def _ask_to_stop(signum, frame):
    # A second Ctrl-C is a person insisting: interrupt at once. A second SIGTERM is only another
    # writer asking again (weather/common/lock.py): still stop between steps; SIGKILL is its escalation.
    if not waiting.running() and signum == signal.SIGINT:
        raise KeyboardInterrupt
    waiting.ask_to_stop()


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
    except (waiting.Stopped, KeyboardInterrupt):
        pass
    except UsageError as error:
        print(f"usage: {usage}: {error}", file=sys.stderr)
        sys.exit(2)
    except Unrecoverable as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        sys.exit(1)
    if not waiting.running():
        logging.getLogger(name).info("stopped")
