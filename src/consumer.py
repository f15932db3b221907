"""Write one partition of the topic to Parquet files, one file per polled batch, forever.

    python3 consumer.py N [--recover]

Assigns partition N by hand and seeks to the offset in its checkpoint (`<CHECKPOINT_DIR>/
partition-N.json`), or to 0 without one. Every non-empty batch becomes `<DATA_URL>/partition-N-
batch-M.parquet` through the commit protocol of weather/commit.py: temp file, rename, then the
checkpoint {"batch_id": M, "offset": next offset, "topic_id": ...}. Readers trust batches
0..batch_id only. A corrupt checkpoint is rebuilt from the batch files (weather/recovery.py);
--recover rebuilds a missing one too. When the topic is recreated (a new topic id), before start
or while running, the partition starts afresh at batch 0, offset 0. Messages that are not Reports
go to `<DATA_URL>/deadletter/` (weather/deadletter.py), committed with their batch.
"""
import logging
import os
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError, LogTruncationError, OffsetOutOfRangeError

from weather import batches, checkpoint, commit, deadletter, incarnation, recovery, report, topic
from weather.batches import OffsetRange
from weather.config import Settings
from weather.deadletter import DeadLetter
from weather.program import FatalError, UsageError, retry, run, running
from weather.storage import ERRORS as storage_errors, open_storage

USAGE = "python3 consumer.py <partition_number> [--recover]"
POLL_MS = 1000
REPORT_EVERY = 10  # seconds between progress lines
FETCH_BYTES = 4 << 20  # per partition fetch: a few fetches fill a batch of the default size
ID_CHECK_EVERY = 2  # seconds between checks of the topic's id while no record arrives
log = logging.getLogger("consumer")


def arguments(argv):
    """(partition, recover) from `N [--recover]`."""
    args = argv[1:]
    recover = "--recover" in args
    args = [arg for arg in args if arg != "--recover"]
    if len(args) != 1:
        raise UsageError("give exactly one partition number")
    try:
        return int(args[0]), recover
    except ValueError:
        raise UsageError(f"{args[0]!r} is not a partition number (an integer)") from None


def batch_table(records, topic_id):
    """The polled records as one batch table, and those that are not Reports as dead letters (logged once)."""
    dates, degrees, station_ids, dead = [], [], [], []
    for record in records:
        try:
            reading = report.decode(record.value)
        except report.BadReport as error:
            log.warning("partition %d offset %d: %s; kept in the dead-letter file", record.partition,
                        record.offset, error)
            dead.append(DeadLetter.of(record.partition, record.offset, str(error), record.key, record.value))
            continue
        dates.append(reading.date)
        degrees.append(reading.degrees)
        station_ids.append(reading.station_id)
    offsets = OffsetRange(records[0].offset, records[-1].offset)
    return batches.build_table(dates, degrees, station_ids, offsets, topic_id, len(dead)), dead


def poll_batch(consumer, tp, max_rows, max_wait):
    """One batch's records: a blocking poll, then whatever is already fetched, up to max_rows or max_wait.

    Gathering stops at the first poll that finds nothing waiting, so a slow stream is committed as
    soon as it arrives and only a backlog or a fast stream makes bigger batches.
    """
    records = consumer.poll(timeout_ms=POLL_MS, max_records=max_rows).get(tp, [])
    deadline = time.monotonic() + max_wait
    while records and len(records) < max_rows and time.monotonic() < deadline:
        more = consumer.poll(timeout_ms=0, max_records=max_rows - len(records)).get(tp)
        if not more:
            break
        records.extend(more)
    return records


