#!/bin/bash
# Runs one HDFS daemon of the compose cluster in the foreground: `hdfs-daemon namenode|datanode`.
#
# The settings are stack/conf/*-site.xml, unchanged (copied into $HADOOP_HOME/etc/hadoop). Those
# files address a one-machine stack on 127.0.0.1; here only the addresses and the storage folder
# differ, so they are overridden with Hadoop's generic -D options (parsed by both daemons' main).
set -euo pipefail

namenode="${HDFS_NAMENODE:-boss:9000}"   # host:port of the NameNode on the compose network
storage="${HDFS_STORAGE:-/var/lib/hadoop}"

common=(
  "-Dfs.defaultFS=hdfs://${namenode}"
  "-Ddfs.namenode.rpc-address=${namenode}"
  # Every HDFS folder default (dfs/name, dfs/data) lives under hadoop.tmp.dir.
  "-Dhadoop.tmp.dir=${storage}"
)

case "${1:-}" in
  namenode)
    opts=(
      "${common[@]}"
      # Listen on every interface of the container, not only on the address boss resolves to.
      "-Ddfs.namenode.rpc-bind-host=0.0.0.0"
      "-Ddfs.namenode.http-address=0.0.0.0:9870"
      # DataNode replicas have generated host names; do not insist on reverse DNS for them.
      "-Ddfs.namenode.datanode.registration.ip-hostname-check=false"
    )
    # Format only an empty NameNode: a restarted container keeps its namespace.
    if [[ ! -f "${storage}/dfs/name/current/VERSION" ]]; then
      hdfs namenode "${opts[@]}" -format -force -nonInteractive
    fi
    exec hdfs namenode "${opts[@]}"
    ;;
  datanode)
    exec hdfs datanode "${common[@]}" \
      "-Ddfs.datanode.address=0.0.0.0:9866" \
      "-Ddfs.datanode.http.address=0.0.0.0:9864" \
      "-Ddfs.datanode.ipc.address=0.0.0.0:9867" \
      "-Ddfs.datanode.hostname=$(hostname)"
    ;;
  *)
    echo "usage: hdfs-daemon namenode|datanode" >&2
    exit 2
    ;;
esac
