"""Crash points for the fault tests: a program told `<VARIABLE>=<step>[:<number>]` SIGKILLs itself
on reaching that step (with that number, e.g. of that batch, if one is given), so a test can stop it
there by name."""
from __future__ import annotations

import os
import signal
from enum import Enum
from typing import Callable, Mapping

from weather.common.config import ConfigError

Hook = Callable[..., None]  # hook(step) or hook(step, number)


def no_hook(step: Enum, number: int | None = None) -> None:
    """The hook of a program that is not under a fault test."""


def crash_hook(variable: str, steps: type[Enum], number_name: str | None = None,
               environ: Mapping[str, str] = os.environ) -> Hook:
    """The hook that `environ[variable]` names among `steps`, or no_hook when it is unset or empty.

    number_name: what the number after the step counts (the consumer's "batch_id"); None where the program's
    steps carry no number, so a number given there is an error rather than a crash point never reached.
    """
    spec = environ.get(variable)
    if not spec:
        return no_hook
    name, has_number, number_text = spec.partition(":")
    usage = f"<step>[:<{number_name}>]" if number_name else "<step>"
    try:
        if has_number and not number_name:
            raise ValueError(spec)
        target = steps(name)
        target_number = int(number_text) if has_number else None
    except ValueError:
        names = ", ".join(step.value for step in steps)
        raise ConfigError(f"{variable}={spec!r}: use {usage} with a step among {names}") from None

    def crash_at_target(step: Enum, number: int | None = None) -> None:
        if step is target and target_number in (None, number):
            os.kill(os.getpid(), signal.SIGKILL)

    return crash_at_target
