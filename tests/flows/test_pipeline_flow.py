"""The pipeline flow as its users run it, on the tiny preset: `python -m flows.pipeline` runs every stage as a
subflow (seed data reused, buffer, experience model, loop, sim-to-real), exits 0 and ends with the results summary
(BC start, DreamGym, DreamGym-S2R with their real steps, beside random and expert) and where to look in MLflow."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from flowutil import ROOT, runs
from test_faults import _env, _private_copy


@pytest.mark.slow
def test_the_pipeline_runs_every_stage_and_ends_with_the_results(seeded, tmp_path):
    tmp, shared, _, _ = seeded
    repo = _private_copy(shared, tmp_path / "repo")
    before = {r.info.run_id for r in runs(tmp)}
    done = subprocess.run([sys.executable, "-m", "flows.pipeline", "--preset", "tiny", "--root", str(repo),
                           "-S", f"tracking.tracking_uri=sqlite:///{tmp / 'mlflow.db'}",
                           "-S", f"tracking.artifact_location={tmp / 'mlartifacts'}", "-S", "experience.envs=[babyai]"],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    err = done.stderr
    assert [ln for ln in err.splitlines() if ln.startswith("== stage ")] == [
        f"== stage {s} ==" for s in ("seed", "buffer", "experience", "loop", "s2r")]
    assert "results:" in err, err[-3000:]
    for method in ("BC start", "DreamGym (synthetic only)", "DreamGym-S2R"):
        assert method in err.split("results:")[1]
    assert "random" in err and "expert" in err and "MLflow:" in err and "time: seed" in err
    out = json.loads((repo / "artifacts/pipeline/results.json").read_text())
    res = out["results"]
    assert [r["method"] for r in res["rows"]] == ["BC start", "DreamGym (synthetic only)", "DreamGym-S2R"]
    bc, dream, s2r = res["rows"]
    assert bc["rl_real_steps"] == dream["rl_real_steps"] == 0 and s2r["rl_real_steps"] >= 12  # tiny budget: 12
    assert s2r["real_steps"] == res["seed_steps"] + s2r["rl_real_steps"] and res["seed_steps"] > 0
    assert 0 <= res["random"] <= 1 and 0 <= res["expert"] <= 1
    assert set(out["seconds"]) == {"seed", "buffer", "experience", "loop", "s2r"}
    new = [r for r in runs(tmp) if r.info.run_id not in before and "mlflow.parentRunId" not in r.data.tags]
    assert {r.data.tags.get("stage") for r in new} >= {"seed", "seed_buffer", "train_experience_model",
                                                       "dreamgym_loop", "sim_to_real"}
    assert all(r.info.status == "FINISHED" for r in new)
