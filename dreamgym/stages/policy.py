"""The train_policy stage: warm-start an LLM policy on expert demos, train it with GRPO or PPO in the real env,
evaluate it beside its baselines, log and register it.

    envs = make_envs(cfg)                                          # tasks_per_update x group_size real envs
    agent, bc = start_policy(cfg, root, steps, tasks, envs[0], tracker)   # policy.init, else build + BC warm start
    base = measure_baselines(cfg, envs[0])                         # random and expert on the eval and final tasks
    curve, final = train_and_evaluate(cfg, agent, envs, tracker)
    record = finish(cfg, agent, tracker, curve, final, base, bc, out_dir)

Checkpoints and the final policy are versions of `dreamgym-policy-<env>`, tagged with the update, the algorithm,
the seed and whether they are final. `finish` returns the stage's DVC metric (artifacts/policy/metrics.json).
Simplification: training happens in the real env; training against the experience model is the DreamGym loop's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dreamgym.config import DreamGymConfig
from dreamgym.envs import make_env
from dreamgym.envs.base import TextEnv
from dreamgym.models.sft import SFTResult
from dreamgym.policy.agent import Agent
from dreamgym.policy.bc import bc_examples, behaviour_clone, expert_demos, policy_texts
from dreamgym.policy.checkpoint import make_agent, plain_model, save_policy
from dreamgym.policy.core import horizon_at
from dreamgym.policy.evaluate import baseline_metrics, baselines, evaluate_policy, plot_learning_curve
from dreamgym.policy.trainer import PolicyTrainer, train_rl
from dreamgym.tracking import Tracker

STAGE = "train_policy"


def registered_name(cfg: DreamGymConfig) -> str:
    """The model-registry name the policy's checkpoints and final version go to."""
    return f"dreamgym-policy-{cfg.policy.env}"


def eval_horizon(cfg: DreamGymConfig) -> int:
    """The evaluation horizon: `policy.eval.horizon`, else the last stage of the training horizon schedule."""
    p = cfg.policy
    return p.eval.horizon or horizon_at(10**9, p.rl.horizon.stages, p.rl.horizon.every)


def tags(cfg: DreamGymConfig) -> dict[str, str]:
    """The run's tags (also on every registered version): stage, method (bc when there is no RL, else real-<algo>),
    env, algorithm, seed, warm start."""
    p = cfg.policy
    return {"stage": STAGE, "method": f"real-{p.rl.algo}" if p.rl.updates else "bc", "env": p.env, "algo": p.rl.algo,
            "seed": str(p.seed),
            "warm_start": "init" if p.init else f"bc-{p.bc.demos}" if p.bc.demos else "none"}


def run_name(cfg: DreamGymConfig) -> str:
    return f"policy-{cfg.policy.env}-{cfg.policy.rl.algo}-s{cfg.policy.seed}"


def make_envs(cfg: DreamGymConfig) -> list[TextEnv]:
    """One real env per rollout of an update (tasks_per_update x group_size), built with the policy's kwargs."""
    p = cfg.policy
    return [make_env(p.env, **cfg.policy_env_kwargs()) for _ in range(p.rl.tasks_per_update * p.rl.group_size)]


def build_agent(cfg: DreamGymConfig, root: str | Path, steps, tasks, env: TextEnv) -> Agent:
    """A fresh policy per `policy.model`; a tiny model's tokenizer is trained on the env's seed text."""
    return make_agent(cfg.policy, Path(root) / cfg.policy.model.cache_dir, texts=policy_texts(steps, tasks, env))


def start_policy(cfg: DreamGymConfig, root: str | Path, steps, tasks, env: TextEnv,
                 tracker: Tracker) -> tuple[Agent, SFTResult | None]:
    """The policy RL starts from: the saved one at `policy.init` (no warm start; its own settings, the config's
    where it has none), else a fresh one (build_agent) behaviour-cloned by warm_start. Returns (agent, BC result or
    None)."""
    p = cfg.policy
    if p.init:
        from dreamgym.errors import DreamGymError
        from dreamgym.policy.checkpoint import load_policy

        try:
            return load_policy(p.init, cfg=p, tracking_uri=cfg.tracking.tracking_uri), None
        except DreamGymError as e:
            raise DreamGymError(f"policy.init {p.init!r}: {e}") from e
    agent = build_agent(cfg, root, steps, tasks, env)
    return agent, warm_start(cfg, agent, env, steps, tasks, tracker)


