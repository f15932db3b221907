"""Fixtures of the Docker path's static checks (readers in dockerpath.py)."""
from __future__ import annotations

import pytest
import yaml

from dockerpath import DOCKERFILES, ROOT, Instruction, parse_dockerfile


@pytest.fixture(scope="session")
def dockerfiles() -> dict[str, list[Instruction]]:
    return {name: parse_dockerfile(ROOT / name) for name in DOCKERFILES}


@pytest.fixture(scope="session")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())
