"""The dashboard tests' helpers: the real `dashboard.py` on a free port, a live isolated pipeline,
closed ports for stopped servers."""
from __future__ import annotations

import json
import re
import socket
import urllib.request

from weather.common import checkpoint
from weather.read import committed
from weather.common.storage import open_storage
from world import ROOT, Pipeline, Program, wait_for

CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright's own browser download does not work here
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "tests" / "artifacts"
PARTITIONS = range(4)


def closed_port() -> int:
    """A local port nobody listens on: where a 'stopped server' is."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_dashboard(world: Pipeline, **env: str) -> tuple[Program, str]:
    """`python3 dashboard.py` on a free port in the world (which stops it); the program and the URL it printed."""
    program = world.start("dashboard.py", DASHBOARD_PORT="0", **env)
    printed = wait_for(lambda: re.search(r"dashboard: (http://127\.0\.0\.1:\d+/)", program.stdout)
                       or program.process.poll() is not None, 30, "the dashboard's URL")
    assert program.process.poll() is None, f"dashboard.py exited:\n{program.stderr}"
    return program, printed[1]


def api_state(url: str) -> dict:
    with urllib.request.urlopen(f"{url}api/state", timeout=30) as response:  # raises unless 200
        return json.load(response)


def checkpoints(world: Pipeline) -> dict[int, checkpoint.Checkpoint | None]:
    return {p: checkpoint.load(str(world.checkpoint_dir), p) for p in PARTITIONS}


def settle(world: Pipeline) -> dict[int, checkpoint.Checkpoint]:
    """Wait until every row of the table is in Kafka and committed; the checkpoints then."""
    def caught_up():
        saved = checkpoints(world)
        ends = world.end_offsets()
        return (ends and sum(ends.values()) == len(world.table_rows())
                and all(saved[p] and saved[p].offset == ends[p] for p in PARTITIONS) and saved)
    return wait_for(caught_up, 90, "the consumers to commit every row", interval=0.5)


class LivePipeline:
    """Generator, producer and one consumer per partition running on an isolated world, plus the dashboard."""

    def __init__(self, world: Pipeline) -> None:
        self.world = world
        self.storage = open_storage(world.data_url)
        world.start("producer.py")
        for partition in PARTITIONS:
            world.start("consumer.py", str(partition))
        generator = world.start("weather_generator.py")
        wait_for(lambda: len(world.table_rows()) >= 300, 60, "300 generated rows")
        assert generator.stop() == 0, generator.stderr
        self.dashboard, self.url = start_dashboard(world)

    def settle(self) -> dict[int, checkpoint.Checkpoint]:
        return settle(self.world)

    def committed(self):
        """The committed rows as the reader sees them (weather/read/committed.py)."""
        return committed.read_committed(self.storage, str(self.world.checkpoint_dir), PARTITIONS)
