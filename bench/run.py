"""`make bench`: the pipeline against the machine's limits and against Spark, in one run, at one or more sizes.

    .venv/bin/python bench/run.py [--sizes N,N,...| --rows N] [--reps R | R,R,...] [--fresh-seconds S]

Needs the local stack up and `make env`'s variables. At each size N (smallest first): the table loaded
with N rows, then every throughput and the drains' peak RSS; freshness once per run, after the sizes.
Everything it creates is its own (topics bench-<run>-*, database CS544_bench_<run>, hdfs://…/bench/<run>,
var/bench/<run>) and is removed at the end; logs stay in var/bench/<run> only when the run fails.
Writes bench/results.json and bench/throughput.png, prints the tables and rewrites the marked section
of BENCHMARKS.md (the largest size in the main table, every size in a second one).
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

from bench import broker, database, drain, freshness, plot  # noqa: E402
from bench.common import KAFKA_JARS, ROOT, median, rewrite_section, run_from_env  # noqa: E402
from weather.common import database as pipeline_database  # noqa: E402  (bench.database is the run's own)
from weather.common.config import Settings  # noqa: E402

RESULTS = ROOT / "bench" / "results.json"
PLOT = ROOT / "bench" / "throughput.png"
BENCHMARKS = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- bench:begin (written by bench/run.py) -->", "<!-- bench:end -->"
OTHER_SECTIONS = ("reading",)  # of results.json, written by bench/reading.py: kept as they are
FULL_ROWS = 1_000_000  # from this many rows on, a run is a full run: freshness windows of 60 s
RATES = (10, 1000)  # rows/s: the specification's generator, and a fast stream
TARGETS = {"consumer_vs_spark": 2.0, "consumer_vs_consumer_performance": 0.5,
           "producer_vs_producer_performance": 0.5, "freshness_p99_ms": 250, "consumer_peak_rss_mb": 150}
# Each throughput measured at every size, by label: (figure, its field); the plot's curves and the sizes table
THROUGHPUTS = {"producer drain": ("producer_drain", "rows_per_s"),
               "ProducerPerformance": ("producer_performance", "records_per_s"),
               "kafka-python sends alone": ("client_sends", "records_per_s"),
               "paged SELECT": ("paged_select", "rows_per_s"), "consumer drain": ("consumer_drain", "rows_per_s"),
               "ConsumerPerformance": ("consumer_performance", "records_per_s"), "Spark": ("spark", "rows_per_s")}
RATIOS = {"producer_vs_producer_performance": "producer / PP", "producer_vs_paged_select": "producer / SELECT",
          "producer_vs_client_sends": "producer / kafka-python",
          "consumer_vs_consumer_performance": "consumer / CP", "consumer_vs_spark": "consumer / Spark"}


def jar_version(folder: Path, artifact: str) -> str:
    return re.search(rf"{artifact}-([\d.]+)\.jar", " ".join(os.listdir(folder))).group(1)


def versions(run) -> dict[str, str]:
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    with pipeline_database.connect(run.db_url).connect() as connection:
        mariadb = connection.execute(text("SELECT VERSION()")).scalar()
    found = {name: metadata.version(name) for name in
             ("kafka-python", "pyarrow", "hdfs-native", "protobuf", "SQLAlchemy", "mysql-connector-python", "pyspark")}
    return {"python": platform.python_version(), **found, "kafka": jar_version(KAFKA_JARS, "kafka-tools"),
            "hadoop": jar_version(ROOT / "var" / "jars" / "hadoop", "hadoop-hdfs"), "mariadb": mariadb, "java": java}


def paged_select(run, rows: int, reps: int, page_size: int) -> dict:
    runs = [database.paged_select(run, rows, page_size) for _ in range(reps)]
    return {"runs": runs, "rows_per_s": median(runs), "page_size": page_size}


def client_sends(run, rows: int, reps: int) -> dict:
    runs = [broker.kafka_python_sends(run.bootstrap, run.topic(f"client{rows}-{rep}"), rows, run.replication)
            for rep in range(reps)]
    return {"runs": runs, "records_per_s": median(runs)}


def spark(run, topics: list[str], rows: int) -> dict:
    print("Spark Structured Streaming on the same topics", flush=True)
    found = drain.spark(run, topics, rows)
    return {"runs": found["rows_per_s"], "rows_per_s": median(found["rows_per_s"]),
            "session_startup_s": found["startup_s"]}


def measure_size(run, rows: int, reps: int, record_size: int) -> dict:
    """Every throughput at one size, on a table loaded with exactly `rows` rows."""
    database.create(run)
    load_seconds = database.load(run, rows)
    figures, topics = drain.against_kafka_tools(run, rows, reps, str(rows), record_size)
    figures["paged_select"] = paged_select(run, rows, reps, Settings.from_env().page_size)
    figures["client_sends"] = client_sends(run, rows, reps)
    figures["spark"] = spark(run, topics, rows)
    figures["load_rows_per_s"] = rows / load_seconds
    broker.delete_prefixed(run.bootstrap, run.topic(""))  # the next, larger size starts on an empty broker
    return {"rows": rows, "reps": reps, "figures": figures, "ratios": ratios(figures)}


def ratios(figures: dict) -> dict[str, float]:
    consumer = figures["consumer_drain"]["rows_per_s"]
    producer = figures["producer_drain"]["rows_per_s"]
    return {"consumer_vs_spark": consumer / figures["spark"]["rows_per_s"],
            "consumer_vs_consumer_performance": consumer / figures["consumer_performance"]["records_per_s"],
            "producer_vs_producer_performance": producer / figures["producer_performance"]["records_per_s"],
            "producer_vs_paged_select": producer / figures["paged_select"]["rows_per_s"],
            "producer_vs_client_sends": producer / figures["client_sends"]["records_per_s"]}


def largest(results: dict) -> dict:
    return results["by_size"][str(max(results["sizes"]))]


def peak_rss(results: dict, program: str) -> float:
    """The program's peak RSS over every size and both insert rates: the RSS target holds at every size."""
    return max([one["figures"][f"{program}_drain"]["peak_rss_mb"] for one in results["by_size"].values()]
               + [fresh[f"{program}_peak_rss_mb"] for fresh in results["freshness"]])


