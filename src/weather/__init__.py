"""The weather pipeline's library, by role. The entry points (src/*.py) read top to bottom and call it.

    common/   what every side shares: settings, waiting and stopping, storage, the record and file contracts
    produce/  the table -> Kafka side (producer.py)
    consume/  the Kafka -> Parquet side: the partition writer's state machine (consumer.py)
    read/     what reads committed data: the snapshot reader, the verifier, the dashboard

A row's way: produce.source reads it from MySQL -> produce.delivery sends it as a common.report
Report with a common.records row_id header -> consume.fetch decodes a poll -> consume.writer commits
it as a common.batches file and a common.checkpoint -> read.committed reads batches 0..checkpoint.
"""
