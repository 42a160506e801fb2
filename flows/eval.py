"""On-demand evaluation: a saved policy (a dir or an MLflow model URI) on real held-out tasks beside random and the
expert, logged as an MLflow run (stage `eval`); the flow of the on-demand eval deployment (prefect.yaml).

    python -m flows.eval --model models:/dreamgym-loop-policy-babyai/1 --env babyai -n 1000
    python -m flows.eval --model artifacts/s2r/models/babyai --env babyai --split val -n 100 --preset tiny

Steps: load the config (root/params, preset, overrides), evaluate (dreamgym.stages.evaluation), log
eval/<split>_* with the baselines' eval/<split>_random_*, eval/<split>_expert_*. Simplification: sampled actions
with the policy's saved seed (the numbers repeat for a model and a task range).
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from dreamgym.config import load_config
from dreamgym.stages import evaluation as stage
from dreamgym.tracking import resolve_tracking_uri
from flows.common import run_cli, tracker_for

evaluate = task(stage.evaluate_saved, cache_policy=NO_CACHE)


@flow(name="eval", log_prints=False)
def eval_flow(model: str, env: str, split: str = "test", n: int = 100, root: str = ".", params: str = "params.yaml",
              preset: str | None = None, overrides: list[str] | None = None) -> dict:
    """Evaluate `model` on `n` real `split` tasks of `env` beside its baselines and log the run; returns the result.
    The config is root/`params` with `preset` and `overrides` (key.path=value) over it."""
    rootp = Path(root).resolve()
    cfg = load_config(rootp / params, preset, overrides or [])
    with tracker_for(cfg, rootp).run(f"eval-{env}-{split}", tags={"stage": stage.STAGE, "env": env, "model": model}) as t:
        res = evaluate(cfg, model, env, split=split, n=n, tracking_uri=resolve_tracking_uri(cfg.tracking.tracking_uri, rootp))
        t.log_metrics(stage.metrics(res))
    return res


def main(argv: list[str] | None = None) -> int:
    def extra(p):
        p.add_argument("--model", required=True, help="a saved policy dir, or an MLflow model URI")
        p.add_argument("--env", required=True, help="env name")
        p.add_argument("--split", default="test", choices=["train", "val", "test"])
        p.add_argument("-n", type=int, default=100, help="tasks (one episode each)")

    def call(cfg, a):
        return eval_flow(a.model, a.env, split=a.split, n=a.n, root=a.root, params=a.params, preset=a.preset,
                         overrides=a.overrides)

    return run_cli(__doc__.splitlines()[0], argv, call, stage="eval", summary=lambda cfg, a, r: stage.summary(r),
                   extra=extra)


if __name__ == "__main__":
    sys.exit(main())
