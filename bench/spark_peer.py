"""The peer: Spark Structured Streaming draining a topic into Parquet on HDFS, once per topic given.

    python -m bench.spark_peer BOOTSTRAP OUT_URL CHECKPOINT_DIR TOPIC...

One Spark session (local[*], started once: its start-up is reported apart), then for each topic a
query with trigger(availableNow=True): Kafka source from the earliest offset, the protobuf value
decoded by mapInArrow (Arrow batches in and out, no pandas) calling the pipeline's own Report codec, Parquet sink
with a checkpoint location. spark-protobuf's from_protobuf would decode in the JVM, but it is not
on the Maven mirror reachable here. Prints one JSON object: start-up seconds and, per topic, the
query's seconds and the rows Spark's own file-sink log says it committed.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

from bench.common import SPARK_KAFKA_JARS
from weather.common import report

REPORT_SCHEMA = StructType([StructField("date", StringType()), StructField("degrees", DoubleType()),
                            StructField("station_id", StringType())])


def decode_reports(batches):
    """Arrow batches of Kafka values -> Arrow batches of (date, degrees, station_id)."""
    for batch in batches:
        reports = [report.decode(value) for value in batch.column("value").to_pylist()]
        yield pa.RecordBatch.from_pydict({"date": [r.date for r in reports], "degrees": [r.degrees for r in reports],
                                          "station_id": [r.station_id for r in reports]})


def session() -> SparkSession:
    jars = ",".join(str(jar) for jar in sorted(Path(SPARK_KAFKA_JARS).glob("*.jar")))
    spark = (SparkSession.builder.master("local[*]").appName("weather-bench-peer")
             .config("spark.jars", jars)
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.memory", "2g")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def drain(spark: SparkSession, bootstrap: str, topic: str, out: str, checkpoint: str) -> dict:
    started = time.monotonic()
    stream = (spark.readStream.format("kafka").option("kafka.bootstrap.servers", bootstrap)
              .option("subscribe", topic).option("startingOffsets", "earliest").load())
    reports = stream.select("value").mapInArrow(decode_reports, REPORT_SCHEMA)
    query = (reports.writeStream.format("parquet").option("path", out).option("checkpointLocation", checkpoint)
             .trigger(availableNow=True).start())
    query.awaitTermination()
    seconds = time.monotonic() - started
    rows = spark.read.parquet(out).count()  # through _spark_metadata: only the committed files
    return {"topic": topic, "seconds": seconds, "rows": rows}


def main() -> None:
    bootstrap, out_url, checkpoint_dir, *topics = sys.argv[1:]
    started = time.monotonic()
    spark = session()
    startup = time.monotonic() - started
    runs = [drain(spark, bootstrap, topic, f"{out_url}/{topic}", f"{checkpoint_dir}/{topic}") for topic in topics]
    spark.stop()
    print(json.dumps({"startup_seconds": startup, "runs": runs}))


if __name__ == "__main__":
    main()
