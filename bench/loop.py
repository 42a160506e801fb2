"""Wall time of one DreamGym loop iteration, and where it goes: synthesis (the experience model's batched
generation), the policy's forward passes while acting, its GRPO/PPO update, and the orchestration around them
(the GX guard and the gap monitor's real replays, the curriculum's task writing and checks, the buffer's atomic
add and tag, the checkpoint).

Setup: params.yaml's policy env and loop (a saved experience model of the env: `--model`, default the
train_experience_model stage's artifacts/experience/models/<env>, gated or not), the seed data in data/, tracking
off, the loop's folder in a temp dir (its buffer starts empty). One warm-up iteration, then `--iterations` timed
ones at the configured batch (policy.rl.tasks_per_update x group_size episodes, the first horizon stage). The
policy is warm-started by behaviour cloning as in the stage (--quick: an untrained policy, which plays to the
horizon: the longest episodes). Real val evaluations are left out (eval_every: 0), and the reward-hacking guard
only logs (stop_on_hacking: false).

    python bench/loop.py                       # babyai, 3 timed iterations
    python bench/loop.py --quick               # same keys: 1 timed iteration, 2 tasks x 4 rollouts, ~1 minute
    python bench/loop.py --env textcraft --model artifacts/experience/models/textcraft
    OMP_NUM_THREADS=2 python bench/loop.py

Prints one JSON object: seconds per iteration and the share of each part (shares sum to 1).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PARTS = ("synthesis", "policy_forward", "policy_update", "guard_and_monitor", "curriculum", "buffer", "other")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default=None, help="the policy env (default: params.yaml policy.env)")
    ap.add_argument("--model", default=None, help="a saved experience model dir (default: the stage's of the env)")
    ap.add_argument("--iterations", type=int, default=None, help="timed iterations (default 3; --quick 1)")
    ap.add_argument("--quick", action="store_true", help="1 timed iteration at 2 tasks x 4 rollouts, no BC")
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("-S", "--set", dest="overrides", action="append", default=[],
                    help="override key.path=value, e.g. -S policy.mode=generate for an env without an action list")
    args = ap.parse_args()
    iters = args.iterations if args.iterations is not None else (1 if args.quick else 3)
    if iters < 1:
        print("error: bench/loop.py: --iterations must be >= 1", file=sys.stderr)
        sys.exit(2)

    import torch

    from dreamgym.config import load_config
    from dreamgym.data import io
    from dreamgym.errors import DreamGymError
    from dreamgym.stages import loop as stage

    over = ["tracking.enabled=false", "loop.require_gate=false", "loop.eval_every=0", "loop.name=bench",
            "loop.guard.stop_on_hacking=false"]  # timing only: a drifting model must not stop it
    if args.env:  # another env's kwargs do not fit it: the env's own defaults (envs.<env>)
        over += [f"policy.env={args.env}", "policy.env_kwargs={}"]
    if args.quick:
        over += ["policy.rl.tasks_per_update=2", "policy.rl.group_size=4", "policy.bc.demos=0"]
    with tempfile.TemporaryDirectory(prefix="dreamgym-bench-loop-") as tmp:
        over += [f"paths.artifacts_dir={tmp}", f"paths.data_dir={ROOT / 'data'}"]
        over += args.overrides
        try:
            cfg = load_config(args.params, None, over)
            env = cfg.policy.env
            model = args.model or str(ROOT / "artifacts" / "experience" / "models" / env)
            cfg = load_config(args.params, None, [*over, f"loop.experience_model={model}"])
        except DreamGymError as e:
            print(f"error: bench/loop.py: {e}", file=sys.stderr)
            sys.exit(2)
        if not (Path(model) / "config.json").is_file():
            print(f"error: bench/loop.py: no experience model at {model}: train one (python -m flows.experience) "
                  f"or pass --model", file=sys.stderr)
            sys.exit(1)
        try:
            steps, tasks = io.read_env_data(str(ROOT / "data"), env)
            xm, _ = stage.experience_model(cfg, None, ROOT)
        except DreamGymError as e:
            print(f"error: bench/loop.py: {e}", file=sys.stderr)
            sys.exit(1)
        from dreamgym.tracking import Tracker

        try:
            with contextlib.redirect_stdout(sys.stderr):  # TRL prints the BC run's log lines: stdout is the JSON only
                parts, holder, eval_envs = stage.build_parts(cfg, ROOT, steps, tasks, xm, Tracker(), None)
            parts.evaluate = None
            loop = stage.make_loop(cfg, ROOT, parts, holder, Tracker())
            rows = []
            for n in range(1, iters + 2):
                with contextlib.redirect_stdout(sys.stderr):
                    m = loop.iteration(n)
                if n > 1:  # the first is the warm-up
                    rows.append(m)
        except DreamGymError as e:
            print(f"error: bench/loop.py: {e}", file=sys.stderr)
            sys.exit(2)
        for e in [*eval_envs, parts.real_env]:
            e.close()
    total = sum(r["perf/iteration_s"] for r in rows)
    sec = {"synthesis": sum(r["perf/synthesis_s"] for r in rows),
           "policy_forward": sum(r["perf/policy_forward_s"] for r in rows),
           "policy_update": sum(r["perf/update_s"] for r in rows),
           "guard_and_monitor": sum(r["perf/guard_s"] for r in rows),
           "curriculum": sum(r["perf/curriculum_s"] for r in rows),
           "buffer": sum(r["perf/buffer_s"] for r in rows)}
    sec["other"] = max(total - sum(sec.values()), 0.0)
    steps_n = sum(r["loop/synthetic_steps"] for r in rows)
    print(json.dumps({
        "env": env, "threads": torch.get_num_threads(), "quick": args.quick, "timed_iterations": iters,
        "episodes_per_iteration": cfg.policy.rl.tasks_per_update * cfg.policy.rl.group_size,
        "horizon": int(rows[0]["rl/horizon"]), "synthetic_steps_per_iteration": steps_n / iters,
        "seconds_per_iteration": round(total / iters, 2),
        "synthetic_steps_per_s": round(steps_n / max(sec["synthesis"], 1e-9), 1),
        "seconds": {k: round(v / iters, 2) for k, v in sec.items()},
        "share": {k: round(v / total, 3) for k, v in sec.items()},
        "parse_rate": 1.0 - sum(r["loop/parse_failures"] for r in rows) / max(steps_n, 1),
        "tasks_written": sum(r.get("curriculum/written", 0.0) for r in rows),
        "tasks_accepted": sum(r.get("curriculum/accepted", 0.0) for r in rows),
    }, indent=1))


if __name__ == "__main__":
    main()
