"""Crash points for the fault tests: a program told `<VARIABLE>=<step>[:<number>]` SIGKILLs itself
on reaching that step (of that batch, if a number is given), so a test can stop it there by name."""
from __future__ import annotations

import os
import signal
from enum import Enum
from typing import Callable, Mapping

from weather.common.config import ConfigError

Hook = Callable[..., None]  # hook(step) or hook(step, number)


def no_hook(step: Enum, number: int | None = None) -> None:
    """The hook of a program that is not under a fault test."""


def crash_hook(variable: str, steps: type[Enum], environ: Mapping[str, str] = os.environ) -> Hook:
    """The hook that `environ[variable]` names among `steps`, or no_hook when it is unset or empty."""
    spec = environ.get(variable)
    if not spec:
        return no_hook
    name, _, number_text = spec.partition(":")
    try:
        target = steps(name)
        target_number = int(number_text) if number_text else None
    except ValueError:
        names = ", ".join(step.value for step in steps)
        raise ConfigError(f"{variable}={spec!r}: use <step>[:<number>] with a step among {names}") from None

    def crash_at_target(step: Enum, number: int | None = None) -> None:
        if step is target and target_number in (None, number):
            os.kill(os.getpid(), signal.SIGKILL)

    return crash_at_target
