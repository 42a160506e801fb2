"""Sim-to-real stage: the DreamGym loop's final policy trained with RL in the real env on a small real budget
(s2r.real_steps, the paper's B/16), evaluated on real test tasks beside its baselines, every real step counted.

    python -m flows.sim_to_real                                  # params.yaml: after python -m flows.dreamgym_loop
    python -m flows.sim_to_real --preset tiny                    # a tiny real update after the tiny loop
    python -m flows.sim_to_real -S s2r.real_steps=0              # evaluate the loop's policy only
    python -m flows.sim_to_real -S s2r.init=artifacts/policy/models/babyai   # transfer another saved policy

Steps: load the policy at s2r.init ('loop': artifacts/loop/models/<loop name>, the loop of the same policy/loop
settings); measure random and expert on the val and s2r.final_episodes test tasks; GRPO/PPO (policy.rl) in the
real env until s2r.real_steps real steps are spent (or s2r.max_updates), evaluating on val every s2r.eval_every
updates; the final test evaluation; log real_steps/{seed_data,loop,s2r,total}, the curve and the policy, registered
as `dreamgym-s2r-policy-<env>`. Writes artifacts/s2r/models/<env>, artifacts/s2r/metrics.json (a DVC metric) and
artifacts/s2r/curve.json (a DVC plot: real val success against real steps in all).
Simplification: the budget is checked between updates (dreamgym/stages/sim_to_real.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dreamgym.config import DreamGymConfig
from dreamgym.stages import policy as pstage
from dreamgym.stages import sim_to_real as stage
from dreamgym.tracking import resolve_tracking_uri
from flows.common import load_env_data, read_record, stage_main, tracker_for, write_record

start_policy = task(stage.start_policy, cache_policy=NO_CACHE)  # models, envs, trackers: nothing to hash
measure_baselines = task(stage.measure_baselines, cache_policy=NO_CACHE)
train_and_evaluate = task(stage.train_and_evaluate, cache_policy=NO_CACHE)
finish = task(stage.finish, cache_policy=NO_CACHE)


@flow(name="sim-to-real", log_prints=False)
def s2r_flow(cfg: DreamGymConfig, root: str = ".") -> dict:
    """Transfer one policy to the real env on the S2R budget; returns the stage's record."""
    rootp = Path(root).resolve()
    out_dir, pcfg = rootp / cfg.paths.artifacts_dir / "s2r", stage.policy_config(cfg, rootp)
    agent = start_policy(cfg, pcfg, resolve_tracking_uri(cfg.tracking.tracking_uri, rootp))
    with tracker_for(cfg, rootp).run(stage.run_name(cfg), tags=stage.tags(cfg)) as t:
        t.log_config(cfg.model_dump())
        steps, _ = load_env_data(str(rootp / cfg.paths.data_dir), cfg.policy.env)
        prior = stage.prior_real_steps(cfg, steps, read_record(rootp / cfg.paths.artifacts_dir / "loop/metrics.json"))
        envs = pstage.make_envs(pcfg)
        try:
            base = measure_baselines(cfg, pcfg, envs[0])
            t.log_metrics(base)
            curve, final = train_and_evaluate(cfg, pcfg, agent, envs, t)
        finally:
            for e in envs:
                e.close()
        result = finish(cfg, pcfg, agent, t, curve, final, base, prior, out_dir)
        write_record(out_dir / "metrics.json", {k: v for k, v in result.items() if k != "curve"})
        write_record(out_dir / "curve.json", result["curve"])
        get_run_logger().info(stage.summary(cfg, result))
    return result


main = stage_main(__doc__, s2r_flow, stage.STAGE, stage.summary)


if __name__ == "__main__":
    sys.exit(main())
