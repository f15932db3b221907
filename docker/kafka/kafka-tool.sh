#!/bin/bash
# Kafka's command-line tools, named as in Kafka's binary distribution (kafka-topics.sh, ...).
# The image holds Kafka as the jars of stack/maven/kafka/pom.xml, not the distribution, so each name
# is a link to this script, which runs the tool's main class from those jars.
set -euo pipefail

case "$(basename "$0")" in
  kafka-topics.sh)               class=org.apache.kafka.tools.TopicCommand ;;
  kafka-console-consumer.sh)     class=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
  kafka-console-producer.sh)     class=org.apache.kafka.tools.ConsoleProducer ;;
  kafka-consumer-groups.sh)      class=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
  kafka-get-offsets.sh)          class=org.apache.kafka.tools.GetOffsetShell ;;
  kafka-broker-api-versions.sh)  class=org.apache.kafka.tools.BrokerApiVersionsCommand ;;
  kafka-storage.sh)              class=kafka.tools.StorageTool ;;
  *) echo "kafka-tool: unknown tool name $(basename "$0")" >&2; exit 2 ;;
esac

# No log4j2 configuration: the tools then log errors only and print just their own output.
# shellcheck disable=SC2086  # KAFKA_TOOL_OPTS is a list of JVM options
exec java ${KAFKA_TOOL_OPTS:--Xmx256m -XX:TieredStopAtLevel=1} -cp "${KAFKA_HOME}/libs/*" "$class" "$@"
