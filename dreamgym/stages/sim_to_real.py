"""The sim_to_real stage: the DreamGym loop's final policy trained with GRPO/PPO in the real env on a small real
budget (`s2r.real_steps`, the paper's B/16), then evaluated on real test tasks beside its baselines, with every
real env step counted.

    pcfg = policy_config(cfg, root)                        # the policy section S2R trains with: init, updates, evals
    agent = start_policy(cfg, pcfg, tracking_uri)          # the loop's policy (s2r.init); no warm start
    envs = policy.make_envs(pcfg); base = measure_baselines(cfg, pcfg, envs[0])
    curve, final = train_and_evaluate(cfg, pcfg, agent, envs, tracker)
    record = finish(cfg, pcfg, agent, tracker, curve, final, base, prior_real_steps(cfg, steps, loop_record), out_dir)

Counting (`real_steps/*`, one figure per source, the x axis of success per real interaction):
`real_steps/seed_data` the seed data's real env steps of the env (what the experience model and BC learned from),
`real_steps/loop` the loop's real RL steps (0: it trains on the experience model only), `real_steps/s2r` this
stage's RL steps (exact: every step of every rollout), and `real_steps/total` their sum. Real steps spent measuring
(evaluations, baselines) train nothing and are counted apart (`s2r/eval_real_steps`).
Simplification: the budget is checked between updates, so the last update may pass it by under one update's
rollouts; the exact count is what is reported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dreamgym.config import DreamGymConfig
from dreamgym.errors import DreamGymError
from dreamgym.stages import policy as pstage
from dreamgym.stages.loop import loop_name
from dreamgym.tracking import Tracker

STAGE = "sim_to_real"


def registered_name(cfg: DreamGymConfig) -> str:
    return f"dreamgym-s2r-policy-{cfg.policy.env}"


def run_name(cfg: DreamGymConfig) -> str:
    """s2r-<loop name> when transferring the loop's policy, else s2r-<env>-<algo>-s<seed>."""
    p = cfg.policy
    return f"s2r-{loop_name(cfg)}" if cfg.s2r.init == "loop" else f"s2r-{p.env}-{p.rl.algo}-s{p.seed}"


def init_source(cfg: DreamGymConfig, root: str | Path) -> str:
    """The policy S2R starts from: the loop's saved final policy (artifacts/loop/models/<loop name>) for
    s2r.init 'loop'; a relative dir is taken under `root`; an MLflow URI as given."""
    src = cfg.s2r.init
    if src == "loop":
        return str(Path(root) / cfg.paths.artifacts_dir / "loop" / "models" / loop_name(cfg))
    return pstage.source_under(src, root)


def policy_config(cfg: DreamGymConfig, root: str | Path) -> DreamGymConfig:
    """`cfg` with the policy section S2R trains with: policy.init the S2R start, rl.updates s2r.max_updates,
    eval.every s2r.eval_every, no intermediate checkpoints (the final policy is registered)."""
    p, s = cfg.policy, cfg.s2r
    policy = p.model_copy(update={"init": init_source(cfg, root), "checkpoint_every": 0,
                                  "rl": p.rl.model_copy(update={"updates": s.max_updates}),
                                  "eval": p.eval.model_copy(update={"every": s.eval_every})})
    return cfg.model_copy(update={"policy": policy})


def tags(cfg: DreamGymConfig) -> dict[str, str]:
    """The run's tags (also on the registered version): stage, method, env, algorithm, seed, the loop it starts
    from (or the init source)."""
    p = cfg.policy
    return {"stage": STAGE, "method": "dreamgym-s2r", "env": p.env, "algo": p.rl.algo, "seed": str(p.seed),
            "init": loop_name(cfg) if cfg.s2r.init == "loop" else cfg.s2r.init}


def start_policy(cfg: DreamGymConfig, pcfg: DreamGymConfig, tracking_uri: str | None = None):
    """The policy to transfer (pcfg.policy.init; `tracking_uri` resolves an MLflow URI); DreamGymError naming
    s2r.init and what to do when it will not load."""
    from dreamgym.policy.checkpoint import load_policy

    try:
        return load_policy(pcfg.policy.init, cfg=pcfg.policy, tracking_uri=tracking_uri)
    except DreamGymError as e:
        hint = ("; run the dreamgym_loop stage first (python -m flows.dreamgym_loop) with the same policy and loop "
                "settings, or set s2r.init to a saved policy" if cfg.s2r.init == "loop" else "")
        raise DreamGymError(f"s2r.init {cfg.s2r.init!r} ({pcfg.policy.init}): {e}{hint}") from None


def measure_baselines(cfg: DreamGymConfig, pcfg: DreamGymConfig, env) -> dict[str, float]:
    """Random and expert on S2R's val tasks and its s2r.final_episodes test tasks, at the evaluation horizon."""
    return pstage.measure_baselines(pcfg, env, final_episodes=cfg.s2r.final_episodes)


