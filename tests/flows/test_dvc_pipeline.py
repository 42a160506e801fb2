"""`dvc repro` as its users run it, in a temp git + DVC repo on the tiny preset: every stage runs, a second
`dvc repro` is a no-op, `dvc metrics show` and `dvc plots show` give the stages' numbers and success curves, and
`dvc exp run -S loop.replay=false` runs the ablation, rerunning only the stages that read it."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml
from flowutil import ROOT
from test_faults import BIN, _env, _private_copy

from dreamgym.config import load_config

STAGES = ["validate_seed", "seed_buffer", "train_experience_model", "train_policy", "dreamgym_loop", "sim_to_real"]


def _revs(node):
    """Every revision entry (a dict with data.params) of `dvc exp show --json`, nested experiments included."""
    if isinstance(node, dict):
        if isinstance(node.get("data"), dict) and "params" in node["data"]:
            yield node
        for v in node.values():
            yield from _revs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _revs(v)


def _ran(out: str) -> list[str]:
    return [s for s in STAGES if f"Running stage '{s}'" in out]


@pytest.mark.slow
def test_dvc_repro_runs_every_stage_then_nothing_and_exp_run_runs_an_ablation(seeded, tmp_path):
    tmp, shared, _, _ = seeded
    repo = _private_copy(shared, tmp_path / "repo")  # the seeded data/, data.dvc, DVC remote and git
    for d in ("dreamgym", "flows"):
        shutil.copytree(ROOT / d, repo / d, ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("dvc.yaml", ".gitignore"):
        shutil.copy(ROOT / f, repo / f)
    cfg = load_config(ROOT / "params.yaml", preset="tiny", overrides=["experience.envs=[babyai]"])
    (repo / "params.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    env = {**_env(), "OMP_NUM_THREADS": "1", "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("PREFECT_API_URL", None)

    def run(*cmd: str, timeout: int = 900) -> subprocess.CompletedProcess:
        done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{cmd}: {done.stderr[-3000:]}{done.stdout[-2000:]}"
        return done

    def commit(msg: str) -> None:
        run("git", "add", "-A")
        run("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", msg)

    commit("the project")
    first = run(str(BIN / "dvc"), "repro")
    assert _ran(first.stdout) == STAGES
    again = run(str(BIN / "dvc"), "repro")
    assert _ran(again.stdout) == [] and "up to date" in again.stdout
    metrics = json.loads(run(str(BIN / "dvc"), "metrics", "show", "--json").stdout)
    got = next(iter(metrics.values()))["data"]
    s2r = got["artifacts/s2r/metrics.json"]["data"]
    assert s2r["real_steps"]["total"] == s2r["real_steps"]["seed_data"] + s2r["real_steps"]["s2r"]
    assert "eval/test_success" in s2r["final"] and "eval/test_success" in got["artifacts/loop/metrics.json"]["data"]["final"]
    plots = json.loads(run(str(BIN / "dvc"), "plots", "show", "--json").stdout)
    assert {"artifacts/loop/curve.json", "artifacts/s2r/curve.json"} <= set(plots["data"])
    commit("the pipeline's results")
    exp = run(str(BIN / "dvc"), "exp", "run", "-S", "loop.replay=false")
    assert _ran(exp.stdout) == ["dreamgym_loop", "sim_to_real"]
    assert json.loads((repo / "artifacts/loop/metrics.json").read_text())["loop"].endswith("-noreplay")
    shown = json.loads(run(str(BIN / "dvc"), "exp", "show", "--json").stdout)
    exps = [r for r in _revs(shown) if r.get("rev") != "workspace" and r.get("name") not in (None, "master")]
    assert [r["data"]["params"]["params.yaml"]["data"]["loop"]["replay"] for r in exps] == [False]