def main():
    partition, recover = arguments(sys.argv)
    settings = Settings.from_env()
    reached = commit.crash_hook(os.environ.get("CONSUMER_CRASH_AT"))  # fault tests only
    storage = open_storage(settings.data_url)
    dead_storage = open_storage(deadletter.folder_url(settings.data_url))
    # auto_offset_reset "none": an offset out of range (a recreated topic, deleted records) is an
    # error this program handles, never a silent jump to another offset.
    consumer = retry(lambda: KafkaConsumer(**settings.kafka_options(), enable_auto_commit=False,
                                           auto_offset_reset="none", max_poll_records=settings.consumer_max_records,
                                           max_partition_fetch_bytes=FETCH_BYTES),
                     "connecting to Kafka", log, (KafkaError,), settings.startup_wait, settings.kafka_advice)
    admin = retry(lambda: KafkaAdminClient(**settings.kafka_options(), client_id=f"consumer-{partition}"),
                  "connecting to Kafka", log, (KafkaError,), settings.startup_wait, settings.kafka_advice)
    partitions = retry(lambda: topic.partition_ids(consumer, settings.topic), f"looking up topic {settings.topic}",
                       log, (topic.TopicMissing,), settings.startup_wait,
                       "start producer.py (it creates the topic) or set TOPIC")
    if partition not in partitions:
        raise UsageError(f"topic {settings.topic} has partitions {sorted(partitions)}, not {partition}")
    tp = TopicPartition(settings.topic, partition)

    def topic_id(give_up_after=None):
        return retry(lambda: incarnation.current_topic_id(admin, settings.topic), f"looking up topic {settings.topic}",
                     log, (incarnation.TopicGone, KafkaError), give_up_after, settings.kafka_advice)

    current_id = topic_id(settings.startup_wait)
    log_end = retry(lambda: consumer.end_offsets([tp])[tp], "reading the log end offset", log, (KafkaError,),
                    settings.startup_wait, settings.kafka_advice)

    def prepare_storage():
        storage.ensure_folder()
        dead_storage.ensure_folder()
        for folder in (storage, dead_storage):
            for name in batches.remove_temp_files(folder, partition):
                log.info("removed stale %s/%s", folder.url, name)
        if checkpoint.remove_temp(settings.checkpoint_dir, partition):
            log.info("removed stale %s", checkpoint.temp_path(settings.checkpoint_dir, partition))
        return recovery.start_position(storage, settings.checkpoint_dir, partition, current_id, log_end, recover)

    saved = retry(prepare_storage, f"preparing {storage.url}", log, storage_errors, settings.startup_wait,
                  settings.storage_advice)
    batch_id, offset = (saved.batch_id + 1, saved.offset) if saved else (0, 0)
    consumer.assign([tp])
    consumer.seek(tp, offset)
    log.info("partition %d: from offset %d, next batch %d, topic id %s, writing to %s", partition, offset, batch_id,
             current_id, storage.url)

    def start_afresh(new_id, reason):
        """The topic was recreated under us: forget the old incarnation's batches, read the new one from 0."""
        log.warning("partition %d: %s; starting the partition afresh at batch 0, offset 0", partition, reason)
        checkpoint.remove(settings.checkpoint_dir, partition)  # readers drop the old batches at once
        consumer.seek(tp, 0)
        return new_id, 0, 0

    committed_rows = 0
    next_report = time.monotonic() + REPORT_EVERY
    next_id_check = time.monotonic() + ID_CHECK_EVERY
    try:
        while running():
            if time.monotonic() >= next_report:
                log.info("partition %d: %d batches committed, %d rows since start, next offset %d",
                         partition, batch_id, committed_rows, offset)
                next_report = time.monotonic() + REPORT_EVERY
            try:
                records = poll_batch(consumer, tp, settings.consumer_max_records, settings.consumer_batch_max_wait)
            except (OffsetOutOfRangeError, LogTruncationError) as error:
                now_id = topic_id()
                if now_id == current_id:
                    raise FatalError(f"partition {partition}: {type(error).__name__} in topic {settings.topic} "
                                     f"(id {current_id} unchanged): records not yet committed were deleted, so this "
                                     f"partition cannot be committed exactly once; move "
                                     f"{checkpoint.checkpoint_path(settings.checkpoint_dir, partition)} away to "
                                     f"start it afresh") from None
                current_id, batch_id, offset = start_afresh(now_id, f"offset {offset} is out of range "
                                                                    f"({type(error).__name__}) and the topic's id "
                                                                    f"changed from {current_id} to {now_id}")
                continue
            # Asked after the poll: if the id is still ours, so were the records. Asked now and then when
            # idle too, since a fetch at an offset the new topic has not reached yet just returns nothing.
            if records or time.monotonic() >= next_id_check:
                now_id = topic_id()
                next_id_check = time.monotonic() + ID_CHECK_EVERY
                if now_id != current_id:
                    current_id, batch_id, offset = start_afresh(now_id, f"the topic's id changed from {current_id} "
                                                                        f"to {now_id} (it was recreated)")
                    continue
            if not records:
                continue
            table, dead = batch_table(records, current_id)
            next_offset = records[-1].offset + 1  # the consumer's position after this batch
            retry(lambda: commit.commit_batch(storage, settings.checkpoint_dir, partition, batch_id, table,
                                              next_offset, reached, topic_id=current_id, dead_letters=dead,
                                              dead_letter_storage=dead_storage),
                  f"committing batch {batch_id}", log, storage_errors)
            log.debug("batch %d: %d rows, %d dead letters, offsets %d..%d", batch_id, table.num_rows, len(dead),
                      records[0].offset, records[-1].offset)
            batch_id += 1
            offset = next_offset
            committed_rows += table.num_rows
    finally:
        consumer.close()
        admin.close()


if __name__ == "__main__":
    run(main, USAGE)