def train_and_evaluate(cfg: DreamGymConfig, pcfg: DreamGymConfig, agent, envs, tracker: Tracker):
    """RL in the real env until s2r.real_steps (or s2r.max_updates), then the final test evaluation; (curve, final)."""
    return pstage.train_and_evaluate(pcfg, agent, envs, tracker, max_env_steps=cfg.s2r.real_steps,
                                     final_episodes=cfg.s2r.final_episodes)


def prior_real_steps(cfg: DreamGymConfig, steps, loop_record: Mapping[str, Any] | None) -> dict[str, int]:
    """The real steps spent before S2R: the seed data's (rows of `steps`, the env's seed steps frame) and the
    loop's real RL steps (`loop_record`, the loop stage's record, when it is this config's loop; 0 otherwise: a
    DreamGym loop trains on the experience model only)."""
    loop = 0
    if loop_record and loop_record.get("loop") == loop_name(cfg):
        loop = int((loop_record.get("counters") or {}).get("real_steps", 0))
    return {"seed_data": int(len(steps)) if steps is not None else 0, "loop": loop}


@dataclasses.dataclass
class Counts:
    """Real env steps by source (see the module docstring)."""

    seed_data: int
    loop: int
    s2r: int

    @property
    def total(self) -> int:
        return self.seed_data + self.loop + self.s2r

    def metrics(self) -> dict[str, float]:
        return {f"real_steps/{k}": float(v) for k, v in {**dataclasses.asdict(self), "total": self.total}.items()}


def finish(cfg: DreamGymConfig, pcfg: DreamGymConfig, agent, tracker: Tracker, curve: list[dict[str, float]],
           final: Mapping[str, float], base: Mapping[str, float], prior: Mapping[str, int], out_dir: Path) -> dict[str, Any]:
    """Count the real steps, log them with the learning curve (JSON, and a plot against real steps), save the
    policy to out_dir/models/<env>, log and register it as dreamgym-s2r-policy-<env>; returns the stage's record."""
    from dreamgym.policy.checkpoint import plain_model, save_policy
    from dreamgym.policy.evaluate import plot_learning_curve

    p, fs = pcfg.policy, pcfg.policy.eval.final_split
    counts = Counts(seed_data=int(prior["seed_data"]), loop=int(prior["loop"]),
                    s2r=int(curve[-1]["env_steps"]) if curve else 0)
    updates = int(curve[-1]["update"]) if curve else 0
    measured = int(round(sum(pstage.eval_real_steps(c) for c in curve) + pstage.eval_real_steps(final, f"eval/{fs}_")))
    tracker.log_metrics({**counts.metrics(), "s2r/updates": float(updates), "s2r/eval_real_steps": float(measured)})
    points = [{**c, "real_steps_total": float(counts.seed_data + counts.loop + c["env_steps"])} for c in curve]
    tracker.log_dict({"curve": points, "final": dict(final), "baselines": dict(base), "real_steps": counts.metrics()},
                     "s2r/learning_curve.json")
    tracker.log_figure(plot_learning_curve(curve, f"{p.env} S2R ({p.rl.algo}) seed {p.seed}", base),
                       "s2r/learning_curve.png")
    save_policy(agent, out_dir / "models" / p.env)
    version = tracker.log_model(plain_model(agent), agent.tokenizer, "model", registered_name(cfg),
                                tags={**tags(cfg), "real_steps": str(counts.total),
                                      f"{fs}_success": f"{final[f'eval/{fs}_success']:.3f}"})
    return {"env": p.env, "algo": p.rl.algo, "seed": p.seed, "init": p.init, "run_id": tracker.run_id,
            "curve": [{"update": int(c["update"]), "real_steps_total": int(c["real_steps_total"]),
                       "success": c["eval/success"]} for c in points if "eval/success" in c],
            "registered_version": version, "updates": updates, "budget": cfg.s2r.real_steps,
            "real_steps": {k.split("/", 1)[1]: int(v) for k, v in counts.metrics().items()},
            "eval_real_steps": measured, "eval_start": curve[0] if curve else None,
            "eval_end": curve[-1] if curve else None, "final": dict(final), "baselines": dict(base)}


def summary(cfg: DreamGymConfig, r: Mapping[str, Any]) -> str:
    """The closing line: test success before and after S2R, beside random and expert, with the real steps."""
    if "final" not in r:
        return "no result"
    fs = cfg.policy.eval.final_split
    f, b, rs = r["final"], r["baselines"], r["real_steps"]
    return (f"{r['env']} S2R seed {r['seed']}: {r['updates']} updates, {rs['s2r']} real RL steps (budget "
            f"{r['budget']}; {rs['total']} real steps in all, seed data {rs['seed_data']}); {fs} success "
            f"{f[f'eval/{fs}_success']:.2f} [{f[f'eval/{fs}_ci_low']:.2f}, {f[f'eval/{fs}_ci_high']:.2f}] "
            f"(random {b[f'eval/{fs}_random_success']:.2f}, expert {b[f'eval/{fs}_expert_success']:.2f})")
