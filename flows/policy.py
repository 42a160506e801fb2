"""Policy stage: clone expert demos into an LLM policy, train it with GRPO or PPO in the real env, measure it on
held-out tasks, log and register it.

    python -m flows.policy                              # params.yaml: babyai GoToLocal, tiny policy, BC, GRPO
    python -m flows.policy --preset tiny                # seconds-long budgets (tests, CI)
    python -m flows.policy -S policy.rl.algo=ppo -S policy.seed=1
    python -m flows.policy -S policy.bc.demos=0         # RL from a random policy (no warm start)

Steps: read data/<env> (the expert demos); build the policy (`policy.model`: tiny, with a tokenizer trained on
the env's seed text; smollm2; or a local HF dir; LoRA optional); behaviour-clone `bc.demos` successful expert
train episodes (TRL's SFTTrainer); evaluate on `eval.episodes` tasks of `eval.split` (the policy as trained,
sampling, as eval/*; and greedy, as eval/greedy_*); `rl.updates`
GRPO/PPO updates on train tasks with the horizon schedule, evaluating every `eval.every` updates and logging a
checkpoint every `checkpoint_every`; a final evaluation on `eval.final_split`. MLflow: the config, rl/* per
update, eval/* per evaluation, the learning curve (JSON and plot), and the checkpoints and the final policy,
each registered as a version of `dreamgym-policy-<env>` (tags: update, final, env, algo, seed). Writes
artifacts/policy/models/<env> and artifacts/policy/metrics.json (a DVC metric).

Simplification: this stage trains in the real env (the baseline the paper compares against, and the sim-to-real
phase); training against the experience model is the DreamGym loop's stage.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dreamgym.config import DreamGymConfig
from dreamgym.envs import make_env
from dreamgym.policy.agent import Agent
from dreamgym.policy.bc import bc_examples, behaviour_clone, expert_demos, policy_texts
from dreamgym.policy.checkpoint import make_agent, plain_model, save_policy
from dreamgym.policy.core import horizon_at
from dreamgym.policy.evaluate import baseline_metrics, baselines, evaluate_policy, plot_learning_curve
from dreamgym.policy.trainer import PolicyTrainer, train_rl
from flows.common import load_env_data, run_cli, tracker_for


@task(cache_policy=NO_CACHE)
def build_agent(cfg: DreamGymConfig, root: Path, steps, tasks, env) -> Agent:
    return make_agent(cfg.policy, root / cfg.policy.model.cache_dir, texts=policy_texts(steps, tasks, env))


@task(cache_policy=NO_CACHE)
def warm_start(cfg: DreamGymConfig, agent: Agent, env, steps, tasks, on_log):
    """Behaviour cloning on expert demos (None when bc.demos is 0)."""
    p = cfg.policy
    if p.bc.demos == 0:
        return None
    train = bc_examples(expert_demos(steps, tasks, n=p.bc.demos, accept=env.accepts, seed=p.seed), agent, env)
    val = bc_examples(expert_demos(steps, tasks, n=max(p.bc.demos, 20), split="val", accept=env.accepts), agent, env)
    with tempfile.TemporaryDirectory(prefix="dreamgym-bc-") as scratch:
        return behaviour_clone(agent, train, val, p.bc.sft, scratch, on_log=on_log)


@task(cache_policy=NO_CACHE)
def measure_baselines(env, tasks, horizon: int, seed: int, prefix: str) -> dict[str, float]:
    """The uniform-random policy over the valid actions and the expert, on the same tasks and horizon."""
    return baseline_metrics(baselines(env, tasks, horizon=horizon, seed=seed), prefix)


@flow(name="policy", log_prints=False)
def policy_flow(cfg: DreamGymConfig, root: str = ".") -> dict:
    """Warm start, RL, evaluation, tracking and registration of one policy; returns its metrics."""
    logger = get_run_logger()
    rootp = Path(root).resolve()
    p, env_name = cfg.policy, cfg.policy.env
    tracker = tracker_for(cfg, rootp)
    out_dir = rootp / cfg.paths.artifacts_dir / "policy"
    eval_horizon = p.eval.horizon or horizon_at(10**9, p.rl.horizon.stages, p.rl.horizon.every)
    registered = f"dreamgym-policy-{env_name}"  # checkpoints and the final policy are its versions
    tags = {"stage": "train_policy", "env": env_name, "algo": p.rl.algo, "seed": str(p.seed),
            "warm_start": f"bc-{p.bc.demos}" if p.bc.demos else "none"}
    with tracker.run(f"policy-{env_name}-{p.rl.algo}-s{p.seed}", tags=tags) as t:
        t.log_config(cfg.model_dump())
        steps, tasks = load_env_data(str(rootp / cfg.paths.data_dir), env_name)
        kwargs = cfg.policy_env_kwargs()
        envs = [make_env(env_name, **kwargs) for _ in range(p.rl.tasks_per_update * p.rl.group_size)]
        try:
            agent = build_agent(cfg, rootp, steps, tasks, envs[0])
            bc = warm_start(cfg, agent, envs[0], steps, tasks, t.log_metrics)
            if bc is not None:
                t.log_metrics(bc.metrics("rl/bc_"))
            eval_tasks = envs[0].list_tasks(p.eval.split, n=p.eval.episodes)
            final_tasks = envs[0].list_tasks(p.eval.final_split, n=p.eval.episodes)
            base = {**measure_baselines(envs[0], eval_tasks, eval_horizon, p.seed, "eval/"),
                    **measure_baselines(envs[0], final_tasks, eval_horizon, p.seed, f"eval/{p.eval.final_split}_")}
            t.log_metrics(base)
            trainer = PolicyTrainer(agent, p.rl, envs, envs[0].list_tasks("train", n=p.rl.task_pool), seed=p.seed)

            def checkpoint(u: int) -> None:
                t.log_model(plain_model(agent), agent.tokenizer, f"checkpoint-{u:05d}", registered,
                            tags={**tags, "update": str(u), "final": "false"})

            def evaluate(tasks_, prefix: str = "eval/") -> dict[str, float]:
                out = evaluate_policy(agent, envs, tasks_, horizon=eval_horizon, greedy=False).metrics(prefix)
                if p.eval.greedy_too:
                    out.update(evaluate_policy(agent, envs, tasks_, horizon=eval_horizon).metrics(prefix + "greedy_"))
                return out

            curve = train_rl(trainer, p.rl.updates, evaluate=lambda: evaluate(eval_tasks), eval_every=p.eval.every,
                             on_metrics=t.log_metrics, on_checkpoint=checkpoint, checkpoint_every=p.checkpoint_every)
            final = evaluate(final_tasks, f"eval/{p.eval.final_split}_")
        finally:
            for e in envs:
                e.close()
        t.log_metrics(final)
        t.log_dict({"curve": curve, "final": final, "baselines": base, "bc": bc.to_dict() if bc else None},
                   "policy/learning_curve.json")
        t.log_figure(plot_learning_curve(curve, f"{env_name} {p.rl.algo} seed {p.seed}", base),
                     "policy/learning_curve.png")
        save_policy(agent, out_dir / "models" / env_name)
        version = t.log_model(plain_model(agent), agent.tokenizer, "model", registered,
                              tags={**tags, "update": str(p.rl.updates), "final": "true",
                                    f"{p.eval.final_split}_success": f"{final[f'eval/{p.eval.final_split}_success']:.3f}"})
        result = {"env": env_name, "algo": p.rl.algo, "seed": p.seed, "run_id": t.run_id,
                  "registered_version": version, "bc": bc.metrics("") if bc else None,
                  "eval_start": curve[0] if curve else None, "eval_end": curve[-1] if curve else None,
                  "final": final, "baselines": base}
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "metrics.json").write_text(json.dumps(result, indent=2, sort_keys=True, default=str))
        fs = p.eval.final_split
        logger.info(f"{env_name} {p.rl.algo}: {p.eval.split} success {curve[0]['eval/success'] if curve else float('nan'):.2f}"
                    f" -> {curve[-1]['eval/success'] if curve else float('nan'):.2f}; {fs} {final[f'eval/{fs}_success']:.2f} "
                    f"[{final[f'eval/{fs}_ci_low']:.2f}, {final[f'eval/{fs}_ci_high']:.2f}] against random "
                    f"{base[f'eval/{fs}_random_success']:.2f} and expert {base[f'eval/{fs}_expert_success']:.2f} "
                    f"at horizon {eval_horizon}")
    return result


def main(argv: list[str] | None = None) -> int:
    def extra(ap):
        ap.add_argument("--root", default=".", help="project root")

    def summary(cfg, a, r) -> str:
        fs = cfg.policy.eval.final_split
        f, b = r["final"], r["baselines"]
        return (f"{r['env']} {r['algo']} seed {r['seed']}: {fs} success {f[f'eval/{fs}_success']:.2f} "
                f"(random {b[f'eval/{fs}_random_success']:.2f}, expert {b[f'eval/{fs}_expert_success']:.2f}), "
                f"registered v{r['registered_version']}")

    return run_cli(__doc__.splitlines()[0], argv, extra, lambda cfg, a: policy_flow(cfg, root=a.root),
                   stage="train_policy", summary=summary)


if __name__ == "__main__":
    sys.exit(main())
