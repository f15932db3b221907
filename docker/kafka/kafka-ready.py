#!/opt/venv/bin/python3
"""Health check of the p7-kafka container: the broker answers and its cluster has a controller.

The same test as the local stack's readiness check (stack/kafka.py), with the same client.
"""
import sys

from kafka import KafkaAdminClient

try:
    admin = KafkaAdminClient(bootstrap_servers="localhost:9092", request_timeout_ms=5000,
                             client_id="docker-health")
    try:
        ready = admin.describe_cluster()["controller_id"] is not None
    finally:
        admin.close()
except Exception as error:  # not answering yet: unhealthy, with the reason in `docker inspect`
    print(f"kafka not ready: {error}", file=sys.stderr)
    sys.exit(1)
sys.exit(0 if ready else 1)
