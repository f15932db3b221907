"""An isolated pipeline for one test: its own topic, database, HDFS folder and checkpoint folder.

Other developers run tests against the same servers at the same time, so nothing here touches a
name another test could use, and `Pipeline.close` removes all of it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable

import hdfs_native
import pytest
import sqlalchemy
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from weather.common import waiting

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
STATIONS = [f"Station{letter}" for letter in "ABCDEFGHIJ"]
# The specification's `select * from temperatures limit 10`, without the ids.
SPEC_FIRST_DAY = [
    ("StationA", "2000-01-01", 23.851454295532143), ("StationB", "2000-01-01", 19.525202433007102),
    ("StationC", "2000-01-01", 22.977951196092594), ("StationD", "2000-01-01", 47.92533602679551),
    ("StationE", "2000-01-01", 52.0219652093013), ("StationF", "2000-01-01", 22.266228429236403),
    ("StationG", "2000-01-01", 30.72235799978964), ("StationH", "2000-01-01", 26.98481298988876),
    ("StationI", "2000-01-01", 5.0), ("StationJ", "2000-01-01", 0.0),
]
TABLE_DDL = ("CREATE TABLE temperatures (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
             "station_id TEXT, date DATE, degrees DOUBLE)")


def wait_until(condition: Callable[[], object], timeout: float, interval: float = 0.2):
    """Poll condition() until it returns something truthy or timeout seconds have passed; its last result."""
    result = None

    def asked():  # condition(), its result kept for the timeout's return
        nonlocal result
        result = condition()
        return result
    try:
        return waiting.wait_until(asked, timeout, "the condition", every=interval)
    except waiting.TimedOut:
        return result


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.2):
    """Poll condition() until it returns something truthy; fail the test after timeout seconds."""
    result = wait_until(condition, timeout, interval)
    if not result:
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
    return result


class Program:
    """One of the pipeline's programs running as `python3 X.py` in src/, as in the Kafka container."""

    def __init__(self, script: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = f"{script.removesuffix('.py')}{'-' + '-'.join(args) if args else ''}"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = log_dir / f"{self.name}.{time.monotonic_ns()}.out"
        self.stderr_path = self.stdout_path.with_suffix(".err")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen([sys.executable, script, *args], cwd=SRC, env=env, stdout=out,
                                            stderr=err, stdin=subprocess.DEVNULL)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait(self, timeout: float = 60) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as `docker stop` or Ctrl-C would; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


class Pipeline:
    """An isolated copy of the pipeline's world: topic, database, data folder, checkpoint folder."""

    def __init__(self, stack_env: dict[str, str], tmp_path: Path) -> None:
        tag = uuid.uuid4().hex[:12]
        self.topic = f"t-{tag}"
        self.database = f"CS544_test_{tag}"
        self.bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
        hdfs = stack_env["DATA_URL"].rsplit("/", 1)[0]
        self.hdfs_folder = f"/test/{tag}"
        self.data_url = f"{hdfs}{self.hdfs_folder}/data"  # dead letters go beside it, in the same test folder
        self.checkpoint_dir = tmp_path / "checkpoints"
        self.log_dir = tmp_path / "logs"
        server_url = stack_env["DB_URL"].replace("/CS544?", "?")
        self.env = {**os.environ, **stack_env, "TOPIC": self.topic, "DATA_URL": self.data_url,
                    "CHECKPOINT_DIR": str(self.checkpoint_dir), "DB_URL": stack_env["DB_URL"].replace(
                        "/CS544?", f"/{self.database}?"), "AUTOGRADER_DELAY_OVERRIDE_VAL": "0.005",
                    "DEBUG_GROUP_ID": f"debug-{tag}", "STARTUP_WAIT_SECONDS": "30"}
        self.env.pop("CONSUMER_CRASH_AT", None)
        self.server = sqlalchemy.create_engine(server_url, pool_pre_ping=True)
        with self.server.connect() as connection:
            connection.execute(sqlalchemy.text(f"CREATE DATABASE {self.database}"))
        self.engine = sqlalchemy.create_engine(self.env["DB_URL"], pool_pre_ping=True)
        with self.engine.begin() as connection:
            connection.execute(sqlalchemy.text(TABLE_DDL))
        self.programs: list[Program] = []

    def start(self, script: str, *args: str, **extra_env: str) -> Program:
        program = Program(script, list(args), {**self.env, **extra_env}, self.log_dir)
        self.programs.append(program)
        return program

    def run(self, script: str, *args: str, timeout: float = 90, **extra_env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, script, *args], cwd=SRC, env={**self.env, **extra_env},
                              capture_output=True, text=True, timeout=timeout)

    # -- the table ------------------------------------------------------------------------
    def insert(self, rows: list[tuple[str, str, float]]) -> None:
        with self.engine.begin() as connection:
            connection.execute(sqlalchemy.text(
                "INSERT INTO temperatures (station_id, date, degrees) VALUES (:s, :d, :g)"),
                [{"s": station, "d": date, "g": degrees} for station, date, degrees in rows])

    def table_rows(self) -> list[tuple[int, str, str, float]]:
        with self.engine.connect() as connection:
            result = connection.execute(sqlalchemy.text(
                "SELECT id, station_id, date, degrees FROM temperatures ORDER BY id"))
            return [(id, station, str(date), degrees) for id, station, date, degrees in result]

    # -- the topic ------------------------------------------------------------------------
    def admin(self) -> KafkaAdminClient:
        return KafkaAdminClient(bootstrap_servers=self.bootstrap)

    def partitions(self) -> list[int]:
        admin = self.admin()
        try:
            described = admin.describe_topics([self.topic])[0]
        finally:
            admin.close()
        return sorted(p["partition_index"] for p in described["partitions"]) if described["error_code"] == 0 else []

    def end_offsets(self) -> dict[int, int]:
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        try:
            partitions = [TopicPartition(self.topic, p) for p in consumer.partitions_for_topic(self.topic) or []]
            return {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
        finally:
            consumer.close()

    def messages(self) -> list:
        """Every message of the topic, read from the beginning of each partition."""
        ends = self.end_offsets()
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        try:
            partitions = [TopicPartition(self.topic, p) for p in ends]
            consumer.assign(partitions)
            consumer.seek_to_beginning()
            found = []

            def all_read() -> bool:
                if len(found) >= sum(ends.values()):
                    return True
                for records in consumer.poll(timeout_ms=500).values():
                    found.extend(records)
                return False
            wait_until(all_read, 30, interval=0)
            return found
        finally:
            consumer.close()

    def close(self) -> None:
        for program in self.programs:
            if program.process.poll() is None:
                program.process.kill()
                program.process.wait()
        with self.server.connect() as connection:
            connection.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {self.database}"))
        self.engine.dispose()
        self.server.dispose()
        admin = self.admin()
        try:
            admin.delete_topics([self.topic], raise_errors=False)
        finally:
            admin.close()
        hdfs_native.Client(self.data_url.removesuffix(self.hdfs_folder)).delete(self.hdfs_folder, recursive=True)
