"""The DreamGym loop as its users run it, on the tiny preset: two iterations under Prefect (2 nested MLflow runs,
2 buffer tags, 0 real RL steps), the ablation switches, a SIGKILL after iteration 1 and the resume at iteration
2 (buffer at iter-1, no duplicated rows, no process left), and the GX guard stopping a broken experience model
before its rows reach the buffer."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
import torch
from flowutil import ROOT, cfg_for, runs
from test_faults import _alive, _env, _kill, _private_copy, _tree, _wait_gone

from dreamgym.buffer import ReplayBuffer
from dreamgym.buffer.embedders import make_embedder
from dreamgym.curriculum.pool import GeneratedTask, PoolStore
from dreamgym.data.schema import STEP_COLUMNS, Task
from dreamgym.errors import GateError
from flows.buffer import buffer_flow
from flows.dreamgym_loop import loop_flow
from flows.experience import experience_flow

LOOP = "artifacts/loop/runs/babyai-grpo-s0"


@pytest.fixture(scope="module")
def trained(seeded, tmp_path_factory):
    """A private copy of the seeded repo with its buffer snapshot and a tiny babyai experience model."""
    tmp, shared, _, _ = seeded
    repo = _private_copy(shared, tmp_path_factory.mktemp("loop") / "repo")
    cfg = cfg_for(repo, tmp, "experience.envs=[babyai]", "experience.k=0")
    buffer_flow(cfg, root=str(repo))
    experience_flow(cfg, root=str(repo))
    return tmp, repo


@pytest.fixture(scope="module")
def looped(trained):
    """The two-iteration tiny loop, run once: (tmp, repo, its record)."""
    tmp, repo = trained
    return tmp, repo, loop_flow(cfg_for(repo, tmp), root=str(repo))


def _buffer(repo: Path, name: str = LOOP) -> ReplayBuffer:
    return ReplayBuffer(repo / name / "buffer", "transitions", make_embedder("hashing"))


def _children(tmp: Path, parent_id: str):
    return [r for r in runs(tmp) if r.data.tags.get("mlflow.parentRunId") == parent_id]


@pytest.mark.slow
def test_two_iterations_leave_two_nested_runs_and_two_buffer_tags(looped):
    tmp, repo, out = looped
    assert out["iterations"] == 2 and out["counters"]["real_steps"] == 0 and out["counters"]["monitor_real_steps"] > 0
    kids = sorted(_children(tmp, out["run_id"]), key=lambda r: r.info.run_name)
    assert [r.info.run_name for r in kids] == ["babyai-grpo-s0-iter-0001", "babyai-grpo-s0-iter-0002"]
    for k in kids:
        m = k.data.metrics
        assert m["loop/real_steps"] == 0 and "curriculum/mean_group_variance" in m and "judge/success_agreement" in m
        assert "eval/success" in m and m["loop/pool_size"] >= 8 and k.data.tags["buffer_tag"].startswith("iter-")
    buf = _buffer(repo)
    assert {"iter-1", "iter-2", "seed"} <= set(buf.tags()) and not buf.duplicate_keys()
    synth = buf.steps_frame()
    synth = synth[synth["source"] == "synthetic"]
    assert sorted(set(synth["iteration"])) == [1, 2]
    assert len(synth) == sum(k.data.metrics["loop/synthetic_steps"] for k in kids)
    parent = mlflow.get_run(out["run_id"])
    assert parent.data.tags["experience_gate"] == "unchecked" and parent.data.tags["stage"] == "dreamgym_loop"
    assert "eval/test_success" in parent.data.metrics and "eval/test_random_success" in parent.data.metrics
    assert json.loads((repo / "artifacts/loop/metrics.json").read_text())["iterations"] == 2
    # the ablation switches: no replay (no buffer), no task generation (the pool stays the seed tasks)
    abl = loop_flow(cfg_for(repo, tmp, "loop.replay=false", "curriculum.task_generation=false"), root=str(repo))
    name = "artifacts/loop/runs/babyai-grpo-s0-notaskgen-noreplay"
    assert not (repo / name / "buffer").exists() and abl["iterations"] == 2
    tags = mlflow.get_run(abl["run_id"]).data.tags
    assert set(tags["ablation"].split(",")) >= {"no-task-generation", "no-replay"}
    assert all(k.data.metrics["loop/pool_generated_share"] == 0 for k in _children(tmp, abl["run_id"]))


@pytest.mark.slow
def test_a_loop_killed_after_iteration_1_resumes_at_iteration_2(trained, tmp_path):
    tmp, shared = trained
    repo = tmp_path / "repo"
    shutil.copytree(shared, repo, symlinks=True, ignore=shutil.ignore_patterns("loop", "mlflow", "logs"))
    args = ["--preset", "tiny", "--root", str(repo), "-S", "loop.iterations=4", "-S", "loop.monitor_episodes=4",
            "-S", f"tracking.tracking_uri=sqlite:///{tmp / 'mlflow.db'}",
            "-S", f"tracking.artifact_location={tmp / 'mlartifacts'}"]
    proc = subprocess.Popen([sys.executable, "-m", "flows.dreamgym_loop", *args], cwd=ROOT, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    state, procs = repo / LOOP / "state.json", []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            procs = _tree(proc.pid) or procs
            if state.is_file() and json.loads(state.read_text())["iteration"] >= 1:
                break
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-3000:]
        assert not _wait_gone(procs, 10), f"left running after the kill: {_alive(procs)}"
    finally:
        _kill(procs)
    assert json.loads(state.read_text())["iteration"] == 1
    # the worst moment to die: iteration 2's rows committed and tagged, its pool tasks written, no checkpoint yet
    buf = _buffer(repo)
    rows = buf.steps_frame()
    fake = rows[rows["source"] == "synthetic"].head(5).assign(iteration=2, episode_id=lambda d: d["episode_id"] + "-k")
    buf.add(fake.drop(columns=[c for c in fake.columns if c not in STEP_COLUMNS]), atomic=True)
    buf.snapshot("iter-2")
    store = PoolStore(repo / LOOP / "pool")
    parent = Task(task_id="babyai-pl-s0", env="babyai", instruction="pick up the ball", split="train",
                  spec={"level": "BabyAI-PickupLoc-v0", "seed": 0, "mission": "pick up the ball"})
    store.add([GeneratedTask(parent, 2, "killed", "first state")])
    store.tag("iter-2")
    # rerun: it resumes at iteration 2 with the buffer at iter-1, and ends with each iteration's rows once
    before = len(runs(tmp))
    done = subprocess.run([sys.executable, "-m", "flows.dreamgym_loop", *args], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads((repo / "artifacts/loop/metrics.json").read_text())
    assert out["resumed"] == {"from_iteration": 1, "dropped_buffer_rows": 5, "dropped_pool_tasks": 1}
    assert out["iterations"] == 4 and all(g.model_version != "killed" for g in PoolStore(repo / LOOP / "pool").load())
    buf = _buffer(repo)
    assert {f"iter-{n}" for n in range(1, 5)} <= set(buf.tags()) and not buf.duplicate_keys()
    at1 = buf.checkout("iter-1").steps_frame()
    assert set(at1[at1["source"] == "synthetic"]["iteration"]) == {1}
    new = [r for r in runs(tmp)[: len(runs(tmp)) - before]]
    kids = [r for r in new if r.data.tags.get("mlflow.parentRunId") == out["run_id"]]
    assert sorted(r.info.run_name[-4:] for r in kids) == ["0002", "0003", "0004"]
    synth = buf.steps_frame()
    synth = synth[synth["source"] == "synthetic"]
    for k in kids:  # every resumed iteration's rows are in the buffer exactly once
        n = int(k.data.tags["iteration"])
        assert (synth["iteration"] == n).sum() == k.data.metrics["loop/synthetic_steps"]


@pytest.mark.slow
def test_the_gx_guard_stops_a_broken_experience_model_before_the_buffer(trained, tmp_path):
    from dreamgym.experience.checkpoint import load_experience_model, save_experience_model

    tmp, repo = trained
    xm = load_experience_model(repo / "artifacts/experience/models/babyai")
    torch.manual_seed(0)
    with torch.no_grad():
        for p in xm.generator.model.parameters():
            p.normal_(0.0, 2.0)  # scrambled weights: nothing it writes parses
    broken = save_experience_model(xm, tmp_path / "broken")
    cfg = cfg_for(repo, tmp, f"loop.experience_model={broken}", "loop.guard.min_parse_rate=0.9",
                  "loop.name=broken")
    with pytest.raises(GateError, match="stopped before the buffer") as e:
        loop_flow(cfg, root=str(repo))
    assert "parse rate 0.000 >= 0.9" in str(e.value)
    buf = _buffer(repo, "artifacts/loop/runs/broken")
    assert buf.count(source="synthetic") == 0 and "iter-1" not in buf.tags()
    assert not (repo / "artifacts/loop/runs/broken/state.json").exists()
    stopped = [r for r in runs(tmp) if r.info.run_name == "broken"][0]
    assert stopped.data.tags.get("stopped") == "gx_guard" or any(
        r.data.tags.get("stopped") == "gx_guard" for r in _children(tmp, stopped.info.run_id))


@pytest.mark.slow
def test_sim_to_real_transfers_the_loop_policy_on_a_counted_real_budget(looped):
    import pandas as pd

    from dreamgym.policy.checkpoint import load_policy
    from flows.sim_to_real import s2r_flow

    tmp, repo, loop = looped
    src = load_policy(repo / "artifacts/loop/models/babyai-grpo-s0").model.state_dict()
    out = s2r_flow(cfg_for(repo, tmp), root=str(repo))  # tiny: a budget of 12 real steps, <= 2x2 episodes x 5 per update
    rs = out["real_steps"]
    assert out["init"].endswith("artifacts/loop/models/babyai-grpo-s0") and out["updates"] >= 1
    assert 12 <= rs["s2r"] < 12 + 20 or out["updates"] == 3  # no update starts past the budget
    assert rs["loop"] == 0 and rs["seed_data"] == len(pd.read_parquet(repo / "data/babyai/steps.parquet")) > 0
    assert rs["total"] == rs["seed_data"] + rs["loop"] + rs["s2r"]
    run = mlflow.get_run(out["run_id"])
    assert run.info.run_name == "s2r-babyai-grpo-s0" and run.data.tags["stage"] == "sim_to_real"
    assert run.data.tags["init"] == "babyai-grpo-s0" and run.data.tags["method"] == "dreamgym-s2r"
    m = run.data.metrics
    assert m["real_steps/s2r"] == rs["s2r"] and m["real_steps/total"] == rs["total"]
    steps = [h.value for h in mlflow.MlflowClient().get_metric_history(out["run_id"], "rl/env_steps")]
    assert len(steps) == out["updates"] and steps[-1] == rs["s2r"]  # counted exactly, every rollout step
    assert {"eval/test_success", "eval/test_random_success", "eval/test_expert_success"} <= set(m)
    assert out["final"]["eval/test_episodes"] == out["baselines"]["eval/test_random_episodes"] > 0 and json.loads((repo / "artifacts/s2r/metrics.json").read_text())[
        "run_id"] == out["run_id"]
    assert mlflow.MlflowClient().search_model_versions("name = 'dreamgym-s2r-policy-babyai'")
    # a saved policy named by path, and PPO with an entropy bonus (a gradient even where no rollout is rewarded):
    # real RL moves the loop's weights
    ppo = s2r_flow(cfg_for(repo, tmp, "s2r.init=artifacts/loop/models/babyai-grpo-s0", "policy.rl.algo=ppo",
                           "policy.rl.entropy_coef=0.05"), root=str(repo))
    assert ppo["updates"] >= 1 and mlflow.get_run(ppo["run_id"]).info.run_name == "s2r-babyai-ppo-s0"
    after = load_policy(repo / "artifacts/s2r/models/babyai").model.state_dict()
    assert any(not torch.equal(src[k], after[k]) for k in src)
    # s2r.real_steps 0: the loop's policy evaluated as it is, nothing spent
    zero = s2r_flow(cfg_for(repo, tmp, "s2r.real_steps=0"), root=str(repo))
    assert zero["real_steps"]["s2r"] == 0 and zero["updates"] == 0
    same = load_policy(repo / "artifacts/s2r/models/babyai").model.state_dict()
    assert all(torch.equal(src[k], same[k]) for k in src)
    # no loop policy to transfer: one error line naming s2r.init, exit 2, no run started
    before = len(runs(tmp))
    bad = subprocess.run([sys.executable, "-m", "flows.sim_to_real", "--preset", "tiny", "--root", str(repo),
                          "-S", f"tracking.tracking_uri=sqlite:///{tmp / 'mlflow.db'}", "-S", "loop.name=never-ran"],
                         cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    errors = [ln for ln in bad.stderr.splitlines() if ln.startswith("error:")]
    assert bad.returncode == 2 and len(errors) == 1, bad.stderr[-2000:]
    assert errors[0].startswith("error: s2r.init 'loop'") and "never-ran" in errors[0] and "dreamgym_loop" in errors[0]
    assert len(runs(tmp)) == before
