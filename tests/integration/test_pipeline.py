"""The real programs as subprocesses against the local stack: every point of issue 3's contract."""
from __future__ import annotations

import ast
import json
import re
from collections import Counter

import pyarrow as pa
import pytest
from kafka import KafkaProducer

from world import SPEC_FIRST_DAY, STATIONS, wait_for
from weather.common import batches, checkpoint, report
from weather.read import committed
from weather.common.storage import open_storage


def days(first: int, count: int) -> list[tuple[str, str, float]]:
    """count days of readings for every station, distinct values, from day `first` of January 2001."""
    return [(station, f"2001-{1 + (first + day) // 28:02d}-{1 + (first + day) % 28:02d}", 10.0 + day + index / 10)
            for day in range(count) for index, station in enumerate(STATIONS)]


def assert_clean_exit(program, code: int) -> None:
    assert code == 0, f"{program.name} exited {code}:\n{program.stderr}"
    assert "Traceback" not in program.stderr, program.stderr


def checkpoints(pipeline) -> dict[int, checkpoint.Checkpoint | None]:
    return {p: checkpoint.load(str(pipeline.checkpoint_dir), p) for p in range(4)}


def caught_up(pipeline) -> bool:
    """Every partition's checkpoint points at its end: all of the topic is committed."""
    ends = pipeline.end_offsets()
    saved = checkpoints(pipeline)
    return all((saved[p].offset if saved[p] else 0) == end for p, end in ends.items())


def committed_rows(pipeline) -> Counter:
    table = committed.read_committed(open_storage(pipeline.data_url), str(pipeline.checkpoint_dir), range(4))
    return Counter(zip(table["station_id"].to_pylist(), table["date"].to_pylist(), table["degrees"].to_pylist()))


def table_rows(pipeline) -> Counter:
    return Counter((station, date, degrees) for _, station, date, degrees in pipeline.table_rows())


def test_generator_inserts_the_specifications_first_rows(pipeline):
    generator = pipeline.start("weather_generator.py", AUTOGRADER_DELAY_OVERRIDE_VAL="0.001")
    wait_for(lambda: len(pipeline.table_rows()) >= 25, 30, "the generator's rows")
    assert_clean_exit(generator, generator.stop())
    rows = pipeline.table_rows()
    assert [row[1:] for row in rows[:10]] == SPEC_FIRST_DAY
    assert [row[0] for row in rows] == list(range(1, len(rows) + 1))
    assert rows[19][1:] == ("StationJ", "2000-01-02", 1.0) and rows[18][3] == 5.0


def test_producer_recreates_the_topic_and_sends_every_row_keyed_by_station(pipeline):
    admin = pipeline.admin()
    admin.create_topics({pipeline.topic: {"num_partitions": 1, "replication_factor": 1}})
    admin.close()
    old = KafkaProducer(bootstrap_servers=pipeline.bootstrap)
    old.send(pipeline.topic, b"from the previous run").get(timeout=30)
    old.close()

    producer = pipeline.start("producer.py")  # the table is empty: it must wait, not exit
    wait_for(lambda: pipeline.partitions() == [0, 1, 2, 3], 60, "the topic recreated with 4 partitions")
    wait_for(lambda: "rows sent" in producer.stderr, 30, "the producer polling the empty table")
    pipeline.insert(days(0, 3))
    wait_for(lambda: sum(pipeline.end_offsets().values()) >= 30, 30, "the first rows in Kafka")
    pipeline.insert(days(3, 2))  # rows that arrive later are picked up too
    wait_for(lambda: sum(pipeline.end_offsets().values()) >= 50, 30, "the later rows in Kafka")
    assert producer.process.poll() is None

    messages = pipeline.messages()
    rows = {id: (station, date, degrees) for id, station, date, degrees in pipeline.table_rows()}
    assert len(messages) == len(rows) == 50  # the old message went with the old topic
    partition_of = {}
    for message in messages:
        station = message.key.decode()
        assert station in STATIONS
        assert partition_of.setdefault(station, message.partition) == message.partition
        headers = dict(message.headers)
        reading = report.decode(message.value)
        assert (reading.station_id, reading.date, reading.degrees) == rows[int(headers["row_id"])]
    assert sorted(int(dict(m.headers)["row_id"]) for m in messages) == sorted(rows)
    for partition in range(4):  # within a partition, rows arrive in id order
        ids = [int(dict(m.headers)["row_id"]) for m in messages if m.partition == partition]
        assert ids == sorted(ids)
    assert_clean_exit(producer, producer.stop())


