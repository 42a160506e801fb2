"""The seed flow end to end: a real Prefect flow, a temp git + DVC repo with a local remote, a temp sqlite
MLflow store, real envs at the tiny preset; and the gate stopping corrupted data before DVC and MLflow."""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import pyarrow.parquet as pq
import pytest
from flowutil import cache_files, runs

from dreamgym.errors import GateError
from flows import _dvc
from flows.seed import seed_flow


def test_flow_collects_gates_versions_and_logs(seeded):
    tmp, repo, cfg, metrics = seeded
    for env in cfg.seed_data.envs:
        n = cfg.seed_data.episodes[env]
        assert metrics[f"data/{env}/episodes"] == n
        assert pq.read_table(repo / "data" / env / "steps.parquet").num_rows == metrics[f"data/{env}/rows"]
    assert metrics["gate/seed_data/failed"] == 0
    md5 = _dvc.tracked_md5(repo)
    assert md5 and md5.endswith(".dir") and _dvc.status_clean(repo)
    assert any((tmp / "remote").rglob("*")), "dvc push wrote nothing to the remote"
    run = [r for r in runs(tmp) if r.info.run_name == "seed"][-1]  # the fixture's run (oldest first-stage run)
    assert run.info.status == "FINISHED"
    assert run.data.tags["gate"] == "passed" and run.data.tags["data.dvc_md5"] == md5
    assert run.data.params["seed_data.noise_eps"] == str(cfg.seed_data.noise_eps)
    assert run.data.metrics["data/textcraft/success_rate/expert"] == 1.0
    names = {d.dataset.name for d in run.inputs.dataset_inputs}
    assert names == {f"seed-{e}" for e in cfg.seed_data.envs}
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "gate")}
    assert "gate/seed_data_report.json" in arts
    plots = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert "plots/seed_success.png" in plots
    assert (repo / "artifacts" / "seed" / "metrics.json").is_file()


def test_rerun_skips_collection_and_keeps_the_hash(seeded):
    tmp, repo, cfg, _ = seeded
    before = _dvc.tracked_md5(repo)
    seed_flow(cfg, root=str(repo))
    assert _dvc.tracked_md5(repo) == before


def corrupt(src: Path, dst: Path, how: str) -> None:
    shutil.copytree(src, dst)
    path = dst / "textcraft" / "steps.parquet"
    df = pq.read_table(path).to_pandas()
    if how == "missing_column":
        df = df.drop(columns=["reward"])
    elif how == "reward_out_of_range":
        df.loc[3, "reward"] = 7.0
    elif how == "two_terminal_steps":
        first = df.episode_id.iloc[0]
        df.loc[(df.episode_id == first) & (df.t == 0), "done"] = True
    import pyarrow as pa
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)


@pytest.mark.parametrize("how, message", [
    ("missing_column", "missing column(s) ['reward']"),
    ("reward_out_of_range", "reward in [0, 1]"),
    ("two_terminal_steps", "exactly one terminal step per episode"),
])
def test_corrupted_parquet_is_stopped_at_the_gate(seeded, tmp_path, how, message):
    tmp, repo, cfg, _ = seeded
    bad = tmp_path / "bad"
    corrupt(repo / "data", bad, how)
    before = (_dvc.tracked_md5(repo), cache_files(repo), sorted((tmp / "remote").rglob("*")),
              (repo / "data" / "textcraft" / "steps.parquet").read_bytes(), len(runs(tmp)))
    with pytest.raises(GateError) as ei:
        seed_flow(cfg, root=str(repo), import_dir=str(bad))
    assert message in str(ei.value) and "textcraft" in str(ei.value)
    after = (_dvc.tracked_md5(repo), cache_files(repo), sorted((tmp / "remote").rglob("*")),
             (repo / "data" / "textcraft" / "steps.parquet").read_bytes())
    assert after == before[:4], "a rejected import touched data/, data.dvc, the DVC cache or the remote"
    new = [r for r in runs(tmp)][: len(runs(tmp)) - before[4]]
    assert len(new) == 1 and new[0].info.status == "FAILED" and new[0].data.tags["gate"] == "failed"
    assert not new[0].inputs.dataset_inputs, "a rejected import was logged as a dataset"
    assert not any(k.startswith("data/") for k in new[0].data.metrics)
