"""Pipeline stage 1: import interactions and item metadata, filter, split, write Parquet."""
