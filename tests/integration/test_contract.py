"""The specification's contract to the letter, as an automatic grader reads it."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import threading

from kafka import KafkaProducer

from weather.common.storage import open_storage
from world import SRC, wait_for

KEYS = {"station_id", "date", "degrees", "partition"}


def test_debug_prints_only_dicts_even_with_stderr_merged_into_stdout(pipeline):
    pipeline.start("weather_generator.py")
    pipeline.start("producer.py")
    wait_for(lambda: sum(pipeline.end_offsets().values()) > 0, 60, "the topic's first messages")
    # One stream for both, as `docker exec -t` gives a terminal.
    debug = subprocess.Popen([sys.executable, "debug.py"], cwd=SRC, env=pipeline.env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    lines: list[str] = []

    def read() -> None:
        for line in debug.stdout:
            lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_for(lambda: len(lines) > 50 or debug.poll() is not None, 60, "debug.py's first 50 lines")
    debug.terminate()
    assert debug.wait(timeout=30) == 0, lines[-20:]
    reader.join(timeout=30)  # what it printed while stopping belongs to the same stream
    assert len(lines) > 50, lines
    for line in lines:
        parsed = ast.literal_eval(line)
        assert isinstance(parsed, dict) and set(parsed) == KEYS, line


def test_after_a_run_with_dead_letters_the_data_folder_holds_only_batches_and_checkpoints_two_keys(pipeline):
    pipeline.start("producer.py")
    wait_for(lambda: pipeline.partitions() == [0, 1, 2, 3], 60, "the topic")
    raw = KafkaProducer(bootstrap_servers=pipeline.bootstrap, acks="all")
    raw.send(pipeline.topic, key=b"garbage", value=b"\xff not a Report", partition=1).get(timeout=30)
    raw.close()
    pipeline.insert([("StationA", "2001-01-01", 1.0), ("StationB", "2001-01-01", 2.0)])
    consumers = [pipeline.start("consumer.py", str(p)) for p in range(4)]
    wait_for(lambda: sum(json.loads((pipeline.checkpoint_dir / f"partition-{p}.json").read_text())["offset"]
                         for p in range(4) if (pipeline.checkpoint_dir / f"partition-{p}.json").exists())
             == sum(pipeline.end_offsets().values()), 60, "everything committed")
    for consumer in consumers:
        assert consumer.stop() == 0
    data = open_storage(pipeline.data_url)
    assert data.names() and all(name.startswith("partition-") and name.endswith(".parquet") for name in data.names())
    dead = open_storage(pipeline.data_url.rsplit("/", 1)[0] + "/deadletter")
    assert dead.names() == ["partition-1-batch-0.jsonl"]
    for path in pipeline.checkpoint_dir.glob("partition-*.json"):
        assert list(json.loads(path.read_text())) == ["batch_id", "offset"]


def test_a_consumer_started_long_before_its_topic_waits_and_then_commits(pipeline):
    env = {key: value for key, value in pipeline.env.items() if key != "STARTUP_WAIT_SECONDS"}
    pipeline.log_dir.mkdir(parents=True, exist_ok=True)
    with open(pipeline.log_dir / "early-consumer.err", "wb") as err:
        early = subprocess.Popen([sys.executable, "consumer.py", "0"], cwd=SRC, env=env, stderr=err,
                                 stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    waiting = re.compile(rf"looking up topic {pipeline.topic} failed .*\(waiting for (\d+) s\)")

    def waited() -> int:
        """Seconds the consumer says it has waited for its topic (it stays in the log once said)."""
        said = (pipeline.log_dir / "early-consumer.err").read_text()
        assert early.poll() is None, f"the consumer gave up waiting for its topic:\n{said}"
        return max((int(seconds) for seconds in waiting.findall(said)), default=0)

    try:
        # Past the 60 s that STARTUP_WAIT_SECONDS gives the programs by default: without it, no limit.
        wait_for(lambda: waited() >= 65, 120, "the consumer to say it has waited 65 s for its topic")
        said = (pipeline.log_dir / "early-consumer.err").read_text()
        waits = said.count(f"looking up topic {pipeline.topic} failed")
        assert 5 <= waits <= 9 and "start producer.py" in said, said  # about one line every 10 s
        pipeline.start("producer.py")
        pipeline.insert([(f"Station{letter}", "2001-01-01", 1.0) for letter in "ABCDEFGHIJ"])
        wait_for(lambda: (pipeline.checkpoint_dir / "partition-0.json").exists(), 60, "the first commit")
    finally:
        early.terminate()
        early.wait(timeout=30)
    assert early.returncode == 0
    assert os.path.exists(pipeline.checkpoint_dir / "partition-0.json")
