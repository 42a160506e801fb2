"""Policy stage: clone expert demos into an LLM policy, train it with GRPO or PPO in the real env, measure it on
held-out tasks, log and register it.

    python -m flows.policy                              # params.yaml: babyai PickupLoc (primitive actions), tiny policy, BC, GRPO
    python -m flows.policy --preset tiny                # seconds-long budgets (tests, CI)
    python -m flows.policy -S policy.rl.algo=ppo -S policy.seed=1
    python -m flows.policy -S policy.bc.demos=0         # RL from a random policy (no warm start)
    python -m flows.policy -S policy.init=artifacts/policy/models/babyai   # RL from a saved policy (no BC)

Steps: read data/<env> (the expert demos); load `policy.init` when set, else build the policy (`policy.model`: tiny,
with a tokenizer trained on the env's seed text; smollm2; or a local HF dir; LoRA optional) and behaviour-clone
`bc.demos` successful expert train episodes (TRL's SFTTrainer); evaluate on `eval.episodes` tasks of `eval.split`
(the policy as trained, sampling, as eval/*; and greedy, as eval/greedy_*); `rl.updates` GRPO/PPO updates on train
tasks with the horizon schedule, evaluating every `eval.every` updates and logging a checkpoint every
`checkpoint_every`; a final evaluation on `eval.final_split`. MLflow: the config, rl/* per update, eval/* per
evaluation, the learning curve (JSON and plot), and the checkpoints and the final policy, each registered as a
version of `dreamgym-policy-<env>` (tags: update, final, env, algo, seed). Writes artifacts/policy/models/<env> and
artifacts/policy/metrics.json (a DVC metric).

Simplification: this stage trains in the real env (the baseline the paper compares against, and the sim-to-real
phase); training against the experience model is the DreamGym loop's stage.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dreamgym.config import DreamGymConfig
from dreamgym.stages import policy as stage
from flows.common import load_env_data, stage_main, tracker_for, write_record

# models, envs and trackers: nothing to hash
start_policy = task(stage.start_policy, cache_policy=NO_CACHE)
measure_baselines = task(stage.measure_baselines, cache_policy=NO_CACHE)
train_and_evaluate = task(stage.train_and_evaluate, cache_policy=NO_CACHE)
finish = task(stage.finish, cache_policy=NO_CACHE)


@flow(name="policy", log_prints=False)
def policy_flow(cfg: DreamGymConfig, root: str = ".") -> dict:
    """Warm start, RL, evaluation, tracking and registration of one policy; returns its metrics."""
    rootp = Path(root).resolve()
    out_dir = rootp / cfg.paths.artifacts_dir / "policy"
    with tracker_for(cfg, rootp).run(stage.run_name(cfg), tags=stage.tags(cfg)) as t:
        t.log_config(cfg.model_dump())
        steps, tasks = load_env_data(str(rootp / cfg.paths.data_dir), cfg.policy.env)
        envs = stage.make_envs(cfg)
        try:
            agent, bc = start_policy(cfg, rootp, steps, tasks, envs[0], t)
            base = measure_baselines(cfg, envs[0])
            t.log_metrics(base)
            curve, final = train_and_evaluate(cfg, agent, envs, t)
        finally:
            for e in envs:
                e.close()
        result = finish(cfg, agent, t, curve, final, base, bc, out_dir)
        write_record(out_dir / "metrics.json", result)
        get_run_logger().info(stage.result_line(cfg, result))
    return result


main = stage_main(__doc__, policy_flow, stage.STAGE, stage.summary)


if __name__ == "__main__":
    sys.exit(main())
