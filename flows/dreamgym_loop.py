"""DreamGym loop stage: the policy practises against the experience model (0 real RL steps), the replay buffer and
the task pool grow with it, and it is measured in the real env beside its baselines.

    python -m flows.dreamgym_loop                            # params.yaml: the registered babyai model, 120 iterations
    python -m flows.dreamgym_loop --preset tiny              # two iterations on the stage's ungated tiny model
    python -m flows.dreamgym_loop -S loop.experience_model=stage -S loop.require_gate=false   # an ungated model
    python -m flows.dreamgym_loop -S curriculum.task_generation=false    # the 'w/o task generation' ablation

Steps: load the experience model (dreamgym.stages.loop.experience_model); load the policy at policy.init, else
warm-start a fresh one by behaviour cloning (policy.bc); measure random and expert on the val and test tasks; run
(or resume, after a kill) the loop of dreamgym.loop (each iteration a nested MLflow run: buffer and pool tags,
variance, synthetic and real val success, parse failures, the gap monitor); evaluate on the test tasks; save, log
and register the policy as `dreamgym-loop-policy-<env>`. Writes artifacts/loop/runs/<name>/,
artifacts/loop/models/<name>, artifacts/loop/metrics.json (a DVC metric) and artifacts/loop/curve.json (a DVC plot:
real val success per evaluated iteration).
Simplification: one env per loop (policy.env); see dreamgym/loop/loop.py for the iteration and its resume.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dreamgym.config import DreamGymConfig
from dreamgym.stages import loop as stage
from dreamgym.tracking import resolve_tracking_uri
from flows.common import (
    buffer_snapshot_file,
    load_env_data,
    read_buffer_snapshot,
    stage_main,
    tracker_for,
    write_record,
)

load_model = task(stage.experience_model, cache_policy=NO_CACHE)  # models, envs, trackers: nothing to hash
build_parts = task(stage.build_parts, cache_policy=NO_CACHE)
measure_baselines = task(stage.measure_baselines, cache_policy=NO_CACHE)
start_evaluation = task(stage.start_evaluation, cache_policy=NO_CACHE)
finish = task(stage.finish, cache_policy=NO_CACHE)


@flow(name="dreamgym-loop", log_prints=False)
def loop_flow(cfg: DreamGymConfig, root: str = ".") -> dict:
    """Run (or resume) the DreamGym loop of the policy's env; returns its record."""
    rootp = Path(root).resolve()
    tracker, out_dir = tracker_for(cfg, rootp), rootp / cfg.paths.artifacts_dir / "loop"
    xm, gate = load_model(cfg, resolve_tracking_uri(cfg.tracking.tracking_uri, rootp), rootp)
    seed_tag = (read_buffer_snapshot(cfg, rootp, instead="set loop.replay=false")["tag"]
                if cfg.loop.replay and buffer_snapshot_file(cfg, rootp).is_file() else None)
    with tracker.run(stage.loop_name(cfg), tags=stage.tags(cfg, xm.spec, gate)) as t:
        t.log_config(cfg.model_dump())
        steps, tasks = load_env_data(str(rootp / cfg.paths.data_dir), cfg.policy.env)
        parts, holder, eval_envs = build_parts(cfg, rootp, steps, tasks, xm, t, seed_tag)
        loop = stage.make_loop(cfg, rootp, parts, holder, t)
        t.log_params({"loop.resumed_from": loop.completed})
        base = measure_baselines(cfg, parts.real_env)
        t.log_metrics(base)
        start = start_evaluation(cfg, loop, eval_envs, t)
        loop.run(cfg.loop.iterations)
        result = finish(cfg, loop, t, out_dir, base, eval_envs, start)
        write_record(out_dir / "metrics.json", result)
        write_record(out_dir / "curve.json", stage.curve_rows(loop.curve))
        get_run_logger().info(stage.summary(cfg, result))
    return result


main = stage_main(__doc__, loop_flow, stage.STAGE, stage.summary)


if __name__ == "__main__":
    sys.exit(main())
