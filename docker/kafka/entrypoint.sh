#!/bin/bash
# Main process of the p7-kafka container (under tini): the Kafka broker, single node, KRaft.
#
# Its settings are stack/conf/server.properties, unchanged, as in the local stack; like the local
# stack, only where the log segments live is added here. The broker listens on 127.0.0.1:9092,
# so the programs in this container reach it as localhost:9092 (the pipeline's default).
set -euo pipefail

state="${KAFKA_STATE:-/var/lib/kafka}"
config="${state}/server.properties"
mkdir -p "$state"
{ cat "${KAFKA_HOME}/config/server.properties"; printf '\nlog.dirs=%s\n' "${state}/data"; } > "$config"

# Format the storage only when it is empty (a restarted container keeps its topics and offsets).
# --standalone: this one node is the whole controller quorum (controller.quorum.bootstrap.servers).
if [[ ! -f "${state}/data/meta.properties" ]]; then
  kafka-storage.sh format --standalone --cluster-id "$(kafka-storage.sh random-uuid)" --config "$config"
fi

# /src is the host user's mounted source folder: nothing here writes into it. The programs import
# src/report_pb2.py when it is fresh and otherwise generate it into a cache outside /src
# (src/weather/report.py); PYTHONDONTWRITEBYTECODE (Dockerfile.kafka) keeps __pycache__ out of it.

# shellcheck disable=SC2086  # KAFKA_HEAP_OPTS is a list of JVM options
exec java ${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g} -Djava.awt.headless=true \
  "-Dlog4j2.configurationFile=${KAFKA_HOME}/config/log4j2.yaml" \
  -cp "${KAFKA_HOME}/libs/*" kafka.Kafka "$config"
