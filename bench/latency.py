"""`make bench-latency`: where a row's time from insert commit to a reader-visible checkpoint goes.

    .venv/bin/python bench/latency.py [--seconds S] [--files N]

Needs the local stack up and `make env`'s variables. In one run:
- HDFS close: N files of 2 KB written with replication 1 (standing for one DataNode: a single
  replica, as on a one-DataNode stack) and with replication 3 (three DataNodes), close() timed
  alone with hdfs-native; and the pipeline's own HdfsStorage.write (write + close, hedged against
  the ~500 ms close stall) with replication 3.
- Freshness (bench/freshness.py) at 10 and 1,000 rows/s, each row's latency split at its Kafka
  CreateTime (stamped by the producer's send) into insert -> send (the producer: idle poll, page
  query) and send -> checkpoint (acknowledgement, consumer poll and gathering, Parquet write,
  close, rename, checkpoint), under the settings of before issue 12's tuning (PRODUCER_IDLE_POLL=0.1,
  CONSUMER_BATCH_MAX_WAIT=1.0) and under the current defaults, in the same run.
Writes bench/latency.json and the marked section of BENCHMARKS.md. Everything it creates is its
own (topics bench-<run>-*, database CS544_bench, hdfs://…/bench/<run>) and is removed at the end.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench` and `stack` as packages

import hdfs_native  # noqa: E402

from bench import broker, database, freshness  # noqa: E402
from bench.common import ROOT, run_from_env  # noqa: E402
from stack.topology import Topology  # noqa: E402
from weather.common.storage import HdfsStorage  # noqa: E402

RESULTS = ROOT / "bench" / "latency.json"
BENCHMARKS = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- latency:begin (written by bench/latency.py) -->", "<!-- latency:end -->"
RATES = (10, 1000)
BEFORE = {"PRODUCER_IDLE_POLL": "0.1", "CONSUMER_BATCH_MAX_WAIT": "1.0"}  # the defaults before issue 12
SETTINGS = {"before": BEFORE, "now": {}}
FILE_BYTES = 2048


def stats(values_ms: list[float]) -> dict[str, float]:
    ordered = sorted(values_ms)
    return {"median_ms": ordered[len(ordered) // 2], "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
            "max_ms": ordered[-1], "stalls_over_100ms": sum(value > 100 for value in ordered), "files": len(ordered)}


def close_times(hdfs: str, folder: str, files: int) -> dict:
    """close() alone with replication 1 and 3, and the pipeline's hedged write with 3, interleaved."""
    client = hdfs_native.Client(hdfs)
    client.mkdirs(folder, create_parent=True)
    storage = HdfsStorage(f"{hdfs}{folder}")
    found: dict[str, list[float]] = {"replication_1": [], "replication_3": [], "pipeline_write_replication_3": []}
    payload = os.urandom(FILE_BYTES)
    for i in range(files):
        for replication in (1, 3):
            writer = client.create(f"{folder}/r{replication}-{i}", hdfs_native.WriteOptions(replication=replication))
            writer.write(payload)
            began = time.monotonic()
            writer.close()
            found[f"replication_{replication}"].append(1000 * (time.monotonic() - began))
        began = time.monotonic()
        storage.write_temp(f"w-{i}", payload)
        found["pipeline_write_replication_3"].append(1000 * (time.monotonic() - began))
    client.delete(folder, True)
    return {name: stats(values) for name, values in found.items()}


def stack_rss() -> dict:
    """Resident memory of every server of the running topology, MB, and their total."""
    topology = Topology.current()
    servers = {name: (server.rss_bytes() or 0) / 2**20 for name, server in topology.servers.items()}
    return {"brokers": topology.brokers, "servers_mb": servers, "total_mb": sum(servers.values())}


def table(results: dict) -> str:
    rss = results["stack_rss"]
    lines = [f"Whole stack RSS ({rss['brokers']} Kafka broker{'s' if rss['brokers'] > 1 else ''}, NameNode, three "
             f"DataNodes, MariaDB) at the end of the run: {rss['total_mb']:,.0f} MB ("
             + ", ".join(f"{name} {mb:,.0f}" for name, mb in rss["servers_mb"].items()) + ").", "",
             "| HDFS, 2 KB files | median / p99 / max ms | closes over 100 ms |", "|---|---|---|"]
    labels = {"replication_1": "close(), replication 1 (one DataNode's case)",
              "replication_3": "close(), replication 3 (three DataNodes)",
              "pipeline_write_replication_3": "the pipeline's write + close (hedged), replication 3"}
    for name, label in labels.items():
        s = results["close"][name]
        lines.append(f"| {label} | {s['median_ms']:.1f} / {s['p99_ms']:.1f} / {s['max_ms']:.1f} | "
                     f"{s['stalls_over_100ms']} of {s['files']} |")
    lines += ["", "| freshness, settings | rate rows/s | insert → visible p50 / p99 / max ms | insert → send "
              "(producer) p50 / p99 ms | send → checkpoint (Kafka + consumer) p50 / p99 ms | rows per file |",
              "|---|---|---|---|---|---|"]
    for fresh in results["freshness"]:
        lines.append(f"| {fresh['label']} | {int(fresh['rate']):,} | {fresh['p50_ms']:.0f} / {fresh['p99_ms']:.0f} / "
                     f"{fresh['max_ms']:.0f} | {fresh['insert_to_send']['p50_ms']:.0f} / "
                     f"{fresh['insert_to_send']['p99_ms']:.0f} | {fresh['send_to_checkpoint']['p50_ms']:.0f} / "
                     f"{fresh['send_to_checkpoint']['p99_ms']:.0f} | {fresh['rows_per_file']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15, help="seconds of inserting per rate and setting")
    parser.add_argument("--files", type=int, default=100, help="files per replication in the close measurement")
    args = parser.parse_args()
    run = run_from_env()
    print(f"latency bench run {run.run_id}", flush=True)
    database.create(run)
    topics = []
    try:
        print(f"HDFS close, {args.files} files per kind", flush=True)
        close = close_times(run.hdfs, f"/bench/{run.run_id}/close", args.files)
        fresh = []
        for rate in RATES:
            for label, settings in SETTINGS.items():
                print(f"freshness at {rate} rows/s, {label}: {settings or 'defaults'}", flush=True)
                topics.append(run.topic(f"fresh-{rate}{label}"))
                fresh.append({"label": label, **freshness.measure(run, rate, args.seconds, settings, label)})
                fresh[-1].pop("windows")
    finally:
        broker.delete_topics(run.bootstrap, topics)
        try:
            hdfs_native.Client(run.hdfs).delete(f"/bench/{run.run_id}", True)
        except FileNotFoundError:
            pass
        database.drop(run)
    shutil.rmtree(run.local_dir, ignore_errors=True)
    results = {"timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "seconds_per_rate": args.seconds, "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
               "before_settings": BEFORE, "close": close, "freshness": fresh, "stack_rss": stack_rss()}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    text = BENCHMARKS.read_text()
    summary = (f"Run of {results['timestamp']}, {args.seconds:.0f} s per rate and setting, {os.cpu_count()} CPUs, "
               f"load average {results['load_average'][0]:.1f} at the end; “before” = {BEFORE}, “now” = the "
               f"current defaults (and code: the hedged close is in both).")
    if BEGIN in text:
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        BENCHMARKS.write_text(text[:start] + "\n" + summary + "\n\n" + table(results) + "\n" + text[end:])
    print(summary)
    print(table(results))


if __name__ == "__main__":
    main()
