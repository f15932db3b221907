"""Write one partition of the topic to Parquet files, one file per polled batch, forever.

    python3 consumer.py N

Assigns partition N by hand and seeks to the offset in its checkpoint (`<CHECKPOINT_DIR>/
partition-N.json`), or to 0 without one. Every non-empty batch becomes `<DATA_URL>/partition-N-
batch-M.parquet` through the commit protocol of weather/commit.py: temp file, rename, then the
checkpoint {"batch_id": M, "offset": next offset}. Readers trust batches 0..batch_id only.
"""
import logging
import os
import sys
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from weather import batches, checkpoint, commit, report, topic
from weather.batches import OffsetRange
from weather.config import Settings
from weather.program import FatalError, UsageError, retry, run, running
from weather.storage import open_storage

USAGE = "python3 consumer.py <partition_number>"
POLL_MS = 1000
REPORT_EVERY = 10  # seconds between progress lines
STORAGE_ERRORS = (OSError, RuntimeError)  # hdfs-native raises both for an unreachable or failing HDFS
log = logging.getLogger("consumer")


def partition_argument(argv):
    if len(argv) != 2:
        raise UsageError("give exactly one partition number")
    try:
        return int(argv[1])
    except ValueError:
        raise UsageError(f"{argv[1]!r} is not a partition number (an integer)") from None


def start_position(storage, checkpoint_dir, partition):
    """The checkpoint to continue from: the saved one, or one rebuilt from the batch files if it is corrupt."""
    try:
        return checkpoint.load(checkpoint_dir, partition)
    except checkpoint.CorruptCheckpoint as error:
        rebuilt = checkpoint.rebuild_from_batches(storage, partition)
        log.warning("%s; rebuilt it from the batch files' offsets: %s", error, rebuilt)
        if rebuilt:
            checkpoint.save(checkpoint_dir, partition, rebuilt)
        else:
            os.remove(checkpoint.checkpoint_path(checkpoint_dir, partition))
        return rebuilt


def batch_table(records):
    """The polled records as one batch table; FatalError naming the offset of a value that is not a Report."""
    dates, degrees, station_ids = [], [], []
    for record in records:
        try:
            reading = report.decode(record.value)
        except report.BadReport as error:
            raise FatalError(f"partition {record.partition} offset {record.offset}: {error}") from None
        dates.append(reading.date)
        degrees.append(reading.degrees)
        station_ids.append(reading.station_id)
    return batches.build_table(dates, degrees, station_ids, OffsetRange(records[0].offset, records[-1].offset))


def main():
    partition = partition_argument(sys.argv)
    settings = Settings.from_env()
    reached = commit.crash_hook(os.environ.get("CONSUMER_CRASH_AT"))  # fault tests only
    storage = open_storage(settings.data_url)
    consumer = retry(lambda: KafkaConsumer(**settings.kafka_options(), enable_auto_commit=False,
                                           auto_offset_reset="earliest"),
                     "connecting to Kafka", log, (KafkaError,), settings.startup_wait, settings.kafka_advice)
    partitions = retry(lambda: topic.partition_ids(consumer, settings.topic), f"looking up topic {settings.topic}",
                       log, (topic.TopicMissing,), settings.startup_wait,
                       "start producer.py (it creates the topic) or set TOPIC")
    if partition not in partitions:
        raise UsageError(f"topic {settings.topic} has partitions {sorted(partitions)}, not {partition}")

    def prepare_storage():
        storage.ensure_folder()
        for name in batches.remove_temp_files(storage, partition):
            log.info("removed stale %s/%s", storage.url, name)
        return start_position(storage, settings.checkpoint_dir, partition)

    saved = retry(prepare_storage, f"preparing {storage.url}", log, STORAGE_ERRORS, settings.startup_wait,
                  settings.storage_advice)
    batch_id, offset = (saved.batch_id + 1, saved.offset) if saved else (0, 0)
    tp = TopicPartition(settings.topic, partition)
    consumer.assign([tp])
    consumer.seek(tp, offset)
    log.info("partition %d: from offset %d, next batch %d, writing to %s", partition, offset, batch_id, storage.url)
    committed_rows = 0
    next_report = time.monotonic() + REPORT_EVERY
    try:
        while running():
            if time.monotonic() >= next_report:
                log.info("partition %d: %d batches committed, %d rows since start, next offset %d",
                         partition, batch_id, committed_rows, consumer.position(tp))
                next_report = time.monotonic() + REPORT_EVERY
            records = consumer.poll(timeout_ms=POLL_MS).get(tp)
            if not records:
                continue
            table = batch_table(records)
            next_offset = consumer.position(tp)
            retry(lambda: commit.commit_batch(storage, settings.checkpoint_dir, partition, batch_id, table,
                                              next_offset, reached),
                  f"committing batch {batch_id}", log, STORAGE_ERRORS)
            log.debug("batch %d: %d rows, offsets %d..%d", batch_id, len(records), records[0].offset,
                      records[-1].offset)
            batch_id += 1
            committed_rows += len(records)
    finally:
        consumer.close()


if __name__ == "__main__":
    run(main, USAGE)
