"""Data model (Task / Step), parquet readers and writers, seed collection."""
