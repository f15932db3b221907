"""`make bench`: the pipeline against the machine's limits and against Spark, in one run.

    .venv/bin/python bench/run.py [--rows N] [--reps R] [--fresh-seconds S]

Needs the local stack up and `make env`'s variables. Everything it creates is its own (topics
bench-<run>-*, database CS544_bench, hdfs://…/bench/<run>, var/bench/<run>) and is removed at the
end; logs stay in var/bench/<run> only when the run fails. Writes bench/results.json, prints the
table and rewrites the marked section of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench` and `stack` as packages

import hdfs_native  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench import broker, database, drain, freshness  # noqa: E402
from bench.common import KAFKA_JARS, ROOT, median, run_from_env  # noqa: E402
from weather import source  # noqa: E402
from weather.config import Settings  # noqa: E402

RESULTS = ROOT / "bench" / "results.json"
BENCHMARKS = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- bench:begin (written by bench/run.py) -->", "<!-- bench:end -->"
FULL_ROWS = 1_000_000  # from this many rows on, a run is a full run: freshness windows of 60 s
RATES = (10, 1000)  # rows/s: the specification's generator, and a fast stream
TARGETS = {"consumer_vs_spark": 2.0, "consumer_vs_consumer_performance": 0.5,
           "producer_vs_producer_performance": 0.5, "freshness_p99_ms": 250, "consumer_peak_rss_mb": 150}


def jar_version(folder: Path, artifact: str) -> str:
    return re.search(rf"{artifact}-([\d.]+)\.jar", " ".join(os.listdir(folder))).group(1)


def versions(run) -> dict[str, str]:
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    with source.connect(run.db_url).connect() as connection:
        mariadb = connection.execute(text("SELECT VERSION()")).scalar()
    found = {name: metadata.version(name) for name in
             ("kafka-python", "pyarrow", "hdfs-native", "protobuf", "SQLAlchemy", "mysql-connector-python", "pyspark")}
    return {"python": platform.python_version(), **found, "kafka": jar_version(KAFKA_JARS, "kafka-tools"),
            "hadoop": jar_version(ROOT / "var" / "jars" / "hadoop", "hadoop-hdfs"), "mariadb": mariadb, "java": java}


def measure(run, rows: int, reps: int, fresh_seconds: float) -> dict:
    database.create(run)
    load_seconds = database.load(run, rows)
    sizes = broker.message_bytes()
    record_size = round(sizes["key"] + sizes["value"] + sizes["header"])
    page_size = Settings.from_env().page_size
    timeout = max(300, rows / 200)  # generous: a stuck drain fails instead of hanging
    producer, producer_perf, select, consumers, consumer_perf = [], [], [], [], []
    drained_topics = []
    for rep in range(reps):
        name = f"drain{rep}"
        topic = run.topic(name)
        drained_topics.append(topic)
        print(f"rep {rep + 1}/{reps}: producer drain", flush=True)
        producer.append(drain.producer(run, topic, name, rows, timeout))
        print(f"rep {rep + 1}/{reps}: ProducerPerformance, paged SELECT", flush=True)
        producer_perf.append(broker.producer_performance(run.bootstrap, run.topic(f"pp{rep}"), rows, record_size))
        select.append(database.paged_select(run, rows, page_size))
        print(f"rep {rep + 1}/{reps}: consumer drain, ConsumerPerformance", flush=True)
        consumers.append(drain.consumers(run, topic, name, rows, timeout, verify=rep == 0))
        consumer_perf.append(broker.consumer_performance(run.bootstrap, topic, rows, run.topic(f"group{rep}")))
    print("Spark Structured Streaming on the same topics", flush=True)
    spark = drain.spark(run, drained_topics, rows)
    fresh = []
    for rate in RATES:
        print(f"freshness at {rate} rows/s for {fresh_seconds:.0f} s", flush=True)
        fresh.append(freshness.measure(run, rate, fresh_seconds))
    return {
        "load_rows_per_s": rows / load_seconds, "record_size_bytes": record_size, "message_bytes": sizes,
        "producer_drain": {"runs": producer, "rows_per_s": median([r["rows_per_s"] for r in producer]),
                           "peak_rss_mb": max(r["peak_rss_mb"] for r in producer)},
        "producer_performance": {"runs": producer_perf, "records_per_s": median(producer_perf)},
        "paged_select": {"runs": select, "rows_per_s": median(select), "page_size": page_size},
        "consumer_drain": {"runs": consumers, "rows_per_s": median([r["rows_per_s"] for r in consumers]),
                           "peak_rss_mb": max(r["peak_rss_mb"] for r in consumers),
                           "startup_s": median([s for r in consumers for s in r["startup_s"]]),
                           "rows_per_file": median([r["rows_per_file"] for r in consumers])},
        "consumer_performance": {"runs": consumer_perf, "records_per_s": median(consumer_perf)},
        "spark": {"runs": spark["rows_per_s"], "rows_per_s": median(spark["rows_per_s"]),
                  "session_startup_s": spark["startup_s"]},
        "freshness": fresh,
    }


def ratios(figures: dict) -> dict[str, float]:
    consumer = figures["consumer_drain"]["rows_per_s"]
    producer = figures["producer_drain"]["rows_per_s"]
    return {"consumer_vs_spark": consumer / figures["spark"]["rows_per_s"],
            "consumer_vs_consumer_performance": consumer / figures["consumer_performance"]["records_per_s"],
            "producer_vs_producer_performance": producer / figures["producer_performance"]["records_per_s"],
            "producer_vs_paged_select": producer / figures["paged_select"]["rows_per_s"]}


def targets_met(figures: dict, ratio: dict) -> dict[str, bool]:
    peak_rss = max([figures["consumer_drain"]["peak_rss_mb"]] + [f["consumer_peak_rss_mb"] for f in figures["freshness"]])
    met = {name: ratio[name] >= TARGETS[name] for name in
           ("consumer_vs_spark", "consumer_vs_consumer_performance", "producer_vs_producer_performance")}
    for fresh in figures["freshness"]:
        met[f"freshness_p99_at_{int(fresh['rate'])}"] = fresh["p99_ms"] <= TARGETS["freshness_p99_ms"]
    met["consumer_peak_rss_mb"] = peak_rss <= TARGETS["consumer_peak_rss_mb"]
    return met


def table(results: dict) -> str:
    f, r, met = results["figures"], results["ratios"], results["targets_met"]
    yes = lambda ok: "met" if ok else "**not met**"  # noqa: E731
    lines = ["| figure | pipeline | reference (same run) | ratio | target |", "|---|---|---|---|---|",
             f"| producer drain, rows/s | {f['producer_drain']['rows_per_s']:,.0f} | ProducerPerformance (acks=all) "
             f"{f['producer_performance']['records_per_s']:,.0f} | {r['producer_vs_producer_performance']:.3f} | "
             f"≥ {TARGETS['producer_vs_producer_performance']}: {yes(met['producer_vs_producer_performance'])} |",
             f"| producer drain vs the database, rows/s | {f['producer_drain']['rows_per_s']:,.0f} | paged SELECT "
             f"{f['paged_select']['rows_per_s']:,.0f} | {r['producer_vs_paged_select']:.3f} | |",
             f"| consumer drain, rows/s | {f['consumer_drain']['rows_per_s']:,.0f} | ConsumerPerformance "
             f"{f['consumer_performance']['records_per_s']:,.0f} | {r['consumer_vs_consumer_performance']:.3f} | "
             f"≥ {TARGETS['consumer_vs_consumer_performance']}: {yes(met['consumer_vs_consumer_performance'])} |",
             f"| consumer drain vs the peer, rows/s | {f['consumer_drain']['rows_per_s']:,.0f} | Spark Structured "
             f"Streaming {f['spark']['rows_per_s']:,.0f} | {r['consumer_vs_spark']:.3f} | "
             f"≥ {TARGETS['consumer_vs_spark']}: {yes(met['consumer_vs_spark'])} |"]
    for fresh in f["freshness"]:
        rate = int(fresh["rate"])
        lines.append(f"| freshness at {rate} rows/s ({fresh['seconds']:.0f} s), p50 / p99 / max ms | "
                     f"{fresh['p50_ms']:,.0f} / {fresh['p99_ms']:,.0f} / {fresh['max_ms']:,.0f} | | | "
                     f"p99 ≤ {TARGETS['freshness_p99_ms']}: {yes(met[f'freshness_p99_at_{rate}'])} |")
    rss = max([f["consumer_drain"]["peak_rss_mb"]] + [x["consumer_peak_rss_mb"] for x in f["freshness"]])
    lines += [f"| consumer peak RSS, MB | {rss:.0f} | | | ≤ {TARGETS['consumer_peak_rss_mb']}: "
              f"{yes(met['consumer_peak_rss_mb'])} |",
              f"| producer peak RSS, MB | {max([f['producer_drain']['peak_rss_mb']] + [x['producer_peak_rss_mb'] for x in f['freshness']]):.0f} | | | |",
              "| rows per Parquet file: drain / " + " / ".join(f"{int(x['rate'])} rows/s" for x in f["freshness"])
              + f" | {f['consumer_drain']['rows_per_file']:,.1f} / "
              + " / ".join(f"{x['rows_per_file']:,.1f}" for x in f["freshness"]) + " | | | |",
              f"| consumer start to first committed batch, s | {f['consumer_drain']['startup_s']:.2f} | Spark session "
              f"start {f['spark']['session_startup_s']:.2f} | | |"]
    return "\n".join(lines)


def summary(results: dict) -> str:
    return (f"Run of {results['timestamp']}: N = {results['rows']:,} rows, {results['reps']} repetitions (medians), "
            f"{'full' if results['full'] else 'quick'} run (freshness {results['fresh_seconds']:.0f} s per rate"
            f"{'' if results['full'] else ', shorter than the full run’s 60 s'}), {results['cpu_count']} CPUs. "
            f"Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + ".")


def rewrite_benchmarks(results: dict) -> None:
    text = BENCHMARKS.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    BENCHMARKS.write_text(text[:start] + "\n" + summary(results) + "\n\n" + table(results) + "\n" + text[end:])


def cleanup(run) -> None:
    topics = [run.topic(f"{kind}{rep}") for kind in ("drain", "pp") for rep in range(10)]
    topics += [run.topic(f"fresh-{rate}") for rate in RATES]
    broker.delete_topics(run.bootstrap, topics)
    groups = [run.topic(f"group{rep}") for rep in range(10)]
    try:
        broker.delete_groups(run.bootstrap, groups)
    except Exception as error:  # groups that never existed: nothing to clean
        print(f"(consumer groups: {error})")
    client = hdfs_native.Client(run.hdfs)
    try:
        client.delete(f"/bench/{run.run_id}", True)
    except FileNotFoundError:
        pass
    database.drop(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_ROWS", 20_000)))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--fresh-seconds", type=float, default=None,
                        help="seconds of inserting per rate (default: 60 in a full run, 15 in a quick one)")
    args = parser.parse_args()
    full = args.rows >= FULL_ROWS
    fresh_seconds = args.fresh_seconds or (60 if full else 15)
    run = run_from_env()
    print(f"bench run {run.run_id}: {args.rows:,} rows, {args.reps} repetitions; logs in {run.local_dir}", flush=True)
    try:
        figures = measure(run, args.rows, args.reps, fresh_seconds)
        ratio = ratios(figures)
        results = {"timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   "rows": args.rows, "reps": args.reps, "full": full, "fresh_seconds": fresh_seconds,
                   "cpu_count": os.cpu_count(), "versions": versions(run), "figures": figures, "ratios": ratio,
                   "targets": TARGETS, "targets_met": targets_met(figures, ratio)}
    finally:
        cleanup(run)
    shutil.rmtree(run.local_dir, ignore_errors=True)  # reached only on success: a failure keeps the logs
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    rewrite_benchmarks(results)
    print()
    print(summary(results))
    print()
    print(table(results))


if __name__ == "__main__":
    main()
