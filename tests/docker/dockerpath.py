"""Readers for the Docker path's static checks: Dockerfiles, the compose file, the poms.

There is no Docker engine where these run, so the images and the compose file are checked by
construction: parsed, and compared with the local stack they must match.
"""
from __future__ import annotations

import re
import shutil
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = ("Dockerfile.hdfs", "Dockerfile.kafka", "Dockerfile.namenode", "Dockerfile.datanode",
               "Dockerfile.mysql")


@dataclass
class Instruction:
    keyword: str           # FROM, RUN, COPY, ... (upper case)
    args: str              # the rest, continuation lines joined
    comments: list[str] = field(default_factory=list)  # the comment lines just above it
    line: int = 0


def parse_dockerfile(path: Path) -> list[Instruction]:
    instructions: list[Instruction] = []
    comments: list[str] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not pending:
            if not line:
                comments = []
                continue
            if line.startswith("#"):
                comments.append(line.lstrip("#").strip())
                continue
            start = number
        elif line.startswith("#"):  # a comment inside a continued instruction
            continue
        pending.append(line[:-1].rstrip() if line.endswith("\\") else line)
        if not line.endswith("\\"):
            text = " ".join(part for part in pending if part)
            keyword, _, args = text.partition(" ")
            instructions.append(Instruction(keyword.upper(), args.strip(), comments, start))
            comments, pending = [], []
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """The instructions split at each FROM (each list starts with its FROM)."""
    result: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            result.append([])
        result[-1].append(instruction)
    return result


def args_of(instructions: list[Instruction]) -> dict[str, str]:
    values = {}
    for instruction in instructions:
        if instruction.keyword == "ARG" and "=" in instruction.args:
            name, _, value = instruction.args.partition("=")
            values[name.strip()] = value.strip().strip('"')
    return values


def copies(instructions: list[Instruction]) -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY from the build context (not --from another stage)."""
    result = []
    for instruction in instructions:
        if instruction.keyword != "COPY":
            continue
        words = instruction.args.split()
        if any(word.startswith("--from") for word in words):
            continue
        words = [word for word in words if not word.startswith("--")]
        result.append((words[:-1], words[-1]))
    return result


def pom_properties(pom: Path) -> dict[str, str]:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    props = ET.parse(pom).getroot().find("m:properties", ns)
    return {child.tag.split("}", 1)[1]: (child.text or "").strip() for child in props}


def venv_tool(name: str) -> str:
    """A linter installed by requirements-dev.txt: beside this Python first, then on PATH."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed; run `make setup` (requirements-dev.txt pins it)")
    return found


def memory_bytes(value: str) -> int:
    match = re.fullmatch(r"(\d+)\s*([kmg]?)b?", str(value).strip().lower())
    assert match, f"unreadable memory size {value!r}"
    return int(match.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match.group(2)]
