"""`make bench-reading` (also run by `make bench`): reading a backlog of one-row batch files before and after
the compactor folds it into the table layer, and freshness with the compactor running (issue 18's benchmark).

    .venv/bin/python bench/reading.py [--files N] [--writers W] [--fresh-seconds S]

Needs the local stack up and `make env`'s variables. In one run, in places of its own
(hdfs://…/bench/<run>/, local checkpoints in var/bench/<run>/, topics bench-<run>-*, database CS544_bench_<run>):
1. a backlog of N one-row batch files (BENCH_READING_FILES, 20,000 by default: what this shared 2-core
   machine writes in about ten minutes; the issue asks for 100,000, which took ~55 minutes here),
   written by a loader, not by the consumer: each file is a real batch (weather.common.batches:
   build_table, the metadata of its offset, topic id and row id; the storage's own temp write, close
   and rename), W writes at once, spread over the four partitions, then each partition's checkpoint
   (weather.common.checkpoint.save) covering all of them;
2. `reader.py` on it (every file read), its wall time;
3. `compactor.py` until the table covers every checkpoint: rows/s and files/s folded;
4. `reader.py` again, now through the snapshot (the table, no raw tail), and the same read in this
   process; DuckDB (over deltalake's Arrow dataset) and Spark (Delta's reader, bench/spark_table.py)
   reading the table;
5. `compactor.py --once` with RAW_RETENTION_SECONDS=0: the raw files the table covers deleted;
6. the table grown to a day's rows (864,000) by appending copies of its rows, read through the snapshot
   by `reader.py` and by DuckDB;
7. freshness (bench/freshness.py) at 10 and 1,000 rows/s without and with compactor.py running.
The NameNode's FilesTotal and BlocksTotal (JMX) are read before the backlog, after it and after the
retention; the stack is shared, so the folder's own file count is given beside them.
Writes the "reading" section of bench/results.json (the other sections are kept) and the marked
section of BENCHMARKS.md; removes what it created at the end (logs stay in var/bench/<run> on failure).
"""
from __future__ import annotations

