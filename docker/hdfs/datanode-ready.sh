#!/bin/bash
# Health check of a DataNode container: the DataNode answers on its IPC port (it has started and
# registered its storage); a killed or hung DataNode turns unhealthy.
set -euo pipefail

# A short-lived client JVM every few seconds: keep it small and quick to start.
export HADOOP_CLIENT_OPTS="-Xmx64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"

hdfs dfsadmin -fs "hdfs://${HDFS_NAMENODE:-boss:9000}" -getDatanodeInfo "127.0.0.1:9867" | grep -q '^Uptime:'
