"""The library side of the pipeline's stages: what each Prefect task of `flows/` calls.

One module per dvc.yaml stage (seed, buffer, experience, policy, loop, sim_to_real). Each holds the stage's steps as plain
functions over objects (a config, DataFrames, a ReplayBuffer, a Tracker), the record the stage writes as its
DVC metric, and its one-line summary; the flows only order these calls, wrap them as Prefect tasks and write the
files. Nothing here imports prefect or dvc (the seed stage's `dvc add` / `dvc push` stay in flows/_dvc.py).
"""
