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
        n = cfg.seed_data.episodes[env] + cfg.seed_data.test_episodes.get(env, 0)
        assert metrics[f"data/{env}/episodes"] == n and metrics[f"data/{env}/episodes/test"] >= 1
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


# --- imports: bad ones change nothing, a partial one keeps the other envs; the swap survives a SIGKILL -----------
def digest(path: Path) -> dict[str, str] | None:
    """relative path -> sha256 of every file under path (or of the file itself); None if it is missing."""
    import hashlib

    if not path.exists():
        return None
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p.relative_to(path)) if p != path else ".": hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def stored(tmp: Path, repo: Path) -> dict:
    """Everything an import may change: data/, data.dvc, the DVC cache and the remote."""
    return {"data": digest(repo / "data"), "data.dvc": digest(repo / "data.dvc"),
            "cache": digest(repo / ".dvc" / "cache"), "remote": digest(tmp / "remote")}


def cli_args(repo: Path, tmp: Path, *more: str) -> list[str]:
    return ["--root", str(repo), "--params", str(repo / "params.yaml"), "--preset", "tiny",
            "-S", f"tracking.tracking_uri=sqlite:///{tmp / 'mlflow.db'}",
            "-S", f"tracking.artifact_location={tmp / 'mlartifacts'}", *more]


def one_env(repo: Path, dst: Path, env: str = "textcraft", edit=None, tasks: bool = True) -> Path:
    """An import folder holding one env copied from the repo's data/, its steps passed through `edit`."""
    import pyarrow as pa

    (dst / env).mkdir(parents=True)
    df = pq.read_table(repo / "data" / env / "steps.parquet").to_pandas()
    pq.write_table(pa.Table.from_pandas(edit(df) if edit else df, preserve_index=False), dst / env / "steps.parquet")
    if tasks:
        shutil.copy(repo / "data" / env / "tasks.parquet", dst / env / "tasks.parquet")
    return dst


def own_copy(seeded, dst: Path):
    """A private copy of the seeded repo (repo, remote, MLflow store) for a test that changes it."""
    from flowutil import cfg_for

    tmp, repo, _, _ = seeded
    shutil.copytree(tmp / "repo", dst / "repo", symlinks=True)
    shutil.copytree(tmp / "remote", dst / "remote", symlinks=True)
    if (tmp / "mlflow.db").exists():
        shutil.copy(tmp / "mlflow.db", dst / "mlflow.db")
    _dvc.dvc(dst / "repo", "remote", "modify", "local", "url", str(dst / "remote"))
    return dst, dst / "repo", cfg_for(dst / "repo", dst)


def _drop_last_episode(df):
    return df[df.episode_id != df.episode_id.iloc[-1]]


@pytest.mark.parametrize("how, check", [
    ("zero_rows", "at least one step"),
    ("no_tasks", "the task list is present"),
    ("int_done", "column types match the Step schema"),
    ("float_t", "column types match the Step schema"),
])
def test_bad_import_is_one_error_line_and_changes_nothing(seeded, tmp_path, capsys, how, check):
    from flows.seed import main

    tmp, repo, cfg, _ = seeded
    edit = {"zero_rows": lambda df: df.iloc[:0], "int_done": lambda df: df.assign(done=df.done.astype(int)),
            "float_t": lambda df: df.assign(t=df.t.astype(float))}.get(how)
    bad = one_env(repo, tmp_path / "bad", edit=edit, tasks=how != "no_tasks")
    before = stored(tmp, repo)
    capsys.readouterr()
    rc = main(cli_args(repo, tmp, "--import-dir", str(bad)))
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert rc != 0 and len(lines) == 1, err
    assert check in lines[0] and f"{bad / 'textcraft' / 'steps.parquet'}" in lines[0], lines[0]
    assert "staging" not in lines[0] and "observed None" not in lines[0]
    if how == "int_done":
        assert "column='done', dtype='int64', expected='bool'" in lines[0]
    assert stored(tmp, repo) == before, "a rejected import changed data/, data.dvc, the DVC cache or the remote"


