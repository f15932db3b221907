"""Linters on the Docker path: hadolint on every Dockerfile, ShellCheck and bash -n on its scripts."""
from __future__ import annotations

import re
import subprocess

import pytest

from dockerpath import DOCKERFILES, ROOT, parse_dockerfile, venv_tool

SCRIPTS = sorted(p for p in (ROOT / "docker").rglob("*.sh"))
# The test's own images and scripts (make docker-test): the compose alias and the stand-ins.
STANDINS = ROOT / "tests" / "docker" / "standins"
TEST_DOCKERFILES = ["docker/alias/Dockerfile", *sorted(str(p.relative_to(ROOT)) for p in STANDINS.glob("*/Dockerfile"))]
TEST_SCRIPTS = [STANDINS / "mysql" / "entrypoint.sh", STANDINS / "hadoop" / "hdfs"]


@pytest.mark.parametrize("name", [*DOCKERFILES, *TEST_DOCKERFILES])
def test_hadolint_is_clean(name: str) -> None:
    # Default threshold: errors, warnings, infos and style all fail; only inline ignores remain.
    result = subprocess.run([venv_tool("hadolint"), "--no-color", name], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_ignored_hadolint_rule_is_explained(name: str) -> None:
    for instruction in parse_dockerfile(ROOT / name):
        ignores = [c for c in instruction.comments if c.startswith("hadolint ignore=")]
        reasons = [c for c in instruction.comments if c and not c.startswith("hadolint")]
        for ignore in ignores:
            assert re.fullmatch(r"hadolint ignore=(DL|SC)\d{4}(,(DL|SC)\d{4})*", ignore), ignore
            assert reasons, f"{name}:{instruction.line}: `# {ignore}` without a comment saying why"


def test_there_are_scripts_to_check() -> None:
    assert {p.name for p in SCRIPTS} >= {"hdfs-daemon.sh", "namenode-ready.sh", "entrypoint.sh", "kafka-tool.sh"}


@pytest.mark.parametrize("script", SCRIPTS + TEST_SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_script_parses_and_passes_shellcheck(script) -> None:
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    lint = subprocess.run([venv_tool("shellcheck"), "--shell=bash", str(script)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.parametrize("script", sorted((ROOT / "docker").rglob("*.[sp][hy]")), ids=lambda p: p.name)
def test_script_is_executable(script) -> None:
    # COPY keeps the mode: the images run these directly (ENTRYPOINT, CMD, health checks).
    assert script.stat().st_mode & 0o111, f"{script} must be executable (git update-index --chmod=+x)"
