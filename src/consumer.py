"""Write one partition of the topic to Parquet files, one file per polled batch, forever.

    python3 consumer.py N [--recover]

Holds partition N alone: a second `consumer.py N` on this machine takes it over (weather/common/
lock.py). Assigns the partition by hand and seeks to the offset in its checkpoint (`<CHECKPOINT_DIR>/
partition-N.json`), or to 0 without one. The partition's writer (weather/consume/writer.py, a state
machine) recovers first, then commits every non-empty batch as `<DATA_URL>/partition-N-batch-M.parquet`:
temp file, rename, then the checkpoint {"batch_id": M, "offset": next offset}. Readers trust batches
0..batch_id only. Records whose row id the partition already committed are dropped. A corrupt
checkpoint is rebuilt from the batch files (weather/consume/recovery.py); --recover rebuilds a missing
one too. When the topic is recreated (a new topic id), before start or while running, the partition
starts afresh at batch 0, offset 0. Messages that are not Reports go to `<DEADLETTER_URL>/`
(weather/common/deadletter.py), committed with their batch. A topic or server that is not there yet is
waited for.
"""
import logging
import os
import time

# Arrow's default allocator (jemalloc) costs some 10 MB of peak RSS for no speed here; it is chosen
# when pyarrow is first imported, so this comes before the imports below (a user's setting wins).
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition  # noqa: E402
from kafka.errors import KafkaError, LogTruncationError, OffsetOutOfRangeError  # noqa: E402

from weather.common import incarnation, topic  # noqa: E402
from weather.common.crash import crash_hook  # noqa: E402
from weather.common.config import Settings  # noqa: E402
from weather.consume.fetch import PartitionPoller  # noqa: E402
from weather.consume.writer import PartitionWriter, State  # noqa: E402
from weather.common.program import ArgumentParser, UsageError, run  # noqa: E402
from weather.common.waiting import retry, running  # noqa: E402
from weather.common.storage import ERRORS as storage_errors, open_storage  # noqa: E402

USAGE = "python3 consumer.py <partition_number> [--recover]"
REPORT_EVERY = 10  # seconds between progress lines
# Per partition fetch. The compiled decoder turns a fetch into columns in a few ms, so a larger one
# only costs memory (4 MiB: 141 MB peak RSS for one consumer draining 400,000 rows, 1 MiB: 124 MB).
FETCH_BYTES = 1 << 20
ID_CHECK_EVERY = 2  # seconds between checks of the topic's id while no record arrives
log = logging.getLogger("consumer")


def arguments():
    parser = ArgumentParser(prog="consumer.py", description="Write one partition of the topic to Parquet files.")
    parser.add_argument("partition", type=int, help="the partition number")
    parser.add_argument("--recover", action="store_true",
                        help="without a checkpoint, rebuild it from the batch files instead of starting at batch 0")
    return parser.parse_args()


def main():
    args = arguments()
    settings = Settings.from_env()
    reached = crash_hook("CONSUMER_CRASH_AT", State, "batch_id")  # fault tests only
    partition = args.partition
    # auto_offset_reset "none": an offset out of range (a recreated topic, deleted records) is an
    # error this program handles, never a silent jump to another offset.
    consumer = retry(lambda: KafkaConsumer(**settings.kafka_options(), enable_auto_commit=False,
                                           auto_offset_reset="none", max_poll_records=settings.consumer_max_records,
                                           max_partition_fetch_bytes=FETCH_BYTES),
                     "connecting to Kafka", log, (KafkaError,), settings.startup_wait, settings.kafka_advice)
    admin = retry(lambda: KafkaAdminClient(**settings.kafka_options(), client_id=f"consumer-{partition}"),
                  "connecting to Kafka", log, (KafkaError,), settings.startup_wait, settings.kafka_advice)
    waiting_advice = f"start producer.py (it creates topic {settings.topic}), or set TOPIC"
    partitions = retry(lambda: topic.partition_ids(consumer, settings.topic), f"looking up topic {settings.topic}",
                       log, (topic.TopicMissing,), settings.startup_wait, waiting_advice)
    if partition not in partitions:
        raise UsageError(f"topic {settings.topic} has partitions {sorted(partitions)}, not {partition}")
    # Only now, sure of the partition, take it over: a mistyped one never stops a healthy writer.
    writer = PartitionWriter.acquire(partition, settings.lock_dir, settings.takeover_wait, log,
                                     storage=open_storage(settings.data_url),
                                     dead_storage=open_storage(settings.deadletter_url, "DEADLETTER_URL"),
                                     checkpoint_dir=settings.checkpoint_dir, reached=reached)
    tp = TopicPartition(settings.topic, partition)

    def topic_id(give_up_after=None):
        return retry(lambda: incarnation.current_topic_id(admin, settings.topic), f"looking up topic {settings.topic}",
                     log, (incarnation.TopicGone, KafkaError), give_up_after, waiting_advice)

    retry(lambda: writer.start(topic_id(settings.startup_wait), args.recover), f"preparing {writer.storage.url}",
          log, storage_errors, settings.startup_wait, settings.storage_advice)
    consumer.assign([tp])
    poller = PartitionPoller(consumer, tp, log)
    poller.seek(writer.offset)
    log.info("partition %d: from offset %d, next batch %d, topic id %s, writing to %s", partition, writer.offset,
             writer.batch_id, writer.topic_id, writer.storage.url)

    next_report = time.monotonic() + REPORT_EVERY
    next_id_check = time.monotonic() + ID_CHECK_EVERY
    try:
        while running():
            if time.monotonic() >= next_report:
                log.info("partition %d: %d batches committed, %d rows since start, next offset %d",
                         partition, writer.batch_id, writer.rows_committed, writer.offset)
                next_report = time.monotonic() + REPORT_EVERY
            try:
                records = poller.poll_batch(settings.consumer_max_records, settings.consumer_batch_max_wait)
            except (OffsetOutOfRangeError, LogTruncationError) as error:
                writer.offset_lost(topic_id(), error)
                poller.seek(writer.offset)
                continue
            # Asked after the poll: if the id is still ours, so were the records. Asked now and then when
            # idle too, since a fetch at an offset the new topic has not reached yet just returns nothing.
            if records or time.monotonic() >= next_id_check:
                next_id_check = time.monotonic() + ID_CHECK_EVERY
                if writer.follow_topic(topic_id()):
                    poller.seek(writer.offset)
                    continue
            batch = writer.batch(records) if records else None
            if batch is None:  # nothing polled, or only records before the position (a compacted record batch)
                continue
            retry(lambda: writer.commit(batch), f"committing batch {batch.batch_id}", log, storage_errors)
            log.debug("batch %d: %d rows, %d dead letters, %d duplicates dropped, offsets up to %d", batch.batch_id,
                      batch.table.num_rows, len(batch.dead_letters), batch.duplicates, batch.next_offset - 1)
    finally:
        consumer.close()
        admin.close()  # the partition's lock is left to the kernel: released once this process is gone


if __name__ == "__main__":
    run(main, USAGE)
