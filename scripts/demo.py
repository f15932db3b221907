"""Run the whole pipeline on the local stack and show its progress: `make demo`.

Starts afresh (empty table, no topic, no batch files, no checkpoints, an empty table layer), then runs
the generator, the producer, one consumer per partition and the compactor as subprocesses with the stack's environment (a variable
already set wins, e.g. CHECKPOINT_DIR=hdfs://127.0.0.1:9000/checkpoints), their logs in
var/log/demo-*.log. Every 2 s it prints rows in the table, messages per partition, committed
batches and rows per partition, and the lag. Ctrl-C (or DEMO_SECONDS elapsed) stops the generator,
lets the pipeline drain, stops the other programs with SIGTERM and prints what reader.py reads.
The dashboard (src/dashboard.py) runs alongside; its URL is printed first (DASHBOARD_PORT, default 8050).

    DEMO_DELAY    seconds per generated row (default 0.01; the specification's pace is 0.1)
    DEMO_SECONDS  stop by itself after this many seconds (default: run until Ctrl-C)
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
LOGS = ROOT / "var" / "log"
sys.path.insert(0, str(SRC))

import sqlalchemy  # noqa: E402
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition  # noqa: E402

from weather.common import checkpoint, topic, waiting  # noqa: E402
from weather.common.config import Settings  # noqa: E402
from weather.common.storage import open_storage  # noqa: E402
from weather.common.table import TableVersion  # noqa: E402

PROGRESS_EVERY = 2.0
DRAIN_SECONDS = 30  # how long the consumers get to commit what is in Kafka when stopping


def stack_environment() -> dict[str, str]:
    printed = subprocess.run([sys.executable, "-m", "stack", "env"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
    pairs = (line.removeprefix("export ").partition("=") for line in printed.splitlines())
    return {key: value.strip("'") for key, _, value in pairs}


def start_afresh(settings: Settings, engine: sqlalchemy.Engine) -> None:
    """Empty table, no topic, no batches, no checkpoints: the demo's counts then compare directly."""
    admin = KafkaAdminClient(**settings.kafka_options())
    try:
        topic.delete_topic(admin, settings.topic)
    finally:
        admin.close()
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("TRUNCATE TABLE temperatures"))
    for url in (settings.data_url, settings.deadletter_url):
        storage = open_storage(url)
        for name in storage.names():
            storage.delete(name)
    for partition in range(settings.partitions):
        checkpoint.remove(settings.checkpoint_dir, partition)  # a local file or one on HDFS
    layer = TableVersion.latest(settings.table_url)
    if layer.delta is not None:
        layer.delta.delete()  # one commit without rows; what it covered was of the topic just deleted


