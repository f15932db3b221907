#!/bin/bash
# Health check of the NameNode container: out of safe mode and at least one live DataNode, so the
# pipeline can write as soon as `docker compose up -d --wait` returns.
set -euo pipefail

fs="hdfs://${HDFS_NAMENODE:-boss:9000}"
# Two short-lived client JVMs every few seconds: keep them small and quick to start.
export HADOOP_CLIENT_OPTS="-Xmx64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"

hdfs dfsadmin -fs "$fs" -safemode get | grep -q 'Safe mode is OFF'
hdfs dfsadmin -fs "$fs" -report -live | grep -Eq '^Live datanodes \([1-9]'
