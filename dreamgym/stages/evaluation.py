"""Evaluating a saved policy on real tasks beside its baselines: what `dreamgym eval` prints and the on-demand eval
deployment (flows/eval.py) logs.

    res = evaluate_saved(cfg, "models:/dreamgym-loop-policy-babyai/3", "babyai", split="test", n=1000,
                         tracking_uri=uri)                       # the policy, random and the expert
    tracker.log_metrics(metrics(res))                             # eval/<split>_*, eval/<split>_random_*, ...

The env is built from cfg's envs.<env> (with policy.env_kwargs over it when env is policy.env); the horizon is
`horizon`, else policy.eval.horizon, else the last stage of the policy's horizon schedule. Actions are sampled with
the policy's saved seed (the same numbers every time for a model and a task range); `greedy` takes the argmax.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dreamgym.config import DreamGymConfig
from dreamgym.errors import DreamGymError

STAGE = "eval"


def evaluate_saved(cfg: DreamGymConfig, model: str, env: str, *, split: str = "test", n: int = 100, start: int = 0,
                   horizon: int | None = None, greedy: bool = False, parallel: int = 32, with_baselines: bool = True,
                   tracking_uri: str | None = None) -> dict[str, Any]:
    """The policy at `model` (a saved dir or an MLflow model URI) on `n` real `split` tasks of `env` from index
    `start`, and (with_baselines) random and the expert on the same tasks and horizon. Returns {env, split, model,
    start, policy: sampled|greedy, <metric>: value (horizon among them), ..., random: {...}, expert: {...}}; nan is
    None."""
    from dreamgym.envs import make_env
    from dreamgym.envs.base import check_split
    from dreamgym.envs.registry import get_env_class
    from dreamgym.policy.checkpoint import load_policy
    from dreamgym.policy.core import horizon_at
    from dreamgym.policy.evaluate import baselines, evaluate_policy

    get_env_class(env)
    check_split(split)
    kwargs = cfg.policy_env_kwargs() if env == cfg.policy.env else cfg.env_kwargs(env)
    p = cfg.policy
    h = horizon or p.eval.horizon or horizon_at(10**9, p.rl.horizon.stages, p.rl.horizon.every)
    agent = load_policy(model, tracking_uri=tracking_uri, cfg=p)
    envs = [make_env(env, **kwargs) for _ in range(max(1, min(parallel, n)))]
    try:
        tasks = envs[0].list_tasks(split, n=n, start=start)
        if not tasks:
            raise DreamGymError(f"no {split} tasks of '{env}' from index {start}")
        res = evaluate_policy(agent, envs, tasks, horizon=h, greedy=greedy)
        base = baselines(envs[0], tasks, horizon=h, seed=agent.acting.seed) if with_baselines else {}
    finally:
        for e in envs:
            e.close()
    return {"env": env, "split": split, "model": model, "start": start, "policy": "greedy" if greedy else "sampled", **_plain(res.metrics("")),
            **{name: _plain(r.metrics("")) for name, r in base.items()}}


def _plain(m: Mapping[str, float]) -> dict:
    """Metrics as strict JSON values: nan (e.g. mean steps of no success) -> None."""
    return {k: (None if v != v else v) for k, v in m.items()}


def metrics(res: Mapping[str, Any]) -> dict[str, float]:
    """evaluate_saved's result as namespaced metrics: eval/<split>_<k> for the policy, eval/<split>_<baseline>_<k>."""
    s, out = res["split"], {}
    for k, v in res.items():
        if isinstance(v, Mapping):
            out.update({f"eval/{s}_{k}_{kk}": float(vv) for kk, vv in v.items() if vv is not None})
        elif isinstance(v, int | float) and not isinstance(v, bool) and k != "start":
            out[f"eval/{s}_{k}"] = float(v)
    return out


def summary(res: Mapping[str, Any]) -> str:
    """One line: the policy's success with its interval beside random and the expert."""
    line = (f"{res['env']} {res['split']} ({res['episodes']:.0f} tasks, horizon {res['horizon']:.0f}, {res['policy']}): "
            f"success {res['success']:.3f} [{res['ci_low']:.3f}, {res['ci_high']:.3f}]")
    if "random" in res:
        line += f" (random {res['random']['success']:.3f}, expert {res['expert']['success']:.3f})"
    return line
