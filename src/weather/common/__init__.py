"""What the producer, the consumer and the readers share, and nothing else.

Owns: settings from the environment (config), waiting and the stop flag (waiting), the command-line
runner of the entry points (program), the one error type of the library (errors), storage on HDFS or
local disk (storage), the database connection (database), the record contract (report: the Report
codec; records: the row_id header, the partitioner, reading a partition's tail), the file contracts (batches, checkpoint, deadletter), the
single-writer lock and process identity (lock, process), the fault tests' crash points (crash), the topic's metadata (topic, incarnation), and every use of kafka-python's
private names, checked against its pinned version (kafka_adapter).
May import: third-party packages only; nothing else of ours.
"""
