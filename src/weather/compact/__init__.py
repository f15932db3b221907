"""The compactor's side: committed raw batches folded into the table layer (weather/common/table.py),
one cycle of named steps at a time (compactor).
May import: weather.common.
"""
