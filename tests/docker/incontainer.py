"""Checks that run inside the Kafka container, fed on stdin by graded_run.py:

    docker exec -i <PROJECT>-kafka python3 - keys|batches < tests/docker/incontainer.py

Nothing is copied into the container or its mounted src/; each prints one JSON document.
  keys     every message of the topic: its key is StationA..J, in Kafka's default partition for it
  batches  per partition: the checkpoint, the Parquet files under /data, every committed batch read
  table    the compactor's table (issue 18) against the committed batches: rows, and the snapshot readers use
"""
import io
import json
import os
import re
import sys
import time

STATIONS = [f"Station{c}" for c in "ABCDEFGHIJ"]
NAME = re.compile(r"partition-(\d+)-batch-(\d+)\.parquet")


def keys() -> dict:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.partitioner import murmur2  # the Java client's hash, as its default partitioner uses it

    consumer = KafkaConsumer(bootstrap_servers="localhost:9092", enable_auto_commit=False, group_id=None)
    partitions = sorted(consumer.partitions_for_topic("temperatures") or [])
    assigned = [TopicPartition("temperatures", p) for p in partitions]
    consumer.assign(assigned)
    consumer.seek_to_beginning(*assigned)
    ends = consumer.end_offsets(assigned)
    seen, wrong, bad = 0, [], []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(consumer.position(tp) < ends[tp] for tp in assigned):
        for tp, records in consumer.poll(timeout_ms=1000).items():
            for record in records:
                seen += 1
                key = (record.key or b"").decode(errors="replace")
                if key not in STATIONS:
                    bad.append(key)
                    continue
                expected = (murmur2(record.key) & 0x7FFFFFFF) % len(partitions)
                if tp.partition != expected:
                    wrong.append([key, tp.partition, expected])
    return {"partitions": partitions, "messages": seen, "bad_keys": sorted(set(bad))[:20],
            "wrong_partition": wrong[:20], "wrong_count": len(wrong)}


def batches() -> dict:
    import hdfs_native
    import pyarrow.parquet as pq

    client = hdfs_native.Client("hdfs://boss:9000")
    names = sorted(status.path.rsplit("/", 1)[-1] for status in client.list_status("/data"))
    result = {"names": names, "partitions": {}}
    for partition in range(4):
        try:
            with open(f"/partition-{partition}.json") as file:
                checkpoint = json.load(file)
        except FileNotFoundError:
            result["partitions"][partition] = {"checkpoint": None}
            continue
        info = {"checkpoint": checkpoint, "rows": 0, "unreadable": [], "bad_columns": []}
        for batch in range(checkpoint.get("batch_id", -1) + 1):
            name = f"partition-{partition}-batch-{batch}.parquet"
            try:
                with client.read(f"/data/{name}") as reader:
                    table = pq.read_table(io.BytesIO(reader.read()))
            except Exception as error:  # noqa: BLE001 - reported, not raised: every batch is checked
                info["unreadable"].append(f"{name}: {type(error).__name__}: {error}"[:300])
                continue
            info["rows"] += table.num_rows
            if sorted(table.column_names) != ["date", "degrees", "station_id"]:
                info["bad_columns"].append([name, table.column_names])
        result["partitions"][partition] = info
    return result


def table() -> dict:
    sys.path.insert(0, "/src")  # the pipeline's own readers, with its default settings (the specification's)
    from collections import Counter

    from weather.common.config import Settings
    from weather.common.storage import open_storage
    from weather.common.table import TableVersion
    from weather.read import committed, snapshot

    def multiset(rows):
        return Counter(zip(rows["station_id"].to_pylist(), rows["date"].to_pylist(), rows["degrees"].to_pylist()))

    settings = Settings.from_env()
    storage = open_storage(settings.data_url)
    version = TableVersion.latest(settings.table_url)
    in_table = multiset(version.rows(list(range(4))))
    seen = multiset(snapshot.read_rows(storage, settings.checkpoint_dir, settings.table_url, range(4)))
    raw = multiset(committed.read_committed(storage, settings.checkpoint_dir, range(4)))
    return {"url": settings.table_url, "version": version.version, "files": version.file_count(),
            "table_rows": sum(in_table.values()), "raw_rows": sum(raw.values()),
            "table_in_raw": not in_table - raw, "table_equals_raw": in_table == raw, "snapshot_equals_raw": seen == raw}


if __name__ == "__main__":
    print(json.dumps({"keys": keys, "batches": batches, "table": table}[sys.argv[1]]()), flush=True)
    # Straight out: with a DataNode down, the HDFS and Arrow client threads have aborted the
    # interpreter's teardown ("terminate called without an active exception") after the answer.
    os._exit(0)
