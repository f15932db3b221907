"""Freshness: from a row's insert commit to the checkpoint that makes it visible to readers.

The pipeline runs as in production (producer.py + four consumer.py on a fresh topic) while the
bench inserts generator rows at a fixed rate, several rows per transaction when more than one is
due, recording each row's commit time. A watcher reads each checkpoint's ctime (set by the rename
that publishes it) every few milliseconds. Afterwards the topic is read back: each message's
row_id header gives its partition and offset, and the first checkpoint whose offset passes it is
the moment the row became visible.
"""
from __future__ import annotations

import bisect
import os
import threading
import time

from sqlalchemy import text

from bench import drain
from bench.common import PYTHON, Child, Run, median, wait_until
from bench.database import INSERT, rows
from bench.broker import TopicWatch, wait_topic
from weather.common import batches, checkpoint, waiting
from weather.common import database
from weather.common.storage import open_storage
from weather.common.table import Covered, TableVersion

WATCH_INTERVAL = 0.005  # seconds between checkpoint looks: the bound on how late a visibility is seen
WINDOWS = 3  # the run is cut in this many equal windows; each statistic is the median of the windows'
COMPACTOR_READY = r"folding the committed batches"  # logged once it holds its lock, before its first cycle


class CheckpointWatcher(threading.Thread):
    """Records (ctime, offset) of every checkpoint version seen, per partition."""

    def __init__(self, folder: str, partitions: int) -> None:
        super().__init__(daemon=True)
        self.folder, self.partitions = folder, partitions
        self.seen: dict[int, list[tuple[float, int]]] = {p: [] for p in range(partitions)}
        self.stopping = threading.Event()

    def run(self) -> None:
        last = {p: 0 for p in range(self.partitions)}
        while not self.stopping.is_set():
            for p in range(self.partitions):
                path = checkpoint.checkpoint_path(self.folder, p)
                try:
                    changed = os.stat(path).st_ctime_ns
                except FileNotFoundError:
                    continue
                if changed != last[p]:
                    saved = checkpoint.load(self.folder, p)
                    last[p] = changed
                    self.seen[p].append((changed / 1e9, saved.offset))
            time.sleep(WATCH_INTERVAL)

    def offsets(self) -> dict[int, int]:
        return {p: seen[-1][1] if seen else 0 for p, seen in self.seen.items()}


def insert_at_rate(run: Run, rate: float, seconds: float) -> dict[int, float]:
    """Insert generator rows (ids 1, 2, ...) at `rate` rows/s for `seconds`; {id: wall-clock commit time}."""
    engine = database.connect(run.db_url)
    generated = rows(int(rate * seconds))
    committed: dict[int, float] = {}
    started = time.monotonic()
    with engine.connect() as connection:
        while True:
            due = min(int(rate * (time.monotonic() - started)) + 1, int(rate * seconds))
            batch = [next(generated) for _ in range(due - len(committed))]
            if batch:
                connection.execute(INSERT, batch)
                connection.commit()
                at = time.time()
                committed.update((row["id"], at) for row in batch)
            if len(committed) >= int(rate * seconds):
                break
            time.sleep(max(0.0, started + (len(committed)) / rate - time.monotonic()))
    engine.dispose()
    return committed


def table_covers_checkpoints(data_url: str, checkpoint_dir: str, table_url: str, partitions: int) -> bool:
    """The table's newest version covers every partition's checkpoint, in the topic incarnation of its last batch."""
    storage = open_storage(data_url)
    version = TableVersion.latest(table_url)
    for partition in range(partitions):
        saved = checkpoint.load(checkpoint_dir, partition)
        if saved is None:
            continue
        topic_id = batches.read_info(storage, partition, saved.batch_id).topic_id or ""
        if version.covered(partition, topic_id) != Covered(saved.batch_id, saved.offset):
            return False
    return True


def percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {"p50_ms": 1000 * ordered[len(ordered) // 2], "p99_ms": 1000 * ordered[int(len(ordered) * 0.99)],
            "max_ms": 1000 * ordered[-1]}


def measure(run: Run, rate: float, seconds: float, extra_env: dict[str, str] | None = None, tag: str = "",
            compactor: bool = False) -> dict:
    """Freshness at one insert rate; also the rows per Parquet file and the processes' peak RSS.

    extra_env overrides the pipeline's settings (e.g. PRODUCER_IDLE_POLL) for this measurement only;
    tag tells its topic and folders apart from another measurement at the same rate; compactor: with
    compactor.py running too (its own table), and how long the table took to catch up at the end.
    """
    name = f"fresh-{int(rate)}{tag}"
    topic = run.topic(name)
    env = {**run.pipeline_env(topic, name), "TABLE_URL": f"{run.hdfs_dir}/{name}-table", **(extra_env or {})}
    with database.connect(run.db_url).connect() as connection:
        connection.execute(text("TRUNCATE TABLE temperatures"))
        connection.commit()
    producer = Child([str(PYTHON), "producer.py"], env, run.local_dir / name / "producer.log")
    consumers: list[Child] = []
    compactors: list[Child] = []
    table_figures = {}
    watcher = CheckpointWatcher(env["CHECKPOINT_DIR"], drain.PARTITIONS)
    try:
        producer.wait_for_line(drain.PRODUCER_READY, timeout=60)
        wait_topic(run.bootstrap, topic, timeout=30)
        consumers = drain.start_consumers(run, topic, name, env)
        for consumer in consumers:
            consumer.wait_for_line(drain.CONSUMER_READY, timeout=60)
        if compactor:
            compactors.append(Child([str(PYTHON), "compactor.py"], env, run.local_dir / name / "compactor.log"))
            compactors[0].wait_for_line(COMPACTOR_READY, timeout=120)
        watcher.start()
        committed = insert_at_rate(run, rate, seconds)
        watch = TopicWatch(run.bootstrap, topic, drain.PARTITIONS)
        watch.wait_total(len(committed), timeout=60, interval=0.05)
        ends = watch.end_offsets()
        try:
            waiting.wait_until(lambda: all(watcher.offsets()[p] >= ends[p] for p in ends), 60,
                               "the checkpoints at the log ends", every=0.05)
        except waiting.TimedOut:
            raise RuntimeError(f"checkpoints {watcher.offsets()} never reached the log ends {ends}") from None
        watcher.stopping.set()
        watcher.join()
        if compactors:
            wait_until(lambda: table_covers_checkpoints(env["DATA_URL"], env["CHECKPOINT_DIR"], env["TABLE_URL"],
                                                        drain.PARTITIONS),
                       timeout=300, interval=0.2, what="the table to cover every checkpoint")
            last_commit = max(seen[-1][0] for seen in watcher.seen.values() if seen)  # wall clock, as ctimes are
            table_figures = {"table_caught_up_s": time.time() - last_commit,
                             "compactor_peak_rss_mb": compactors[0].peak_rss_mb()}
        messages = watch.messages()
        watch.close()
        rss = {"producer_peak_rss_mb": producer.peak_rss_mb(),
               "consumer_peak_rss_mb": max(consumer.peak_rss_mb() for consumer in consumers)}
    finally:
        watcher.stopping.set()
        for child in [producer, *consumers, *compactors]:
            child.stop()
    latency_by_id, producer_share, consumer_share = {}, {}, {}
    for message in messages:
        row_id = int(dict(message.headers)["row_id"])
        seen = watcher.seen[message.partition]
        first = bisect.bisect_right([offset for _, offset in seen], message.offset)
        latency_by_id[row_id] = seen[first][0] - committed[row_id]
        # The record's CreateTime is stamped by the producer's send(): before it, the row waited in the
        # table for the producer's next page (idle poll, query); after it, Kafka's acknowledgement, the
        # consumer's poll and gathering, the Parquet write and close, the rename and the checkpoint.
        producer_share[row_id] = message.timestamp / 1000 - committed[row_id]
        consumer_share[row_id] = seen[first][0] - message.timestamp / 1000
    if sorted(latency_by_id) != sorted(committed):
        raise RuntimeError(f"{len(committed)} rows inserted but {len(latency_by_id)} distinct rows in the topic")
    ids = sorted(latency_by_id)
    windows = [percentiles([latency_by_id[i] for i in ids[w * len(ids) // WINDOWS:(w + 1) * len(ids) // WINDOWS]])
               for w in range(WINDOWS)]
    files = sum(checkpoint.load(env["CHECKPOINT_DIR"], p).batch_id + 1 for p in range(drain.PARTITIONS))
    return {"rate": rate, "seconds": seconds, "rows": len(committed), "settings": extra_env or {},
            **{key: median([window[key] for window in windows]) for key in windows[0]},
            "insert_to_send": percentiles(list(producer_share.values())),
            "send_to_checkpoint": percentiles(list(consumer_share.values())),
            "windows": windows, "rows_per_file": len(committed) / files, **rss, **table_figures}
