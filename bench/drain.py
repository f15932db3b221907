"""Drains: the real producer.py moving the table into a fresh topic, the real consumer.py processes
moving the topic into committed Parquet batches on HDFS, and the Spark peer on the same topics."""
from __future__ import annotations

import json
import os
import subprocess
import time

from bench import broker
from bench.common import PYTHON, ROOT, SRC, Child, Run, median, wait_for_count
from bench.broker import TopicWatch
from weather.common import checkpoint
from weather.read import committed
from weather.common.storage import open_storage

PARTITIONS = 4
PRODUCER_READY = r"created topic"  # logged once the topic exists, just before the producer connects
CONSUMER_READY = r"from offset"  # logged once assigned and seeked, just before the first poll


def producer(run: Run, topic: str, name: str, count: int, timeout: float, env: dict[str, str] | None = None) -> dict:
    """Start producer.py on the loaded table (env: variables to add); rows/s from its topic being ready until
    all `count` are acked."""
    child = Child([str(PYTHON), "producer.py"], {**run.pipeline_env(topic, name), **(env or {})},
                  run.local_dir / name / "producer.log")
    try:
        ready = child.wait_for_line(PRODUCER_READY, timeout=60)
        watch = TopicWatch(run.bootstrap, topic, PARTITIONS)
        done = watch.wait_total(count, timeout)
        watch.close()
        return {"rows_per_s": count / (done - ready), "rows_per_s_with_startup": count / (done - child.started),
                "peak_rss_mb": child.peak_rss_mb()}
    finally:
        child.stop()


def start_consumers(run: Run, topic: str, name: str, env: dict[str, str] | None = None) -> list[Child]:
    """consumer.py for each partition, with the run's pipeline environment unless given another."""
    env = env or run.pipeline_env(topic, name)
    return [Child([str(PYTHON), "consumer.py", str(p)], env, run.local_dir / name / f"consumer-{p}.log")
            for p in range(PARTITIONS)]


def checkpoints(run: Run, name: str) -> dict[int, checkpoint.Checkpoint | None]:
    folder = run.pipeline_env("", name)["CHECKPOINT_DIR"]
    return {p: checkpoint.load(folder, p) for p in range(PARTITIONS)}


def consumers(run: Run, topic: str, name: str, count: int, timeout: float, verify: bool) -> dict:
    """Four consumer.py processes on a filled topic; rows/s until every checkpoint reaches its log end."""
    watch = TopicWatch(run.bootstrap, topic, PARTITIONS)
    ends = watch.end_offsets()
    watch.close()
    children = start_consumers(run, topic, name)
    first_commit: dict[int, float] = {}

    def committed_offsets() -> int:
        """Rows committed so far over all partitions; notes each partition's first commit."""
        saved = checkpoints(run, name)
        for p, point in saved.items():
            if point and p not in first_commit:
                first_commit[p] = time.monotonic()
        return sum(min(point.offset, ends[p]) for p, point in saved.items() if point)

    try:
        ready = min(child.wait_for_line(CONSUMER_READY, timeout=60) for child in children)
        now = wait_for_count(committed_offsets, sum(ends.values()), timeout, 0.02, "rows committed by the consumers")
        saved = checkpoints(run, name)
        files = sum(point.batch_id + 1 for point in saved.values())
        result = {"rows_per_s": count / (now - ready), "rows_per_s_with_startup": count / (now - children[0].started),
                  "startup_s": [first_commit[p] - children[p].started for p in range(PARTITIONS)],
                  "peak_rss_mb": max(child.peak_rss_mb() for child in children), "rows_per_file": count / files}
    finally:
        for child in children:
            child.stop()
    if verify:
        storage = open_storage(run.pipeline_env(topic, name)["DATA_URL"])
        table = committed.read_committed(storage, run.pipeline_env(topic, name)["CHECKPOINT_DIR"], range(PARTITIONS))
        if table.num_rows != count:
            raise RuntimeError(f"committed batches hold {table.num_rows} rows, expected {count}")
    return result


def against_kafka_tools(run: Run, count: int, reps: int, tag: str, record_size: int) -> tuple[dict, list[str]]:
    """Each repetition: the producer drain then ProducerPerformance, the consumer drain then ConsumerPerformance
    on the topic just filled (each figure next to its limit, on the same broker state). The figures (medians,
    peak RSS over the repetitions) and the filled topics, for the Spark peer."""
    timeout = max(300, count / 200)  # generous: a stuck drain fails instead of hanging
    produced, producer_perf, consumed, consumer_perf, topics = [], [], [], [], []
    for rep in range(reps):
        name = f"drain{tag}-{rep}"
        topics.append(run.topic(name))
        print(f"{tag} rep {rep + 1}/{reps}: producer drain, ProducerPerformance", flush=True)
        produced.append(producer(run, topics[-1], name, count, timeout))
        producer_perf.append(broker.producer_performance(run.bootstrap, run.topic(f"pp{tag}-{rep}"), count,
                                                         record_size, run.replication))
        print(f"{tag} rep {rep + 1}/{reps}: consumer drain, ConsumerPerformance", flush=True)
        consumed.append(consumers(run, topics[-1], name, count, timeout, verify=rep == 0))
        consumer_perf.append(broker.consumer_performance(run.bootstrap, topics[-1], count,
                                                         run.topic(f"group{tag}-{rep}")))
    figures = {
        "producer_drain": {"runs": produced, "rows_per_s": median([r["rows_per_s"] for r in produced]),
                           "peak_rss_mb": max(r["peak_rss_mb"] for r in produced)},
        "producer_performance": {"runs": producer_perf, "records_per_s": median(producer_perf)},
        "consumer_drain": {"runs": consumed, "rows_per_s": median([r["rows_per_s"] for r in consumed]),
                           "peak_rss_mb": max(r["peak_rss_mb"] for r in consumed),
                           "startup_s": median([s for r in consumed for s in r["startup_s"]]),
                           "rows_per_file": median([r["rows_per_file"] for r in consumed])},
        "consumer_performance": {"runs": consumer_perf, "records_per_s": median(consumer_perf)},
    }
    return figures, topics


def spark(run: Run, topics: list[str], count: int) -> dict:
    """The Spark peer on the given (filled) topics, one session; per-topic rows/s of the query alone."""
    # Spark's Python workers: the venv's interpreter, importing weather.common.report for the decoder
    env = dict(os.environ, PYTHONPATH=f"{SRC}:{ROOT}", PYSPARK_PYTHON=str(PYTHON))
    log = run.local_dir / "spark.log"
    with open(log, "w") as stderr:
        result = subprocess.run([str(PYTHON), "-m", "bench.spark_peer", run.bootstrap, f"{run.hdfs_dir}/spark",
                                 str(run.local_dir / "spark-checkpoints"), *topics],
                                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"Spark peer failed (exit {result.returncode}); see {log}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for one in report["runs"]:
        if one["rows"] != count:
            raise RuntimeError(f"Spark committed {one['rows']} rows of {one['topic']}, expected {count}")
    return {"startup_s": report["startup_seconds"], "rows_per_s": [count / one["seconds"] for one in report["runs"]]}