import argparse
import datetime
import itertools
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench` and `stack` as packages

import duckdb  # noqa: E402
import hdfs_native  # noqa: E402
import pyarrow as pa  # noqa: E402
from deltalake import DeltaTable, write_deltalake  # noqa: E402

from bench import broker, database, freshness  # noqa: E402
from bench.common import PYTHON, ROOT, Child, rewrite_section, run_from_env, wait_until  # noqa: E402
from stack.hdfs import namesystem  # noqa: E402
from weather.common import batches, checkpoint, table  # noqa: E402
from weather.common.batches import BatchInfo, OffsetRange  # noqa: E402
from weather.common.config import Settings  # noqa: E402
from weather.common.storage import ERRORS, HdfsStorage, open_storage  # noqa: E402
from weather.common.table import TableVersion  # noqa: E402
from weather.common.waiting import retry  # noqa: E402
from weather.read import snapshot  # noqa: E402
from weather_generator import readings  # noqa: E402

log = logging.getLogger("reading")
RESULTS = ROOT / "bench" / "results.json"
BENCHMARKS = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- reading:begin (written by bench/reading.py) -->", "<!-- reading:end -->"
PARTITIONS = 4
TOPIC_ID = "cmVhZGluZy1iZW5jaG1hcms"  # the backlog's topic incarnation: any fixed id, as Kafka's are base64
DAY_ROWS = 864_000  # a day at the specification's 10 rows/s
TARGETS = {"day_snapshot_read_s": 2.0, "compaction_rows_per_s": 1000, "freshness_p99_ms": 250}
RATES = (10, 1000)  # rows/s of the freshness measurements with the compactor running
WRITE_GIVE_UP = 600.0  # seconds a write is retried: a shared stack's DataNode or NameNode restarting meanwhile
READS = 3  # of each in-process and engine read: the first is reported, the others show the warm cost


def pipeline_env(data_url: str, checkpoint_dir: str, **extra: str) -> dict[str, str]:
    """reader.py's and compactor.py's environment: the backlog's own data, checkpoints and table."""
    return {**os.environ, "DATA_URL": data_url, "CHECKPOINT_DIR": checkpoint_dir, "TOPIC_PARTITIONS": str(PARTITIONS),
            "PYTHONUNBUFFERED": "1", **extra}


# -- the backlog ------------------------------------------------------------------------------------------
class Loader:
    """Writes one-row batch files as the consumer commits them, W at a time: row i is batch i // 4 of
    partition i % 4, holding offset i // 4 of the backlog's topic, its row id i + 1."""

    def __init__(self, data_url: str, checkpoint_dir: str, writers: int) -> None:
        self.data_url, self.checkpoint_dir, self.writers = data_url, checkpoint_dir, writers
        self._storage = threading.local()  # one HDFS client per writer thread

    def storage(self) -> HdfsStorage:
        if not hasattr(self._storage, "it"):
            self._storage.it = open_storage(self.data_url)
        return self._storage.it

    def write(self, index: int, row: tuple) -> None:
        station_id, date, degrees = row
        partition, batch_id = index % PARTITIONS, index // PARTITIONS
        info = BatchInfo(OffsetRange(batch_id, batch_id), TOPIC_ID, high_water=index + 1)
        table = batches.build_table([str(date)], [degrees], [station_id], info)
        retry(lambda: batches.publish(self.storage(), partition, batch_id,
                                      batches.write_temp(self.storage(), partition, batch_id, table)),
              f"writing batch {batch_id} of partition {partition}", log, ERRORS, WRITE_GIVE_UP)

    def load(self, files: int) -> dict:
        open_storage(self.data_url).ensure_folder()
        started = time.monotonic()
        with ThreadPoolExecutor(self.writers, thread_name_prefix="loader") as pool:
            list(pool.map(lambda pair: self.write(*pair), enumerate(itertools.islice(readings(), files))))
        for partition in range(PARTITIONS):
            last = (files - 1 - partition) // PARTITIONS  # the partition's last batch id
            checkpoint.save(self.checkpoint_dir, partition, checkpoint.Checkpoint(last, last + 1))
        seconds = time.monotonic() - started
        return {"seconds": seconds, "files_per_s": files / seconds, "writers": self.writers}


# -- measurements ---------------------------------------------------------------------------------------
def namenode_objects() -> dict[str, int]:
    state = namesystem()
    return {"files": state["FilesTotal"], "blocks": state["BlocksTotal"]}


def folder_files(hdfs: str, folder: str) -> int:
    """Files under the folder (the backlog's and the table's), as the NameNode counts them."""
    return hdfs_native.Client(hdfs).get_content_summary(folder).file_count


def timed_reader(env: dict[str, str], rows: int) -> float:
    """reader.py's wall time, start to exit; it must print every row's total."""
    started = time.monotonic()
    done = subprocess.run([str(PYTHON), "reader.py"], cwd=ROOT / "src", env=env, capture_output=True, text=True,
                          timeout=3600)
    seconds = time.monotonic() - started
    total = done.stdout.strip().splitlines()[-1].split() if done.stdout.strip() else []
    if done.returncode != 0 or total != ["total", str(rows)]:
        raise RuntimeError(f"reader.py (exit {done.returncode}) printed {total}, expected total {rows}:\n"
                           f"{done.stderr[-3000:]}")
    return seconds


def timed_reads(read, rows: int) -> list[float]:
    """Seconds of each of READS calls of read(), which must return every row."""
    found = []
    for _ in range(READS):
        started = time.monotonic()
        table = read()
        found.append(time.monotonic() - started)
        if table.num_rows != rows:
            raise RuntimeError(f"{table.num_rows} rows read, expected {rows}")
    return found


def duckdb_rows(table_url: str):
    dataset = TableVersion.latest(table_url).delta.to_pyarrow_dataset()  # noqa: F841 (DuckDB finds it by name)
    return duckdb.sql("select date, degrees, station_id from dataset").to_arrow_table()


def spark_reads(table_url: str, rows: int, log: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{ROOT}")
    with open(log, "w") as stderr:
        done = subprocess.run([str(PYTHON), "-m", "bench.spark_table", table_url, "--reads", str(READS)], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"Spark failed (exit {done.returncode}); see {log}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    if found["rows"] != rows:
        raise RuntimeError(f"Spark read {found['rows']} rows of the table, expected {rows}")
    return found


def compact(env: dict[str, str], log: Path, rows: int) -> dict:
    """compactor.py, running as in production, from its start-up line until the table covers every checkpoint."""
    compactor = Child([str(PYTHON), "compactor.py"], {**env, "COMPACT_EVERY_SECONDS": "1"}, log)
    try:
        ready = compactor.wait_for_line(freshness.COMPACTOR_READY, timeout=120)
        done = wait_until(lambda: freshness.table_covers_checkpoints(env["DATA_URL"], env["CHECKPOINT_DIR"],
                                                                     env["TABLE_URL"], PARTITIONS),
                          timeout=3600, interval=0.5, what="the table to cover every checkpoint")
        peak_rss_mb = compactor.peak_rss_mb()
    finally:
        compactor.stop()
    seconds = done - ready
    cycles = sum("batches" in line and "folded" in line for _, line in compactor.lines)
    return {"seconds": seconds, "rows_per_s": rows / seconds, "files_per_s": rows / seconds, "cycles": cycles,
            "peak_rss_mb": peak_rss_mb}


def retain(env: dict[str, str]) -> dict:
    """compactor.py --once with RAW_RETENTION_SECONDS=0: every raw file the table covers is deleted."""
    started = time.monotonic()
    done = subprocess.run([str(PYTHON), "compactor.py", "--once"], cwd=ROOT / "src",
                          env={**env, "RAW_RETENTION_SECONDS": "0"}, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"compactor.py --once with retention failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    seconds = time.monotonic() - started
    deleted = sum(int(found) for found in re.findall(r"(\d+) raw files deleted", done.stderr))
    return {"seconds": seconds, "files_deleted": deleted, "files_per_s": deleted / seconds}


def measure(run, files: int, writers: int) -> dict:
    data_url = f"{run.hdfs_dir}/reading/data"
    table_url = f"{run.hdfs_dir}/reading/warehouse/temperatures"
    folder = f"/bench/{run.run_id}/reading"
    checkpoint_dir = str(run.local_dir / "reading" / "checkpoints")
    env = pipeline_env(data_url, checkpoint_dir, TABLE_URL=table_url)
    figures: dict = {"backlog_files": files, "backlog_rows": files}
    figures["namenode_before_backlog"] = namenode_objects()
    print(f"writing {files:,} one-row batch files, {writers} at once", flush=True)
    figures["load"] = Loader(data_url, checkpoint_dir, writers).load(files)
    print(f"  {figures['load']['seconds']:.0f} s, {figures['load']['files_per_s']:,.0f} files/s", flush=True)
    before = namenode_objects()
    figures.update(namenode_files_before=before["files"], namenode_blocks_before=before["blocks"],
                   folder_files_before=folder_files(run.hdfs, folder))
    print("reader.py on the raw files", flush=True)
    figures["raw_read_s"] = timed_reader(env, files)
    print(f"  {figures['raw_read_s']:.1f} s; compacting", flush=True)
    figures["compaction"] = compact(env, run.local_dir / "reading" / "compactor.log", files)
    figures["compaction_rows_per_s"] = figures["compaction"]["rows_per_s"]
    figures["compaction_files_per_s"] = figures["compaction"]["files_per_s"]
    figures["table_files"] = TableVersion.latest(table_url).file_count()
    print(f"  {figures['compaction']['seconds']:.1f} s; reading through the snapshot", flush=True)
    figures["snapshot_read_s"] = timed_reader(env, files)
    storage = open_storage(data_url)
    figures["snapshot_read_in_process_s"] = timed_reads(
        lambda: snapshot.read_rows(storage, checkpoint_dir, table_url, range(PARTITIONS)), files)
    print("  DuckDB and Spark on the table", flush=True)
    figures["duckdb_reads_s"] = timed_reads(lambda: duckdb_rows(table_url), files)
    figures["duckdb_read_s"] = figures["duckdb_reads_s"][0]
    figures["spark"] = spark_reads(table_url, files, run.local_dir / "reading" / "spark.log")
    figures["spark_read_s"] = figures["spark"]["reads_s"][0]
    print("  raw retention", flush=True)
    figures["retention"] = retain(env)
    after = namenode_objects()
    figures.update(namenode_files_after=after["files"], namenode_blocks_after=after["blocks"],
                   folder_files_after=folder_files(run.hdfs, folder))
    print(f"  reading a table of a day's rows ({DAY_ROWS:,})", flush=True)
    figures["day"] = day_reads(env, storage, table_url, checkpoint_dir)
    figures["extrapolated"] = extrapolate(figures)
    return figures


def grow_table(table_url: str, rows: int) -> None:
    """Append copies of the table's rows until it holds `rows`, in one commit without application transactions:
    what the table covers stays, so the snapshot reads every row of it as its table part."""
    delta = DeltaTable(table_url)
    held = delta.to_pyarrow_table().select(table.SCHEMA.names).cast(table.SCHEMA)
    missing = rows - held.num_rows
    copies = pa.concat_tables([held] * -(-missing // held.num_rows)).slice(0, missing)
    write_deltalake(delta, copies, mode="append", partition_by=["partition"])


def day_reads(env: dict[str, str], storage, table_url: str, checkpoint_dir: str) -> dict:
    """The snapshot and DuckDB reading a table of a day's rows (DAY_ROWS), grown from the compacted backlog."""
    grow_table(table_url, DAY_ROWS)
    return {"rows": DAY_ROWS, "table_files": TableVersion.latest(table_url).file_count(),
            "snapshot_read_s": timed_reader(env, DAY_ROWS),
            "snapshot_read_in_process_s": timed_reads(
                lambda: snapshot.read_rows(storage, checkpoint_dir, table_url, range(PARTITIONS)), DAY_ROWS),
            "duckdb_reads_s": timed_reads(lambda: duckdb_rows(table_url), DAY_ROWS)}


def extrapolate(figures: dict) -> dict:
    """A day's worth (DAY_ROWS one-row files) from the measured costs: the raw read per file; through the snapshot,
    reader.py on the table of a day's rows plus a raw tail of what arrives between two compactor cycles
    (COMPACT_EVERY_SECONDS at 10 rows/s), at the raw read's cost per file."""
    raw_per_file = figures["raw_read_s"] / figures["backlog_files"]
    tail_files = Settings.compact_every * 10
    return {"rows": DAY_ROWS, "raw_read_s": raw_per_file * DAY_ROWS, "raw_tail_files": tail_files,
            "raw_tail_s": tail_files * raw_per_file,
            "snapshot_read_s": figures["day"]["snapshot_read_s"] + tail_files * raw_per_file,
            "compaction_s": DAY_ROWS / figures["compaction_rows_per_s"]}


def freshness_with_compactor(run, seconds: float) -> dict[str, list[dict]]:
    """Freshness (bench/freshness.py) at each of RATES without and then with compactor.py running beside the
    pipeline, in the same run, so their difference is the compactor's."""
    database.create(run)
    try:
        found: dict[str, list[dict]] = {"without": [], "with": []}
        for rate in RATES:
            for kind in found:
                print(f"freshness at {rate} rows/s for {seconds:.0f} s {kind} the compactor", flush=True)
                found[kind].append(freshness.measure(run, rate, seconds, tag=f"-{kind}", compactor=kind == "with"))
                found[kind][-1].pop("windows")
        return found
    finally:
        broker.delete_prefixed(run.bootstrap, run.topic(""))
        database.drop(run)


def targets_met(figures: dict) -> dict[str, bool]:
    met = {"day_snapshot_read_s": figures["extrapolated"]["snapshot_read_s"] <= TARGETS["day_snapshot_read_s"],
           "compaction_rows_per_s": figures["compaction_rows_per_s"] >= TARGETS["compaction_rows_per_s"]}
    for fresh in figures["freshness_with_compactor"]:
        met[f"freshness_p99_at_{int(fresh['rate'])}_with_compactor"] = fresh["p99_ms"] <= TARGETS["freshness_p99_ms"]
    return met


def report(results: dict) -> str:
    """The marked section of BENCHMARKS.md."""
    f, day, met = results, results["extrapolated"], results["targets_met"]
    yes = lambda ok: "met" if ok else "**not met**"  # noqa: E731
    warm = lambda reads: " / ".join(f"{s:.2f}" for s in reads)  # noqa: E731
    n = f["backlog_files"]
    ms_per_file = 1000 * f["raw_read_s"] / n
    objects = lambda key: (f"{f['namenode_before_backlog'][key]:,} → {f[f'namenode_{key}_before']:,} → "  # noqa: E731
                           f"{f[f'namenode_{key}_after']:,}")
    lines = [
        f"Run of {f['timestamp']}: a backlog of {n:,} one-row batch files ({n:,} rows), {f['cpu_count']} CPUs, "
        f"load average {f['load_average_start']:.1f} at the start and {f['load_average_end']:.1f} at the end "
        "(the machine is shared: the times are this run's, under that load). The backlog was written by the "
        f"benchmark's loader (real batch files and checkpoints through the pipeline's storage, {f['load']['writers']} "
        f"writes at once: {f['load']['seconds']:.0f} s, {f['load']['files_per_s']:,.0f} files/s, so 100,000 files "
        f"would take {100_000 / f['load']['files_per_s'] / 60:.0f} min), not by consumers. A day's worth "
        f"({DAY_ROWS:,} rows) is extrapolated from the measured costs, as below.",
        "",
        "| figure | measured | a day (864,000 one-row files), extrapolated | target |",
        "|---|---|---|---|",
        f"| `reader.py` on the raw files (before compaction), s | {f['raw_read_s']:.1f} ({ms_per_file:.2f} ms per file) "
        f"| {day['raw_read_s']:,.0f} ({day['raw_read_s'] / 60:,.1f} min) | |",
        f"| compactor, rows/s (= files/s: one row per file) | {f['compaction_rows_per_s']:,.0f} "
        f"({f['compaction']['seconds']:.1f} s, cycles: {f['compaction']['cycles']}, peak RSS "
        f"{f['compaction']['peak_rss_mb']:.0f} MB) | a day folded in {day['compaction_s']:,.0f} s | "
        f"keeps up with 1,000 rows/s: {yes(met['compaction_rows_per_s'])} |",
        f"| `reader.py` through the snapshot (after), s | {f['snapshot_read_s']:.2f} (the read alone, in process: "
        f"{warm(f['snapshot_read_in_process_s'])}) | {day['snapshot_read_s']:.2f}: `reader.py` on the table grown "
        f"to a day's rows {f['day']['snapshot_read_s']:.2f} (in process: {warm(f['day']['snapshot_read_in_process_s'])})"
        f" + a raw tail of {day['raw_tail_files']:.0f} files {day['raw_tail_s']:.2f} | "
        f"≤ {TARGETS['day_snapshot_read_s']:g} s: {yes(met['day_snapshot_read_s'])} |",
        f"| DuckDB over the table (deltalake's Arrow dataset), s | {warm(f['duckdb_reads_s'])} | "
        f"{warm(f['day']['duckdb_reads_s'])} (the table grown to a day's rows) | |",
        f"| Spark, Delta's reader (local[2]), s | {warm(f['spark']['reads_s'])} (session start "
        f"{f['spark']['session_s']:.1f}) | | |",
        f"| table files after compaction | {f['table_files']} | {f['day']['table_files']} (grown) | |",
        f"| raw retention (`compactor.py --once`, RAW_RETENTION_SECONDS=0), s | {f['retention']['seconds']:.1f} "
        f"({f['retention']['files_deleted']:,} files deleted, {f['retention']['files_per_s']:,.0f}/s) | | |",
        f"| NameNode FilesTotal (files and folders): before the backlog → with it → after retention | "
        f"{objects('files')} | | |",
        f"| NameNode BlocksTotal: the same three moments | {objects('blocks')} | | |",
        f"| files in the run's own folder: with the backlog → after retention | {f['folder_files_before']:,} → "
        f"{f['folder_files_after']:,} | | |",
    ]
    for fresh, alone in zip(f["freshness_with_compactor"], f["freshness_without_compactor"]):
        rate = int(fresh["rate"])
        lines.append(f"| freshness at {rate:,} rows/s with the compactor running ({fresh['seconds']:.0f} s), p50 / p99 / "
                     f"max ms | {fresh['p50_ms']:,.0f} / {fresh['p99_ms']:,.0f} / {fresh['max_ms']:,.0f} (without it, "
                     f"same run: {alone['p50_ms']:,.0f} / {alone['p99_ms']:,.0f} / {alone['max_ms']:,.0f}; the table "
                     f"caught up {fresh['table_caught_up_s']:.1f} s after the last commit; compactor peak RSS "
                     f"{fresh['compactor_peak_rss_mb']:.0f} MB) | | p99 ≤ {TARGETS['freshness_p99_ms']}: "
                     f"{yes(met[f'freshness_p99_at_{rate}_with_compactor'])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=int(os.environ.get("BENCH_READING_FILES", 20_000)),
                        help="one-row batch files in the backlog (default: BENCH_READING_FILES, else 20,000)")
    parser.add_argument("--writers", type=int, default=8, help="batch files the loader writes at once")
    parser.add_argument("--fresh-seconds", type=float, default=30, help="seconds of inserting per rate (default 30)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    run = run_from_env()
    print(f"reading bench run {run.run_id}; logs in {run.local_dir / 'reading'}", flush=True)
    load_start = os.getloadavg()[0]
    try:
        figures = measure(run, args.files, args.writers)
        fresh = freshness_with_compactor(run, args.fresh_seconds)
        figures.update(freshness_without_compactor=fresh["without"], freshness_with_compactor=fresh["with"])
    finally:
        try:
            hdfs_native.Client(run.hdfs).delete(f"/bench/{run.run_id}", True)
        except FileNotFoundError:
            pass
    shutil.rmtree(run.local_dir, ignore_errors=True)  # reached only on success: a failure keeps the logs
    results = {"timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "cpu_count": os.cpu_count(), "load_average_start": load_start, "load_average_end": os.getloadavg()[0],
               **figures, "targets": TARGETS}
    results["targets_met"] = targets_met(results)
    known = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**known, "reading": results}, indent=2) + "\n")
    rewrite_section(BENCHMARKS, BEGIN, END, report(results))
    print()
    print(report(results))


if __name__ == "__main__":
    main()
