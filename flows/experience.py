"""Experience-model stage: train one experience model per env on the real seed data, measure it, gate it.

    python -m flows.experience                         # params.yaml: experience.envs, tiny model, full budgets
    python -m flows.experience --preset tiny           # seconds-long budgets, for tests and CI
    python -m flows.experience -S experience.k=0       # an ablation: no retrieval (also history_window=0,
                                                       #   with_reasoning=false)
    python -m flows.experience -S experience.shared=true   # one model for all envs, measured per env

For each env of `experience.envs`: read data/<env>/{steps,tasks}.parquet; open the replay buffer at the
snapshot the seed_buffer stage pinned (artifacts/buffer_snapshot.json) for retrieval; build examples, train
with TRL's SFTTrainer (one model per env; with experience.shared one for all, its curve on the parent run),
score held-out real transitions and open-loop episodes (dreamgym.experience.train);
run the GX gate on the fidelity metrics and the model's outputs; log everything to a nested MLflow run
(config, buffer snapshot, training curves, `exp/*` metrics, the prediction table beside the real outcomes,
the gate report, the model + tokenizer); register a model that passed the gate as
`dreamgym-experience-<env>`. Saves the model to artifacts/experience/models/<env> and writes
artifacts/experience/metrics.json (a DVC metric). A failed gate stops the stage after every env was tried,
unless experience.gate.enforce is false.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dreamgym.config import DreamGymConfig
from dreamgym.stages import experience as stage
from flows.common import load_env_data, read_buffer_snapshot, stage_main, tracker_for, write_record


@task(cache_policy=NO_CACHE)
def open_buffer(cfg: DreamGymConfig, root: Path):
    """The buffer at the seed_buffer stage's snapshot, and its record ((None, None) when retrieval is off)."""
    if cfg.experience.k == 0:
        return None, None
    snap = read_buffer_snapshot(cfg, root, instead="set experience.k=0 to train without retrieval")
    return stage.open_snapshot(cfg.buffer, root, snap["tag"])


train = task(stage.train_env, cache_policy=NO_CACHE)  # models, buffers and callbacks: nothing to hash
train_shared = task(stage.train_shared, cache_policy=NO_CACHE)
gate_log_register = task(stage.gate_log_register, cache_policy=NO_CACHE)


@flow(name="experience", log_prints=False)
def experience_flow(cfg: DreamGymConfig, root: str = ".") -> dict:
    """Train, measure, gate, log and register one experience model per env; returns the metrics per env."""
    rootp, ablation = Path(root).resolve(), stage.ablation(cfg.experience)
    tracker, out_dir = tracker_for(cfg, rootp), rootp / cfg.paths.artifacts_dir / "experience"
    results: dict[str, dict] = {}
    with tracker.run(stage.STAGE, tags={"stage": stage.STAGE, "ablation": ablation}):
        tracker.log_config(cfg.model_dump())
        buf, snap = open_buffer(cfg, rootp)
        data = {env: load_env_data(str(rootp / cfg.paths.data_dir), env) for env in cfg.experience.envs}
        shared = (train_shared(cfg, data, buf, rootp, tracker.log_metrics, version=f"experience-shared-{ablation}")
                  if cfg.experience.shared else {})
        for env, (steps, tasks) in data.items():
            with tracker.run(f"experience-{env}", nested=True, tags={"env": env, "ablation": ablation}) as t:
                if snap:
                    t.log_buffer_snapshot(snap)
                run = shared.get(env) or train(cfg, env, steps, tasks, buf, rootp, t.log_metrics,
                                               version=f"experience-{env}-{ablation}")
                results[env] = gate_log_register(cfg, run, t, out_dir / "models" / env, ablation)
                get_run_logger().info(stage.env_line(env, results[env]))
        metrics = write_record(out_dir / "metrics.json", results)
        stage.enforce_gate(cfg, results, tracker, metrics)
    return results


main = stage_main(__doc__, experience_flow, stage.STAGE, stage.summary)


if __name__ == "__main__":
    sys.exit(main())
