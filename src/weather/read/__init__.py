"""What reads the committed data: the snapshot of committed batches (committed), the exactly-once
check (verify), and the dashboard (dashboard/).
May import: weather.common.
"""