def targets_met(results: dict) -> dict[str, bool]:
    ratio = largest(results)["ratios"]
    met = {name: ratio[name] >= TARGETS[name] for name in
           ("consumer_vs_spark", "consumer_vs_consumer_performance", "producer_vs_producer_performance")}
    for fresh in results["freshness"]:
        met[f"freshness_p99_at_{int(fresh['rate'])}"] = fresh["p99_ms"] <= TARGETS["freshness_p99_ms"]
    met["consumer_peak_rss_mb"] = peak_rss(results, "consumer") <= TARGETS["consumer_peak_rss_mb"]
    return met


def table(results: dict) -> str:
    """The largest size's figures against their references and targets, freshness and cost."""
    f, r, met = largest(results)["figures"], largest(results)["ratios"], results["targets_met"]
    fresh = results["freshness"]
    yes = lambda ok: "met" if ok else "**not met**"  # noqa: E731
    lines = ["| figure | pipeline | reference (same run) | ratio | target |", "|---|---|---|---|---|",
             f"| producer drain, rows/s | {f['producer_drain']['rows_per_s']:,.0f} | ProducerPerformance (acks=all) "
             f"{f['producer_performance']['records_per_s']:,.0f} | {r['producer_vs_producer_performance']:.3f} | "
             f"≥ {TARGETS['producer_vs_producer_performance']}: {yes(met['producer_vs_producer_performance'])} |",
             f"| producer drain vs the database, rows/s | {f['producer_drain']['rows_per_s']:,.0f} | paged SELECT "
             f"{f['paged_select']['rows_per_s']:,.0f} | {r['producer_vs_paged_select']:.3f} | |",
             f"| producer drain vs its Kafka client alone, rows/s | {f['producer_drain']['rows_per_s']:,.0f} | "
             f"kafka-python sends alone {f['client_sends']['records_per_s']:,.0f} | "
             f"{r['producer_vs_client_sends']:.3f} | |",
             f"| consumer drain, rows/s | {f['consumer_drain']['rows_per_s']:,.0f} | ConsumerPerformance "
             f"{f['consumer_performance']['records_per_s']:,.0f} | {r['consumer_vs_consumer_performance']:.3f} | "
             f"≥ {TARGETS['consumer_vs_consumer_performance']}: {yes(met['consumer_vs_consumer_performance'])} |",
             f"| consumer drain vs the peer, rows/s | {f['consumer_drain']['rows_per_s']:,.0f} | Spark Structured "
             f"Streaming {f['spark']['rows_per_s']:,.0f} | {r['consumer_vs_spark']:.3f} | "
             f"≥ {TARGETS['consumer_vs_spark']}: {yes(met['consumer_vs_spark'])} |"]
    for one in fresh:
        rate = int(one["rate"])
        lines.append(f"| freshness at {rate} rows/s ({one['seconds']:.0f} s), p50 / p99 / max ms | "
                     f"{one['p50_ms']:,.0f} / {one['p99_ms']:,.0f} / {one['max_ms']:,.0f} | | | "
                     f"p99 ≤ {TARGETS['freshness_p99_ms']}: {yes(met[f'freshness_p99_at_{rate}'])} |")
    lines += [f"| consumer peak RSS (every size and rate), MB | {peak_rss(results, 'consumer'):.0f} | | | "
              f"≤ {TARGETS['consumer_peak_rss_mb']}: {yes(met['consumer_peak_rss_mb'])} |",
              f"| producer peak RSS (every size and rate), MB | {peak_rss(results, 'producer'):.0f} | | | |",
              "| rows per Parquet file: drain / " + " / ".join(f"{int(x['rate'])} rows/s" for x in fresh)
              + f" | {f['consumer_drain']['rows_per_file']:,.1f} / "
              + " / ".join(f"{x['rows_per_file']:,.1f}" for x in fresh) + " | | | |",
              f"| consumer start to first committed batch, s | {f['consumer_drain']['startup_s']:.2f} | Spark session "
              f"start {f['spark']['session_startup_s']:.2f} | | |"]
    return "\n".join(lines)


