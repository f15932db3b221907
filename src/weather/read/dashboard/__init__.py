"""The live dashboard over the committed data: `python3 dashboard.py` serves it (see app.py).

cache.py reads the committed rows through the snapshot (the table's part, then new raw batches
only) into summary.py's per-station totals and chart days, probes.py asks Kafka, MySQL and HDFS how
they are, state.py puts both into the one JSON document the page shows.
"""
