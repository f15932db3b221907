"""The local stack: real Kafka, HDFS and MariaDB servers as local processes (see stack/servers.py)."""
