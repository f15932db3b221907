"""The fault tests' crash points (weather/common/crash.py): named by step, and by batch for the consumer."""
import signal
import subprocess
import sys
import textwrap

import pytest

from world import SRC

from weather.common.config import ConfigError
from weather.common.crash import crash_hook, no_hook
from weather.compact.compactor import Step
from weather.consume.writer import State


@pytest.mark.parametrize("spec", ["renamed:x", "halfway", "polled:1:2", "renamed:"])
def test_a_bad_consumer_crash_point_is_a_configuration_error(spec):
    with pytest.raises(ConfigError, match=r"CONSUMER_CRASH_AT=.*: use <step>\[:<batch_id>\] .*checkpointed"):
        crash_hook("CONSUMER_CRASH_AT", State, "batch_id", {"CONSUMER_CRASH_AT": spec})


@pytest.mark.parametrize("spec", ["folded", "committed:2"])  # its steps carry no number: one would never be reached
def test_a_bad_compactor_crash_point_names_the_steps(spec):
    with pytest.raises(ConfigError, match="COMPACTOR_CRASH_AT=.*: use <step> with a step among planned, read, committed, "
                                          "optimized, retained"):
        crash_hook("COMPACTOR_CRASH_AT", Step, environ={"COMPACTOR_CRASH_AT": spec})


def test_no_crash_point_means_no_hook():
    assert crash_hook("CONSUMER_CRASH_AT", State, "batch_id", {}) is no_hook
    assert crash_hook("CONSUMER_CRASH_AT", State, "batch_id", {"CONSUMER_CRASH_AT": ""}) is no_hook


def run_hook(spec, calls):
    """A child process that calls the hook of CONSUMER_CRASH_AT=spec with each (state, batch) in turn."""
    program = textwrap.dedent(f"""
        from weather.common.crash import crash_hook
        from weather.consume.writer import State
        reached = crash_hook("CONSUMER_CRASH_AT", State, "batch_id", {{"CONSUMER_CRASH_AT": {spec!r}}})
        for state, batch in {calls!r}:
            print(state, batch, flush=True)
            reached(State(state), batch)
    """)
    return subprocess.run([sys.executable, "-c", program], cwd=SRC, capture_output=True, text=True,
                          timeout=60)


def test_the_hook_kills_at_its_state_of_its_batch_only():
    calls = [("renamed", 0), ("checkpointed", 0), ("renamed", 1), ("checkpointed", 1)]
    killed = run_hook("renamed:1", calls)
    assert killed.returncode == -signal.SIGKILL
    assert killed.stdout.split("\n")[:-1] == ["renamed 0", "checkpointed 0", "renamed 1"]
    assert run_hook("renamed", calls).stdout == "renamed 0\n"
    assert run_hook("polled", calls).returncode == 0
