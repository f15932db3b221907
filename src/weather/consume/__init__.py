"""The Kafka -> Parquet side: one partition's writer as a state machine (writer), where a restarted
partition stands (recovery), and polling and decoding records into a batch's columns (fetch).
May import: weather.common.
"""
