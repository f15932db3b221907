"""What reads the committed data: the snapshot of committed batches (committed), the exactly-once
check (verify), and the dashboard (dashboard/).
May import: weather.common, and the record contract of weather.produce (row_id headers, tails) for
the verifier's look at the topic.
"""