def curve(results: dict, figure: str, field: str) -> list[float]:
    """One figure at every size, smallest first."""
    return [results["by_size"][str(size)]["figures"][figure][field] for size in results["sizes"]]


def sizes_table(results: dict) -> str:
    """One line per size: each rows/s, the ratios, the drains' peak RSS (the plot's points)."""
    header = ["N", *(f"{label}, rows/s" for label in THROUGHPUTS), *RATIOS.values(), "producer RSS, MB",
              "consumer RSS, MB"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for size in results["sizes"]:
        one = results["by_size"][str(size)]
        cells = [f"{size:,}", *(f"{one['figures'][figure][field]:,.0f}" for figure, field in THROUGHPUTS.values()),
                 *(f"{one['ratios'][name]:.2f}" for name in RATIOS),
                 *(f"{one['figures'][f'{p}_drain']['peak_rss_mb']:.0f}" for p in ("producer", "consumer"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def repetitions(results: dict) -> str:
    reps = results["reps"]
    return f"{' / '.join(map(str, reps)) if len(set(reps)) > 1 else reps[0]} repetition{'s' * (reps != [1])}"


def summary(results: dict) -> str:
    sizes = results["sizes"]
    return (f"Run of {results['timestamp']}: N = {' / '.join(f'{n:,}' for n in sizes)} rows"
            + (" (the first table shows the largest, the second every size)" if len(sizes) > 1 else "")
            + f", {repetitions(results)} (medians), "
            f"{'full' if results['full'] else 'quick'} run (freshness {results['fresh_seconds']:.0f} s per rate"
            f"{'' if results['full'] else ', shorter than the full run’s 60 s'}), {results['cpu_count']} CPUs. "
            f"Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + ".")


def report(results: dict) -> str:
    """The marked section of BENCHMARKS.md."""
    parts = [summary(results), table(results)]
    if len(results["sizes"]) > 1:
        parts.append(sizes_table(results))
    parts.append(f"![rows/s and peak RSS against N]({PLOT.relative_to(ROOT)})")
    return "\n\n".join(parts)


def draw_plot(results: dict) -> None:
    plot.draw(PLOT, results["sizes"],
              {label: curve(results, figure, field) for label, (figure, field) in THROUGHPUTS.items()},
              {f"{p} drain": curve(results, f"{p}_drain", "peak_rss_mb") for p in ("producer", "consumer")},
              TARGETS["consumer_peak_rss_mb"],
              f"Run of {results['timestamp']}, medians of {repetitions(results)}, {results['cpu_count']} CPUs")


def cleanup(run) -> None:
    broker.delete_prefixed(run.bootstrap, run.topic(""))
    try:
        hdfs_native.Client(run.hdfs).delete(f"/bench/{run.run_id}", True)
    except FileNotFoundError:
        pass
    database.drop(run)


def sizes_and_reps(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[list[int], list[int]]:
    sizes = [args.rows] if args.rows else [int(n) for n in args.sizes.split(",")]
    reps = [int(r) for r in args.reps.split(",")]
    reps = reps * len(sizes) if len(reps) == 1 else reps
    if len(reps) != len(sizes):
        parser.error(f"--reps {args.reps}: one number, or one per size ({len(sizes)})")
    pairs = sorted(zip(sizes, reps))  # smallest first: a failure at a large size comes after the quick figures
    return [size for size, _ in pairs], [rep for _, rep in pairs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=os.environ.get("BENCH_SIZES") or os.environ.get("BENCH_ROWS", "20000"),
                        help="rows drained, comma-separated (default: BENCH_SIZES, else BENCH_ROWS, else 20000)")
    parser.add_argument("--rows", type=int, help="one size: the same as --sizes N")
    parser.add_argument("--reps", default=os.environ.get("BENCH_REPS", "3"),
                        help="repetitions: one number for every size, or one per size in the order of --sizes")
    parser.add_argument("--fresh-seconds", type=float, default=None,
                        help="seconds of inserting per rate (default: 60 in a full run, 15 in a quick one)")
    args = parser.parse_args()
    sizes, reps = sizes_and_reps(parser, args)
    full = max(sizes) >= FULL_ROWS
    fresh_seconds = args.fresh_seconds or (60 if full else 15)
    run = run_from_env()
    print(f"bench run {run.run_id}: sizes {sizes}, repetitions {reps}; logs in {run.local_dir}", flush=True)
    try:
        sizes_bytes = broker.message_bytes()
        record_size = round(sizes_bytes["key"] + sizes_bytes["value"] + sizes_bytes["header"])
        by_size = {}
        for size, rep in zip(sizes, reps):
            print(f"--- {size:,} rows, {rep} repetitions", flush=True)
            by_size[str(size)] = measure_size(run, size, rep, record_size)
        fresh = []
        for rate in RATES:
            print(f"freshness at {rate} rows/s for {fresh_seconds:.0f} s", flush=True)
            fresh.append(freshness.measure(run, rate, fresh_seconds))
        results = {"timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   "sizes": sizes, "reps": reps, "full": full, "fresh_seconds": fresh_seconds,
                   "cpu_count": os.cpu_count(), "versions": versions(run), "record_size_bytes": record_size,
                   "message_bytes": sizes_bytes, "by_size": by_size, "freshness": fresh, "targets": TARGETS}
        results["targets_met"] = targets_met(results)
    finally:
        cleanup(run)
    shutil.rmtree(run.local_dir, ignore_errors=True)  # reached only on success: a failure keeps the logs
    known = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update({section: known[section] for section in OTHER_SECTIONS if section in known})
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    draw_plot(results)
    rewrite_section(BENCHMARKS, BEGIN, END, report(results))
    print()
    print(report(results))


if __name__ == "__main__":
    main()
