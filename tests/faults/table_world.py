"""Helpers of the table layer's tests: a small pipeline to compact, the compactor run once, the rows each
reader sees (our snapshot, DuckDB, Spark), compared as multisets."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import duckdb
import pyarrow.parquet as pq

from consumer_world import settings, wait_caught_up
from world import ROOT, wait_for
from weather.common import batches
from weather.common.storage import open_storage
from weather.common.table import TableVersion
from weather.read import snapshot

SMALL_BATCHES = {"CONSUMER_MAX_POLL_RECORDS": "10"}


def readings(first_day, days):
    return [(f"Station{s}", f"2003-{1 + (d // 28) % 12:02d}-{1 + d % 28:02d}", d + i / 10)
            for d in range(first_day, first_day + days) for i, s in enumerate("ABCDEFGHIJ")]


def multiset(table):
    return Counter(zip(table["station_id"].to_pylist(), table["date"].to_pylist(), table["degrees"].to_pylist()))


def start_pipeline(pipeline, days=20):
    producer = pipeline.start("producer.py")
    wait_for(lambda: pipeline.partitions() == [0, 1, 2, 3], 60, "the topic")
    pipeline.insert(readings(0, days))
    consumers = [pipeline.start("consumer.py", str(p), **SMALL_BATCHES) for p in range(4)]
    wait_for(lambda: sum(pipeline.end_offsets().values()) == 10 * days, 60, "every row in Kafka")
    wait_caught_up(pipeline)
    return [producer, *consumers]


def insert_and_commit(pipeline, first_day, days):
    """More readings, once every one of them is committed by the consumers."""
    expected = sum(pipeline.end_offsets().values()) + 10 * days
    pipeline.insert(readings(first_day, days))
    wait_for(lambda: sum(pipeline.end_offsets().values()) == expected, 60, "the new rows in Kafka")
    wait_caught_up(pipeline)


def compact_once(pipeline, **env):
    done = pipeline.run("compactor.py", "--once", timeout=180, **env)
    assert done.returncode == 0, done.stderr
    return done


def table_part(pipeline):
    """The table's rows as standard engines see them: DuckDB over the table's Arrow dataset."""
    version = TableVersion.latest(settings(pipeline).table_url)
    if version.delta is None:  # no table yet
        return batches.SCHEMA.empty_table()
    dataset = version.delta.to_pyarrow_dataset()  # noqa: F841 (DuckDB finds it by name)
    return duckdb.sql("select station_id, date, degrees from dataset").to_arrow_table()


def snapshot_views(pipeline):
    config = settings(pipeline)
    return snapshot.read_views(open_storage(pipeline.data_url), config.checkpoint_dir, config.table_url, range(4))


def spark_rows(table_url, out_path):
    """The table's rows as Spark's Delta reader sees them, read in a process of its own (bench/spark_table.py)."""
    done = subprocess.run([sys.executable, "-m", "bench.spark_table", table_url, "--out", str(out_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, f"Spark failed (exit {done.returncode}):\n{done.stdout}{done.stderr[-5000:]}"
    found = json.loads(done.stdout.strip().splitlines()[-1])
    rows = pq.read_table(out_path)
    assert rows.num_rows == found["rows"]
    return rows
