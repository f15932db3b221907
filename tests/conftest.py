"""Shared fixtures: the local stack, and an isolated pipeline per test (see world.py)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from world import ROOT, Pipeline


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    """The local stack's variables (`python -m stack env`), after `python -m stack up`."""
    up = subprocess.run([sys.executable, "-m", "stack", "up"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, f"the stack did not come up:\n{up.stdout}{up.stderr}"
    printed = subprocess.run([sys.executable, "-m", "stack", "env"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
    env = {}
    for line in printed.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value.strip("'")
    return env


@pytest.fixture
def pipeline(stack_env, tmp_path) -> Pipeline:
    world = Pipeline(stack_env, tmp_path)
    yield world
    world.close()
