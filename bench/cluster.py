"""`make bench-cluster`: the drains on the single broker and on a three-broker cluster, in one run (issue 12).

    .venv/bin/python bench/cluster.py [--rows N] [--reps R]

Needs the local stack's MariaDB and HDFS up (`make up`); it points itself and the programs at each
topology with `python -m stack env`'s variables. On the single broker (replication 1), then on the
cluster (three KRaft brokers, replication 3, min ISR 2), each repetition runs the producer drain
against ProducerPerformance (acks=all) and the consumer drain against ConsumerPerformance, as
`make bench` does (bench/drain.py); after them, the whole stack's RSS per server. Switching runs
`python -m stack up` with STACK_BROKERS=3: that restarts the shared stack's Kafka (HDFS and MariaDB
keep running), and the single broker is brought back at the end whatever happens. Everything else it
creates is its own, as in `make bench`, and removed at the end. Writes bench/cluster.json and the
marked section of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench` and `stack` as packages

import hdfs_native  # noqa: E402

from bench import broker, database, drain  # noqa: E402
from bench.common import PYTHON, ROOT, Run, rewrite_section, run_from_env  # noqa: E402
from bench.latency import stack_rss  # noqa: E402
from stack.topology import environment  # noqa: E402

RESULTS = ROOT / "bench" / "cluster.json"
BENCHMARKS = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- cluster:begin (written by bench/cluster.py) -->", "<!-- cluster:end -->"
TOPOLOGIES = {1: "1 broker (replication 1)", 3: "3 brokers (replication 3, min ISR 2)"}  # in the order measured
DEFAULT_BROKERS = 1  # what `make up` runs, and what the run leaves running


def switch(brokers: int) -> None:
    """Run `brokers` Kafka brokers (the stack stops the other topology's) and point this process at them."""
    subprocess.run([str(PYTHON), "-m", "stack", "up"], cwd=ROOT, env={**os.environ, "STACK_BROKERS": str(brokers)},
                   check=True)
    os.environ.update(environment())


def restore() -> None:
    """The default stack back. Tried twice: a stopped cluster broker was once seen still holding its port
    (docs/RELIABILITY.md)."""
    try:
        switch(DEFAULT_BROKERS)
    except subprocess.CalledProcessError:
        time.sleep(10)
        switch(DEFAULT_BROKERS)


def measure(run: Run, brokers: int, rows: int, reps: int, record_size: int) -> dict:
    """On `brokers` brokers: the drains against Kafka's tools, then the whole stack's RSS."""
    switch(brokers)
    here = dataclasses.replace(run, bootstrap=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
                               replication=int(os.environ["TOPIC_REPLICATION_FACTOR"]))
    try:
        figures, _ = drain.against_kafka_tools(here, rows, reps, f"b{brokers}", record_size)
    finally:
        broker.delete_prefixed(here.bootstrap, here.topic(""))  # while these brokers still run
    figures["ratios"] = {
        "producer_vs_producer_performance":
            figures["producer_drain"]["rows_per_s"] / figures["producer_performance"]["records_per_s"],
        "consumer_vs_consumer_performance":
            figures["consumer_drain"]["rows_per_s"] / figures["consumer_performance"]["records_per_s"]}
    figures["stack_rss"] = stack_rss()
    return figures


def table(results: dict) -> str:
    found = [results["by_brokers"][str(brokers)] for brokers in TOPOLOGIES]

    def row(label: str, cell) -> str:
        return f"| {label} | " + " | ".join(cell(figures) for figures in found) + " |"

    return "\n".join([
        "| figure | " + " | ".join(TOPOLOGIES.values()) + " |", "|---" * (1 + len(TOPOLOGIES)) + "|",
        row("producer drain, rows/s", lambda f: f"{f['producer_drain']['rows_per_s']:,.0f}"),
        row("ProducerPerformance (acks=all), records/s",
            lambda f: f"{f['producer_performance']['records_per_s']:,.0f}"),
        row("producer / ProducerPerformance", lambda f: f"{f['ratios']['producer_vs_producer_performance']:.3f}"),
        row("consumer drain, rows/s", lambda f: f"{f['consumer_drain']['rows_per_s']:,.0f}"),
        row("ConsumerPerformance, records/s", lambda f: f"{f['consumer_performance']['records_per_s']:,.0f}"),
        row("consumer / ConsumerPerformance", lambda f: f"{f['ratios']['consumer_vs_consumer_performance']:.3f}"),
        row("producer / largest consumer peak RSS, MB",
            lambda f: f"{f['producer_drain']['peak_rss_mb']:.0f} / {f['consumer_drain']['peak_rss_mb']:.0f}"),
        row("whole stack RSS after the drains, MB", lambda f: f"{f['stack_rss']['total_mb']:,.0f} (" + ", ".join(
            f"{name} {mb:,.0f}" for name, mb in f["stack_rss"]["servers_mb"].items()) + ")"),
    ])


def summary(results: dict) -> str:
    return (f"Run of {results['timestamp']}: N = {results['rows']:,} rows, {results['reps']} "
            f"repetition{'s' * (results['reps'] != 1)} (medians) "
            f"per topology, {results['cpu_count']} CPUs, load average {results['load_average'][0]:.1f} at the end. "
            f"Same programs and settings on both; only `make env`'s KAFKA_BOOTSTRAP_SERVERS and "
            f"TOPIC_REPLICATION_FACTOR differ.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_ROWS", 20_000)))
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped run still restores the default stack
    os.environ.update(environment())
    run = run_from_env()
    print(f"cluster bench run {run.run_id}: {args.rows:,} rows, {args.reps} repetitions; logs in {run.local_dir}",
          flush=True)
    try:
        sizes = broker.message_bytes()
        record_size = round(sizes["key"] + sizes["value"] + sizes["header"])
        database.create(run)
        database.load(run, args.rows)  # MariaDB keeps running across the switches: one load serves both
        by_brokers = {}
        for brokers in TOPOLOGIES:
            print(f"--- {TOPOLOGIES[brokers]}", flush=True)
            by_brokers[str(brokers)] = measure(run, brokers, args.rows, args.reps, record_size)
    finally:
        try:
            restore()
        finally:
            try:
                hdfs_native.Client(run.hdfs).delete(f"/bench/{run.run_id}", True)
            except FileNotFoundError:
                pass
            database.drop(run)
    shutil.rmtree(run.local_dir, ignore_errors=True)  # reached only on success: a failure keeps the logs
    results = {"timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "rows": args.rows, "reps": args.reps, "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
               "record_size_bytes": record_size, "by_brokers": by_brokers}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    section = summary(results) + "\n\n" + table(results)
    rewrite_section(BENCHMARKS, BEGIN, END, section)
    print(section)


if __name__ == "__main__":
    main()