class Programs:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, script: str, *args: str) -> None:
        name = "-".join([script.removesuffix(".py"), *args])
        log = open(LOGS / f"demo-{name}.log", "w")
        # A session of its own: Ctrl-C reaches only the demo, which stops the programs in order.
        self.running[name] = subprocess.Popen([sys.executable, script, *args], cwd=SRC, env=self.env,
                                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        print(f"started {name} (pid {self.running[name].pid}), log var/log/demo-{name}.log", flush=True)

    def stop(self, *names: str) -> None:
        for name in names:
            self.running[name].send_signal(signal.SIGTERM)
        for name in names:
            code = self.running[name].wait(timeout=30)
            print(f"stopped {name}: exit code {code}", flush=True)

    def exited(self) -> list[str]:
        return [f"{name} (exit {process.returncode})" for name, process in self.running.items()
                if process.poll() is not None]


class Progress:
    def __init__(self, settings: Settings, engine: sqlalchemy.Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.consumer = KafkaConsumer(**settings.kafka_options(), enable_auto_commit=False)
        self.partitions = [TopicPartition(settings.topic, p) for p in range(settings.partitions)]

    def table_rows(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(sqlalchemy.text("SELECT COUNT(*) FROM temperatures")).scalar_one()

    def snapshot(self) -> tuple[int, dict[int, int], dict[int, checkpoint.Checkpoint | None]]:
        ends = {tp.partition: offset for tp, offset in self.consumer.end_offsets(self.partitions).items()}
        saved = {p: checkpoint.load(self.settings.checkpoint_dir, p) for p in ends}
        return self.table_rows(), ends, saved

    def report(self, elapsed: float) -> bool:
        """Print one progress block; True when everything in Kafka is committed."""
        rows, ends, saved = self.snapshot()
        # One message per row and batches that tile the offsets from 0: committed rows = checkpoint offset.
        committed = {p: saved[p].offset if saved[p] else 0 for p in ends}
        batches = {p: saved[p].batch_id + 1 if saved[p] else 0 for p in ends}
        print(f"[{elapsed:6.1f} s] table {rows} rows | in Kafka {sum(ends.values())} | committed "
              f"{sum(committed.values())} rows in {sum(batches.values())} batches | lag "
              f"{sum(ends.values()) - sum(committed.values())}", flush=True)
        print("    " + "   ".join(f"p{p}: {ends[p]} msgs, {batches[p]} batches, {committed[p]} rows, lag "
                                  f"{ends[p] - committed[p]}" for p in sorted(ends)), flush=True)
        return rows == sum(ends.values()) == sum(committed.values())


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    # Explicit handlers: a shell may start the demo with SIGINT ignored, and SIGTERM must drain too.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    env = {**stack_environment(), **os.environ, "AUTOGRADER_DELAY_OVERRIDE_VAL": os.environ.get("DEMO_DELAY", "0.01")}
    seconds = float(os.environ["DEMO_SECONDS"]) if os.environ.get("DEMO_SECONDS") else None
    settings = Settings.from_env(env=env)
    engine = sqlalchemy.create_engine(settings.db_url)
    LOGS.mkdir(parents=True, exist_ok=True)
    print(f"starting afresh: topic {settings.topic}, table temperatures, {settings.data_url}, "
          f"{settings.checkpoint_dir}", flush=True)
    start_afresh(settings, engine)

    programs = Programs(env)
    programs.start("dashboard.py")  # the live page over the committed data, from the first batch on
    print(f"dashboard: http://127.0.0.1:{env.get('DASHBOARD_PORT', '8050')}/", flush=True)
    programs.start("weather_generator.py")
    programs.start("producer.py")
    probe = KafkaConsumer(**settings.kafka_options())
    # consumers start once the producer has created the topic
    waiting.wait_until(lambda: len(probe.partitions_for_topic(settings.topic) or ()) >= settings.partitions, None,
                       f"topic {settings.topic}'s partitions")
    probe.close()
    consumers = [f"consumer-{p}" for p in range(settings.partitions)]
    for partition in range(settings.partitions):
        programs.start("consumer.py", str(partition))
    programs.start("compactor.py")  # folds committed batches into the table layer every 10 s
    progress = Progress(settings, engine)
    began = time.monotonic()
    try:
        while seconds is None or time.monotonic() - began < seconds:
            time.sleep(PROGRESS_EVERY)
            progress.report(time.monotonic() - began)
            if programs.exited():
                print(f"stopping: {', '.join(programs.exited())} ended by itself; see var/log/demo-*.log")
                break
    except KeyboardInterrupt:
        print("\nstopping: the generator first, then the pipeline drains", flush=True)
    programs.stop("weather_generator")
    try:
        waiting.wait_until(lambda: progress.report(time.monotonic() - began), DRAIN_SECONDS, "drained", every=1)
    except waiting.TimedOut:
        pass  # not drained in DRAIN_SECONDS: stopped anyway, the last progress block shows the lag
    programs.stop("producer", *consumers, "compactor", "dashboard")
    print("committed data (eval \"$(make -s env)\" && .venv/bin/python src/reader.py):", flush=True)
    subprocess.run([sys.executable, "reader.py"], cwd=SRC, env=env)
    return 1 if any(code for code in (p.returncode for p in programs.running.values())) else 0


if __name__ == "__main__":
    sys.exit(main())
