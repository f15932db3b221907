"""The producer's two ways of sending (issue 19) in one run, at one size: producer.py draining the loaded
table with whole record batches (the compiled builder, weather_fastencode) and with send() per row (the
builder hidden from it, as without `make setup`), next to the paged SELECT it reads from and Kafka's
ProducerPerformance. Lighter than `make bench` (no consumers, Spark or freshness); it writes nothing.

    .venv/bin/python bench/producer_paths.py [--rows N] [--reps R]

Needs the local stack up and `make env`'s variables; everything it creates is its own (bench/common.Run)
and is removed at the end. Prints the medians, each producer's peak RSS and which way it sent.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench` and `stack` as packages

from bench import broker, database, drain  # noqa: E402
from bench.common import median, run_from_env  # noqa: E402
from bench.run import cleanup  # noqa: E402
from weather.common.config import Settings  # noqa: E402

SAYS_WHOLE = "sending whole record batches"
SAYS_SEND = "sending rows one by one with kafka-python's send()"


def hidden_builder(folder: str) -> dict[str, str]:
    """Variables for a producer.py that finds no compiled builder: a stand-in that fails to import, first on
    its path."""
    Path(folder, "weather_fastencode.py").write_text('raise ImportError("hidden by bench/producer_paths.py")\n')
    return {"PYTHONPATH": os.pathsep.join(filter(None, [folder, os.environ.get("PYTHONPATH")]))}


def way_sent(run, name: str) -> str:
    log = (run.local_dir / name / "producer.log").read_text()
    return "whole batches" if SAYS_WHOLE in log else "send()" if SAYS_SEND in log else "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    run = run_from_env()
    record_size = round(sum(broker.message_bytes().values()))
    timeout = max(300, args.rows / 200)
    found = {"whole batches": [], "send()": [], "paged SELECT": [], "ProducerPerformance": []}
    rss, ways = {"whole batches": 0.0, "send()": 0.0}, set()
    try:
        with tempfile.TemporaryDirectory() as stand_in:
            database.create(run)
            database.load(run, args.rows)
            for rep in range(args.reps):
                for way, env in (("whole batches", None), ("send()", hidden_builder(stand_in))):
                    name = f"{'batches' if env is None else 'send'}-{rep}"
                    print(f"rep {rep + 1}/{args.reps}: producer drain, {way}", flush=True)
                    result = drain.producer(run, run.topic(name), name, args.rows, timeout, env)
                    found[way].append(result["rows_per_s"])
                    rss[way] = max(rss[way], result["peak_rss_mb"])
                    ways.add((way, way_sent(run, name)))
                found["paged SELECT"].append(database.paged_select(run, args.rows, Settings.from_env().page_size))
                found["ProducerPerformance"].append(broker.producer_performance(
                    run.bootstrap, run.topic(f"pp-{rep}"), args.rows, record_size, run.replication))
    finally:
        cleanup(run)
    shutil.rmtree(run.local_dir, ignore_errors=True)
    figures = {label: median(runs) for label, runs in found.items()}
    print(f"\n{args.rows:,} rows, {args.reps} repetitions (medians), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    for label, runs in found.items():
        print(f"{label:>20}: {figures[label]:>10,.0f} rows/s  (runs: {', '.join(f'{r:,.0f}' for r in runs)})")
    for way in rss:
        print(f"{way:>20}: / ProducerPerformance {figures[way] / figures['ProducerPerformance']:.3f}, "
              f"/ paged SELECT {figures[way] / figures['paged SELECT']:.3f}, peak RSS {rss[way]:.0f} MB")
    print(f"{'whole batches / send()':>20}: {figures['whole batches'] / figures['send()']:.2f}")
    print("each producer's own line said: " + "; ".join(f"{asked} -> {said}" for asked, said in sorted(ways)))


if __name__ == "__main__":
    main()