def test_unreadable_import_names_the_users_file(seeded, tmp_path):
    tmp, repo, cfg, _ = seeded
    bad = one_env(repo, tmp_path / "bad")
    (bad / "textcraft" / "steps.parquet").write_bytes(b"not parquet")
    before = stored(tmp, repo)
    with pytest.raises(GateError) as ei:
        seed_flow(cfg, root=str(repo), import_dir=str(bad))
    assert f"'{bad / 'textcraft' / 'steps.parquet'}' is not a readable parquet file" in str(ei.value)
    assert "staging" not in str(ei.value) and stored(tmp, repo) == before


def test_cli_seed_passes_replace_all_and_reports_one_line(seeded, tmp_path, capsys, monkeypatch):
    from dreamgym.cli import main

    tmp, repo, cfg, _ = seeded
    bad = one_env(repo, tmp_path / "bad", edit=lambda df: df.assign(done=df.done.astype(int)))
    before = stored(tmp, repo)
    monkeypatch.chdir(repo)
    capsys.readouterr()
    rc = main(["seed", "--import-dir", str(bad), "--replace-all", *cli_args(repo, tmp)[2:]])
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert rc != 0 and len(lines) == 1 and "column types match the Step schema" in lines[0]
    assert stored(tmp, repo) == before


def test_partial_import_keeps_the_other_envs(seeded, tmp_path):
    tmp, repo, cfg = own_copy(seeded, tmp_path)
    envs = sorted(cfg.seed_data.envs)
    before = {e: digest(repo / "data" / e) for e in envs}
    md5 = _dvc.tracked_md5(repo)
    new = one_env(repo, tmp_path / "new", edit=_drop_last_episode)
    seed_flow(cfg, root=str(repo), import_dir=str(new))
    assert sorted(p.name for p in (repo / "data").iterdir()) == envs
    for e in envs:
        if e != "textcraft":
            assert digest(repo / "data" / e) == before[e], f"a textcraft import changed {e}"
    assert digest(repo / "data" / "textcraft") == digest(new / "textcraft")
    assert _dvc.tracked_md5(repo) != md5 and _dvc.status_clean(repo)
    import yaml
    assert yaml.safe_load((repo / "data.dvc").read_text())["outs"][0]["nfiles"] == 2 * len(envs)
    assert not any(p.name.startswith("data.") and p.name != "data.dvc" for p in repo.iterdir()), "swap leftovers"
    # --replace-all: data/ becomes exactly the import
    seed_flow(cfg, root=str(repo), import_dir=str(new), replace_all=True)
    assert [p.name for p in (repo / "data").iterdir()] == ["textcraft"]
    assert yaml.safe_load((repo / "data.dvc").read_text())["outs"][0]["nfiles"] == 2 and _dvc.status_clean(repo)


CRASHING_SEED = """
import os, signal, sys
from dreamgym.data import swap
from flows.seed import main
point, real = sys.argv[1], swap.swap_in
swap.swap_in = lambda src, dst, hook=None: real(src, dst, hook=lambda p: p == point and os.kill(os.getpid(), signal.SIGKILL))
sys.exit(main(sys.argv[2:]))
"""


def test_a_crash_in_the_swap_is_recovered_by_the_next_run(seeded, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from flowutil import ROOT

    tmp, repo, cfg = own_copy(seeded, tmp_path)
    before = stored(tmp, repo)
    new = one_env(repo, tmp_path / "new", edit=_drop_last_episode)
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}  # its own Prefect API database
    r = subprocess.run([sys.executable, "-c", CRASHING_SEED, "backed_up", *cli_args(repo, tmp, "--import-dir", str(new))],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == -signal.SIGKILL, r.stderr[-3000:]
    assert not (repo / "data").exists(), "the crash came after data/ was moved aside: there is no data/ now"
    assert {p.name.split("-")[0] for p in repo.iterdir() if p.name.startswith("data.")} >= {"data.old", "data.new"}
    seed_flow(cfg, root=str(repo))  # the next run restores data/ (it matches data.dvc again, so no recollection)
    assert stored(tmp, repo) == before
    assert not any(p.name.startswith("data.") and p.name != "data.dvc" for p in repo.iterdir()), "swap leftovers"
