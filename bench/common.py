"""What every part of the benchmark shares: paths, the isolated run, child processes, medians.

Importing this module puts `src/` on sys.path, so the bench calls the pipeline's own modules
(weather.*) exactly as the programs do.
"""
from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PYTHON = ROOT / ".venv" / "bin" / "python"
KAFKA_JARS = ROOT / "var" / "jars" / "kafka"
SPARK_KAFKA_JARS = ROOT / "var" / "jars" / "spark-kafka"
SPARK_DELTA_JARS = ROOT / "var" / "jars" / "spark-delta"  # bench/pom-delta.xml
for path in (str(SRC), str(ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)

from weather.common import waiting  # noqa: E402

BENCH_DATABASE = "CS544_bench"  # never the pipeline's CS544: other developers test against it


@dataclass
class Run:
    """One benchmark run's isolated names: its topics, HDFS folder, checkpoints and database."""
    bootstrap: str
    db_server_url: str  # DB_URL without the database, e.g. mysql+mysqlconnector://root:abc@127.0.0.1:3306
    db_query: str  # DB_URL's query string (charset, collation), kept as the stack gives it
    hdfs: str  # hdfs://host:port
    replication: int = 1  # of the topics the bench creates itself: the stack's TOPIC_REPLICATION_FACTOR
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    @property
    def database(self) -> str:
        # One database per run: two benches on the shared stack would otherwise truncate and drop each other's
        return f"{BENCH_DATABASE}_{self.run_id}"

    @property
    def db_url(self) -> str:
        return f"{self.db_server_url}/{self.database}{self.db_query}"

    @property
    def local_dir(self) -> Path:
        return ROOT / "var" / "bench" / self.run_id

    @property
    def hdfs_dir(self) -> str:
        return f"{self.hdfs}/bench/{self.run_id}"

    def topic(self, name: str) -> str:
        return f"bench-{self.run_id}-{name}"

    def pipeline_env(self, topic: str, name: str) -> dict[str, str]:
        """Environment for producer.py / consumer.py: everything pointed at this run's own places."""
        env = dict(os.environ)
        env.update(KAFKA_BOOTSTRAP_SERVERS=self.bootstrap, DB_URL=self.db_url, TOPIC=topic, TOPIC_PARTITIONS="4",
                   DATA_URL=f"{self.hdfs_dir}/{name}", CHECKPOINT_DIR=str(self.local_dir / name / "checkpoints"),
                   PYTHONUNBUFFERED="1")
        return env


def run_from_env() -> Run:
    """The stack's endpoints as `make env` exports them (KAFKA_BOOTSTRAP_SERVERS, DB_URL, DATA_URL)."""
    db_url = os.environ["DB_URL"]
    server, _, rest = db_url.rpartition("/")
    query = rest[rest.index("?"):] if "?" in rest else ""
    data = os.environ["DATA_URL"]
    hdfs = re.match(r"hdfs://[^/]+", data)
    if not hdfs:
        raise SystemExit(f"DATA_URL={data!r}: the benchmark writes to HDFS, give an hdfs:// URL")
    return Run(bootstrap=os.environ["KAFKA_BOOTSTRAP_SERVERS"], db_server_url=server, db_query=query,
               hdfs=hdfs.group(0), replication=int(os.environ.get("TOPIC_REPLICATION_FACTOR", "1")))


class Child:
    """A pipeline program run as its own process; its stderr lines are timestamped as they arrive."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        self.process = subprocess.Popen(args, env=env, cwd=SRC, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True)
        self.lines: list[tuple[float, str]] = []
        self._changed = threading.Condition()
        self._log = open(log_path, "w", buffering=1)  # line-buffered: a stuck run's log is readable
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stderr:
            with self._changed:
                self.lines.append((time.monotonic(), line))
                self._log.write(line)
                self._changed.notify_all()
        self._log.close()

    def wait_for_line(self, pattern: str, timeout: float) -> float:
        """Monotonic time at which a stderr line matching pattern arrived; RuntimeError on timeout or exit."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for at, line in self.lines[seen:]:
                    if regex.search(line):
                        return at
                seen = len(self.lines)
                if self.process.poll() is not None or time.monotonic() > deadline:
                    tail = "".join(line for _, line in self.lines[-5:])
                    raise RuntimeError(f"{self.process.args[1:]} never logged /{pattern}/ "
                                       f"(exit {self.process.poll()}):\n{tail}")
                self._changed.wait(0.05)

    def peak_rss_mb(self) -> float:
        """The process's peak resident set so far (VmHWM), in MB."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmHWM for pid {self.process.pid}")

    def stop(self) -> None:
        """SIGTERM (the programs' clean exit), then SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def median(values: list[float]) -> float:
    return statistics.median(values)


def rewrite_section(path: Path, begin: str, end: str, body: str) -> None:
    """Replace what stands between the markers begin and end in path with body."""
    text = path.read_text()
    start, stop = text.index(begin) + len(begin), text.index(end)
    path.write_text(text[:start] + "\n" + body + "\n" + text[stop:])


STALL_SECONDS = 60  # no progress for this long: a server is down (the stack is shared), fail instead of hanging


def wait_until(condition, timeout: float, interval: float, what: str) -> float:
    """Poll condition() until true; the monotonic time it was first seen true."""
    try:
        return waiting.wait_until(lambda: condition() and time.monotonic(), timeout, what, every=interval)
    except waiting.TimedOut:
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}") from None


def wait_for_count(count_now, target: int, timeout: float, interval: float, what: str) -> float:
    """Poll count_now() until it reaches target; the monotonic time it did. Fails after STALL_SECONDS
    without any increase as well as after timeout."""
    last, now = -1, time.monotonic()  # the count last seen, and when it was looked at
    last_change = now  # when the count last changed

    def stuck() -> RuntimeError:
        return RuntimeError(f"{what}: {last} of {target} after {now - last_change:.0f} s without progress "
                            f"(timeout {timeout:.0f} s); are all servers up? (make status)")

    def reached_at() -> float | None:
        nonlocal last, now, last_change
        count, now = count_now(), time.monotonic()
        if count >= target:
            return now
        if count != last:
            last, last_change = count, now
        if now - last_change > STALL_SECONDS:
            raise stuck()
        return None

    try:
        return waiting.wait_until(reached_at, timeout, what, every=interval)
    except waiting.TimedOut:
        raise stuck() from None
