"""Prices in and out: sources (Yahoo Finance, CSV files, the synthetic market), the Parquet store,
incremental ingest, the data-quality report and live quotes."""