def warm_start(cfg: DreamGymConfig, agent: Agent, env: TextEnv, steps, tasks, tracker: Tracker) -> SFTResult | None:
    """Behaviour cloning on `policy.bc.demos` successful expert train episodes of the env's configuration
    (validated on val demos; the SFT curve and `rl/bc_*` go to the tracker); None when bc.demos is 0."""
    p = cfg.policy
    if p.bc.demos == 0:
        return None
    train = bc_examples(expert_demos(steps, tasks, n=p.bc.demos, accept=env.accepts, seed=p.seed), agent, env)
    val = bc_examples(expert_demos(steps, tasks, n=max(p.bc.demos, 20), split="val", accept=env.accepts), agent, env)
    with tempfile.TemporaryDirectory(prefix="dreamgym-bc-") as scratch:
        bc = behaviour_clone(agent, train, val, p.bc.sft, scratch, on_log=tracker.log_metrics)
    tracker.log_metrics(bc.metrics("rl/bc_"))
    return bc


def eval_tasks(cfg: DreamGymConfig, env: TextEnv, final_episodes: int | None = None) -> tuple[list, list]:
    """The in-run evaluation tasks (`eval.split`, `eval.episodes`) and the final ones (`eval.final_split`,
    `final_episodes`, default `eval.episodes`)."""
    e = cfg.policy.eval
    return env.list_tasks(e.split, n=e.episodes), env.list_tasks(e.final_split, n=final_episodes or e.episodes)


def measure_baselines(cfg: DreamGymConfig, env: TextEnv, final_episodes: int | None = None) -> dict[str, float]:
    """The uniform-random policy over the valid actions and the expert on the same evaluation and final tasks
    and horizon as the policy (`eval/random_*`, `eval/expert_*`, `eval/<final_split>_random_*`, ...)."""
    p, h = cfg.policy, eval_horizon(cfg)
    val, final = eval_tasks(cfg, env, final_episodes)
    return {**baseline_metrics(baselines(env, val, horizon=h, seed=p.seed), "eval/"),
            **baseline_metrics(baselines(env, final, horizon=h, seed=p.seed), f"eval/{p.eval.final_split}_")}


def source_under(src: str, root: str | Path) -> str:
    """A saved model's source as the stages load it: an MLflow model URI or an absolute dir as given, a relative dir
    under the project `root`."""
    from dreamgym.tracking import is_model_uri

    return src if is_model_uri(src) or Path(src).is_absolute() else str(Path(root) / src)


def eval_real_steps(m: Mapping[str, float], prefix: str = "eval/") -> float:
    """The real env steps an evaluate() result took (measurement): episodes x mean steps, sampled and greedy."""
    return (m.get(f"{prefix}mean_steps", 0.0) * m.get(f"{prefix}episodes", 0.0)
            + m.get(f"{prefix}greedy_mean_steps", 0.0) * m.get(f"{prefix}greedy_episodes", 0.0))


def evaluate(cfg: DreamGymConfig, agent: Agent, envs: list[TextEnv], tasks, prefix: str) -> dict[str, float]:
    """`prefix`* metrics of the policy on `tasks` at the evaluation horizon, sampling (and greedy, as
    `prefix`greedy_*, with `eval.greedy_too`)."""
    h = eval_horizon(cfg)
    out = evaluate_policy(agent, envs, tasks, horizon=h, greedy=False).metrics(prefix)
    if cfg.policy.eval.greedy_too:
        out.update(evaluate_policy(agent, envs, tasks, horizon=h).metrics(prefix + "greedy_"))
    return out


