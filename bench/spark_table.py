"""Spark reading the table layer (a Delta Lake table on HDFS) with Delta's own reader, in a process of its own.

    python -m bench.spark_table TABLE_URL [--out OUT.parquet] [--reads N]

One Spark session (local[2], Delta's jars from var/jars/spark-delta: `mvn -f bench/pom-delta.xml
dependency:copy-dependencies`), then the newest version of the table read into the driver as Arrow
(date, degrees, station_id), N times (1 by default: the first read also loads Delta's and Spark's
classes, later ones are warm). Prints one JSON line: the session's start-up seconds, each read's
seconds and the rows; with --out, also writes the rows there (the engine test compares them).
Spark reads hdfs:// itself (pyspark's hadoop-client), through the Delta log: files an optimize
replaced are in the table's folder but not in the table, and are not read.
The JVM stays in this process: the engine test and the reading benchmark run it as a child.
"""
from __future__ import annotations

import argparse
import json
import time

import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from bench.common import SPARK_DELTA_JARS

COLUMNS = ["date", "degrees", "station_id"]


def delta_jars() -> str:
    jars = sorted(str(jar) for jar in SPARK_DELTA_JARS.glob("*.jar"))
    if len(jars) < 2:
        raise SystemExit(f"Delta's jars are not in {SPARK_DELTA_JARS}: run "
                         "mvn -f bench/pom-delta.xml dependency:copy-dependencies (make faults and make bench do)")
    return ",".join(jars)


def session() -> SparkSession:
    spark = (SparkSession.builder.master("local[2]").appName("weather-table-read")
             .config("spark.jars", delta_jars())
             .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
             .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
             # Delta rebuilds a snapshot from its log in this many tasks (50 by default: slow on two cores)
             .config("spark.databricks.delta.snapshotPartitions", "2")
             .config("spark.sql.shuffle.partitions", "2")
             # else the driver binds to the host's first interface, which a sandboxed machine may not route
             .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.driver.memory", "1g")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def main() -> None:
    parser = argparse.ArgumentParser(description="Spark reads the Delta table at TABLE_URL.")
    parser.add_argument("table_url", metavar="TABLE_URL")
    parser.add_argument("--out", help="write the rows read to this local Parquet file")
    parser.add_argument("--reads", type=int, default=1, help="read the table this many times (default 1)")
    args = parser.parse_args()
    started = time.monotonic()
    spark = session()
    session_s = time.monotonic() - started
    reads_s = []
    for _ in range(args.reads):
        started = time.monotonic()
        rows = spark.read.format("delta").load(args.table_url).select(*COLUMNS).toArrow()
        reads_s.append(time.monotonic() - started)
    spark.stop()
    if args.out:
        pq.write_table(rows, args.out)
    print(json.dumps({"session_s": session_s, "reads_s": reads_s, "rows": rows.num_rows}), flush=True)


if __name__ == "__main__":
    main()
