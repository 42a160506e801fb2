"""Thin Prefect wiring of the DreamGym stages: each task is a call into the `dreamgym` library."""