def train_and_evaluate(cfg: DreamGymConfig, agent: Agent, envs: list[TextEnv], tracker: Tracker, *,
                       max_env_steps: int | None = None,
                       final_episodes: int | None = None) -> tuple[list[dict[str, float]], dict[str, float]]:
    """`rl.updates` GRPO/PPO updates on train tasks (no update starts once `max_env_steps` real steps are
    spent), evaluated every `eval.every` updates (the learning curve) and checkpointed every `checkpoint_every` as
    registered versions; then the final evaluation on `final_episodes` tasks (default `eval.episodes`).
    Returns (curve, final metrics); the metrics also go to the tracker."""
    p = cfg.policy
    val, final_tasks = eval_tasks(cfg, envs[0], final_episodes)
    trainer = PolicyTrainer(agent, p.rl, envs, envs[0].list_tasks("train", n=p.rl.task_pool), seed=p.seed)

    def checkpoint(u: int) -> None:
        tracker.log_model(plain_model(agent), agent.tokenizer, f"checkpoint-{u:05d}", registered_name(cfg),
                          tags={**tags(cfg), "update": str(u), "final": "false"})

    curve = train_rl(trainer, p.rl.updates, evaluate=lambda: evaluate(cfg, agent, envs, val, "eval/"),
                     eval_every=p.eval.every, on_metrics=tracker.log_metrics, on_checkpoint=checkpoint,
                     checkpoint_every=p.checkpoint_every, max_env_steps=max_env_steps)
    final = evaluate(cfg, agent, envs, final_tasks, f"eval/{p.eval.final_split}_")
    tracker.log_metrics(final)
    return curve, final


def finish(cfg: DreamGymConfig, agent: Agent, tracker: Tracker, curve: list[dict[str, float]],
           final: Mapping[str, float], base: Mapping[str, float], bc: SFTResult | None, out_dir: Path) -> dict[str, Any]:
    """Log the learning curve (JSON and plot), save the policy to `out_dir/models/<env>`, log and register it as
    the final version; returns the stage's record."""
    p, fs = cfg.policy, cfg.policy.eval.final_split
    tracker.log_dict({"curve": curve, "final": dict(final), "baselines": dict(base), "bc": bc.to_dict() if bc else None},
                     "policy/learning_curve.json")
    tracker.log_figure(plot_learning_curve(curve, f"{p.env} {p.rl.algo} seed {p.seed}", base),
                       "policy/learning_curve.png")
    save_policy(agent, out_dir / "models" / p.env)
    version = tracker.log_model(plain_model(agent), agent.tokenizer, "model", registered_name(cfg),
                                tags={**tags(cfg), "update": str(p.rl.updates), "final": "true",
                                      f"{fs}_success": f"{final[f'eval/{fs}_success']:.3f}"})
    return {"env": p.env, "algo": p.rl.algo, "seed": p.seed, "run_id": tracker.run_id,
            "registered_version": version, "bc": bc.metrics("") if bc else None,
            "eval_start": curve[0] if curve else None, "eval_end": curve[-1] if curve else None,
            "final": dict(final), "baselines": dict(base)}


def result_line(cfg: DreamGymConfig, r: Mapping[str, Any]) -> str:
    """The policy's outcome in one line: the eval curve's start and end, the final split's success with its
    interval, beside the random and expert baselines, at the evaluation horizon."""
    fs, f, b = cfg.policy.eval.final_split, r["final"], r["baselines"]
    start, end = (c["eval/success"] if c else float("nan") for c in (r["eval_start"], r["eval_end"]))
    return (f"{r['env']} {r['algo']} seed {r['seed']}: {cfg.policy.eval.split} success {start:.2f} -> {end:.2f}; "
            f"{fs} {f[f'eval/{fs}_success']:.2f} [{f[f'eval/{fs}_ci_low']:.2f}, {f[f'eval/{fs}_ci_high']:.2f}] "
            f"against random {b[f'eval/{fs}_random_success']:.2f} and expert {b[f'eval/{fs}_expert_success']:.2f} "
            f"at horizon {eval_horizon(cfg)}")


def summary(cfg: DreamGymConfig, r: Mapping[str, Any]) -> str:
    """The stage's closing line: the final split's success beside its baselines, and the registered version."""
    fs, f, b = cfg.policy.eval.final_split, r["final"], r["baselines"]
    return (f"{r['env']} {r['algo']} seed {r['seed']}: {fs} success {f[f'eval/{fs}_success']:.2f} "
            f"(random {b[f'eval/{fs}_random_success']:.2f}, expert {b[f'eval/{fs}_expert_success']:.2f}), "
            f"registered v{r['registered_version']}")
