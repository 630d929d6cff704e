"""Retention: months older than the hot window move from their PostgreSQL partition to Parquet in the archive
store, verified before the partition is dropped (sql/015, docs in each module)."""
