"""The table -> Kafka side: pages of the table by increasing id (source), the gap guard (gaps),
sending each row exactly once (delivery), and what the topic already holds (resume).
May import: weather.common.
"""