def test_debug_prints_one_dict_per_new_message(pipeline):
    generator = pipeline.start("weather_generator.py", AUTOGRADER_DELAY_OVERRIDE_VAL="0.02")
    producer = pipeline.start("producer.py")
    wait_for(lambda: sum(pipeline.end_offsets().values()) >= 20, 60, "the first two days in Kafka")
    debug = pipeline.start("debug.py")
    wait_for(lambda: len(debug.stdout.splitlines()) >= 40, 60, "40 lines from debug.py")
    for program in (debug, producer, generator):
        assert_clean_exit(program, program.stop())
    partition_of = {}
    lines = debug.stdout.splitlines()
    for line in lines:
        printed = ast.literal_eval(line)
        assert list(printed) == ["station_id", "date", "degrees", "partition"]
        assert printed["station_id"] in STATIONS
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", printed["date"])
        assert isinstance(printed["degrees"], float) and round(printed["degrees"], 4) == printed["degrees"]
        assert partition_of.setdefault(printed["station_id"], printed["partition"]) == printed["partition"]
    # No seek to the beginning: a new group starts at the end, so the first day, sent before it joined, is missing.
    assert "2000-01-01" not in {ast.literal_eval(line)["date"] for line in lines}


def test_consumers_commit_every_row_exactly_once_and_resume_from_their_checkpoints(pipeline):
    generator = pipeline.start("weather_generator.py")
    producer = pipeline.start("producer.py")
    consumers = [pipeline.start("consumer.py", str(p)) for p in range(4)]
    wait_for(lambda: len(pipeline.table_rows()) >= 300, 60, "300 rows in the table")
    assert_clean_exit(generator, generator.stop())
    rows = len(pipeline.table_rows())
    wait_for(lambda: sum(pipeline.end_offsets().values()) == rows, 30, "every row in Kafka")
    wait_for(lambda: caught_up(pipeline), 60, "the consumers to commit everything")
    for consumer in consumers:
        assert_clean_exit(consumer, consumer.stop())

    storage = open_storage(pipeline.data_url)
    names = storage.names()  # the data folder holds batch files only
    assert not [name for name in names if name.endswith(".tmp")]
    assert all(re.fullmatch(r"partition-[0-3]-batch-\d+\.parquet", name) for name in names), names
    ends = pipeline.end_offsets()
    for partition in range(4):
        saved = json.loads((pipeline.checkpoint_dir / f"partition-{partition}.json").read_text())
        assert list(saved) == ["batch_id", "offset"] and saved["offset"] == ends[partition]
        assert batches.batch_ids(storage, partition) == list(range(saved["batch_id"] + 1))
        next_first = 0
        for batch_id in range(saved["batch_id"] + 1):  # batches tile the partition's offsets
            offsets = batches.read_offsets(storage, partition, batch_id)
            assert offsets.first == next_first and offsets.last >= offsets.first
            next_first = offsets.last + 1
            assert batches.read_batch(storage, partition, batch_id).schema == pa.schema(
                [("date", pa.string()), ("degrees", pa.float64()), ("station_id", pa.string())])
        assert next_first == saved["offset"]
    assert committed_rows(pipeline) == table_rows(pipeline)

    reader = pipeline.run("reader.py")
    assert reader.returncode == 0, reader.stderr
    per_station = Counter(station for station, _, _ in table_rows(pipeline).elements())
    for station in STATIONS:
        assert re.search(rf"^{station}\s+{per_station[station]}\s+-?\d+\.\d{{4}}$", reader.stdout, re.M), reader.stdout
    assert re.search(rf"^total\s+{rows}$", reader.stdout, re.M)

    before = checkpoints(pipeline)
    pipeline.insert(days(0, 5))
    consumers = [pipeline.start("consumer.py", str(p)) for p in range(4)]
    wait_for(lambda: sum(pipeline.end_offsets().values()) == rows + 50, 30, "the new rows in Kafka")
    wait_for(lambda: caught_up(pipeline), 60, "the restarted consumers to commit the new rows")
    for program in (*consumers, producer):
        assert_clean_exit(program, program.stop())
    after = checkpoints(pipeline)
    assert any(after[p].batch_id > before[p].batch_id for p in range(4))
    for partition in (p for p in range(4) if after[p].batch_id > before[p].batch_id):
        # Numbering continued after the checkpoint, from the checkpoint's offset: nothing re-read from 0.
        assert batches.read_offsets(storage, partition, before[partition].batch_id + 1).first == before[partition].offset
    assert committed_rows(pipeline) == table_rows(pipeline)


