"""wait_until: the condition's first truthy result; TimedOut after the timeout, told apart from a
TimeoutError the condition raises itself."""
from __future__ import annotations

import time

import pytest

from weather.common import waiting


def test_wait_until_returns_the_first_truthy_result():
    answers = iter([None, 0, "", "ready", "later"])
    assert waiting.wait_until(lambda: next(answers), 5, "an answer", every=0.01) == "ready"


def test_wait_until_asks_until_the_timeout_has_passed_then_times_out_naming_what():
    asked = []
    began = time.monotonic()
    with pytest.raises(waiting.TimedOut, match=r"^the answer: not so after 0.3 s$") as timed_out:
        waiting.wait_until(lambda: asked.append(time.monotonic()), 0.3, "the answer", every=0.05)
    assert isinstance(timed_out.value, TimeoutError)  # callers catching TimeoutError catch it too
    assert asked[-1] - began > 0.3 and time.monotonic() - began < 1.5
    assert len(asked) >= 5  # every 0.05 s, not once


def test_a_timeout_error_of_the_condition_ends_the_wait_as_itself():
    def condition():
        raise TimeoutError("the socket's own")

    with pytest.raises(TimeoutError, match="the socket's own") as raised:
        waiting.wait_until(condition, 5, "the answer")
    assert not isinstance(raised.value, waiting.TimedOut)