def test_a_crash_after_the_rename_leaves_the_batch_uncommitted_until_the_restart_rewrites_it(pipeline):
    producer = pipeline.start("producer.py")
    wait_for(lambda: pipeline.partitions() == [0, 1, 2, 3], 60, "the topic")
    pipeline.insert(days(0, 4))
    crashing = pipeline.start("consumer.py", "0", CONSUMER_CRASH_AT="renamed:1")
    wait_for(lambda: checkpoint.load(str(pipeline.checkpoint_dir), 0), 60, "batch 0 committed")
    pipeline.insert(days(4, 4))
    assert crashing.wait(60) == -9  # SIGKILL at the named step
    storage = open_storage(pipeline.data_url)
    assert storage.exists(batches.batch_name(0, 1))
    assert checkpoint.load(str(pipeline.checkpoint_dir), 0).batch_id == 0
    batch_0 = batches.read_batch(storage, 0, 0)
    assert committed.read_committed_partition(storage, str(pipeline.checkpoint_dir), 0).equals(batch_0)

    restarted = pipeline.start("consumer.py", "0")
    wait_for(lambda: checkpoint.load(str(pipeline.checkpoint_dir), 0).offset == pipeline.end_offsets()[0], 60,
             "partition 0 caught up after the restart")
    assert_clean_exit(restarted, restarted.stop())
    assert_clean_exit(producer, producer.stop())
    rows = committed.read_committed_partition(storage, str(pipeline.checkpoint_dir), 0)
    kafka_rows = [report.decode(m.value) for m in pipeline.messages() if m.partition == 0]
    assert Counter(zip(rows["station_id"].to_pylist(), rows["date"].to_pylist(), rows["degrees"].to_pylist())) \
        == Counter((r.station_id, r.date, r.degrees) for r in kafka_rows)


def test_a_temp_file_left_by_a_crash_is_removed_on_restart(pipeline):
    producer = pipeline.start("producer.py")
    wait_for(lambda: pipeline.partitions() == [0, 1, 2, 3], 60, "the topic")
    pipeline.insert(days(0, 2))
    crashing = pipeline.start("consumer.py", "0", CONSUMER_CRASH_AT="temp_written")
    assert crashing.wait(60) == -9
    storage = open_storage(pipeline.data_url)
    temps = batches.temp_files(storage, 0)
    assert sorted(storage.names()) == temps and len(temps) == 1
    assert checkpoint.load(str(pipeline.checkpoint_dir), 0) is None
    assert committed.read_committed_partition(storage, str(pipeline.checkpoint_dir), 0).num_rows == 0

    restarted = pipeline.start("consumer.py", "0")
    wait_for(lambda: checkpoint.load(str(pipeline.checkpoint_dir), 0), 60, "batch 0 committed after the restart")
    assert_clean_exit(restarted, restarted.stop())
    assert_clean_exit(producer, producer.stop())
    assert sorted(storage.names()) == [batches.batch_name(0, 0)]
    assert f"removed stale {pipeline.data_url}/{temps[0]}" in restarted.stderr


@pytest.mark.parametrize("args, complaint", [
    ([], "required: partition"), (["zero"], "invalid int value: 'zero'"), (["4"], "not 4"),
    (["-1"], "not -1"), (["0", "1"], "unrecognized arguments: 1")])
def test_a_bad_partition_argument_is_a_one_line_usage_error(pipeline, args, complaint):
    admin = pipeline.admin()
    admin.create_topics({pipeline.topic: {"num_partitions": 4, "replication_factor": 1}}, wait_for_metadata=True)
    admin.close()
    result = pipeline.run("consumer.py", *args)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: python3 consumer.py <partition_number> [--recover]: ")
    assert complaint in result.stderr and result.stderr.count("\n") == 1


def test_a_missing_topic_or_an_unreachable_server_is_a_one_line_error(pipeline):
    missing = pipeline.run("consumer.py", "0", STARTUP_WAIT_SECONDS="1")
    assert missing.returncode == 1
    last = missing.stderr.splitlines()[-1]
    assert last.startswith("consumer.py: error: ") and pipeline.topic in last and "producer.py" in last
    assert "Traceback" not in missing.stderr

    unreachable = pipeline.run("producer.py", STARTUP_WAIT_SECONDS="1", KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")
    assert unreachable.returncode == 1
    last = unreachable.stderr.splitlines()[-1]
    assert last.startswith("producer.py: error: connecting to Kafka failed") and "KAFKA_BOOTSTRAP_SERVERS" in last
    assert "Traceback" not in unreachable.stderr
