"""Policy RL throughput: rollout tokens/s, update tokens/s and seconds per GRPO iteration, against the machine's
measured fp32 matmul peak.

Setup: the policy env of params.yaml (babyai GoToLocal by default) as a pool of real envs, a fresh policy of
each asked model kind (`tiny`: the params.yaml policy shape; `smollm2`: SmolLM2-135M-Instruct, offline), acting
in the default mode (score: every valid action scored as a continuation, prompts run once with a shared KV
cache). One warm-up GRPO iteration, then `--iterations` timed ones at the default batch
(policy.rl.tasks_per_update x group_size episodes, first horizon stage). The weights are untrained: the numbers
are costs, not learning.

Utilisation: model FLOPs = 2 x (non-embedding parameters) per processed token, plus 2 x vocab x hidden for each
token whose next-token distribution is computed (the candidate or reply tokens: prompts keep the logits of their
last position only). Attention's context-length term is left out, so the figure is a lower bound. Updates count
3x the forward FLOPs (forward + backward). Peak: the best of a few square fp32 matmuls at the same thread count.

    python bench/rl.py                 # tiny and smollm2, 3 timed iterations each
    python bench/rl.py --quick         # same keys: tiny, 1 timed iteration, about a minute
    python bench/rl.py --models smollm2 --iterations 1 --warmup 0 --tasks-per-update 2 --group-size 4
                                       # the 135M model at a smaller batch (the default one takes ~30 minutes)
    OMP_NUM_THREADS=2 python bench/rl.py --models tiny

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def matmul_peak(threads: int, n: int = 1024, repeats: int = 5) -> float:
    """Best fp32 GFLOP/s of an n x n matmul at `threads` threads."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def flops_per_token(model) -> tuple[float, float]:
    """(2 x non-embedding params, 2 x vocab x hidden): forward FLOPs of the body per token, of the head per scored token."""
    emb = model.get_input_embeddings().weight
    body = sum(p.numel() for p in model.parameters()) - emb.numel()
    return 2.0 * body, 2.0 * emb.shape[0] * emb.shape[1]


def bench_model(kind: str, cfg, steps, tasks, iterations: int, peak: float, warmup: int = 1) -> dict:
    from dreamgym.envs import make_env
    from dreamgym.policy.bc import policy_texts
    from dreamgym.policy.checkpoint import make_agent
    from dreamgym.policy.trainer import PolicyTrainer, decision_tokens

    p = cfg.policy
    envs = [make_env(p.env, **cfg.policy_env_kwargs()) for _ in range(p.rl.tasks_per_update * p.rl.group_size)]
    agent = make_agent(p, ROOT / p.model.cache_dir, texts=policy_texts(steps, tasks, envs[0]), kind=kind)
    trainer = PolicyTrainer(agent, p.rl, envs, envs[0].list_tasks("train", n=p.rl.task_pool), seed=p.seed)
    body, head = flops_per_token(agent.model)
    for _ in range(warmup):
        trainer.step()
    roll_s = upd_s = roll_tok = upd_tok = head_tok = decisions = episodes = 0.0
    for _ in range(iterations):
        trainer.updates_done = 0  # stay in the first horizon stage
        t0 = time.perf_counter()
        eps = trainer.collect()
        t1 = time.perf_counter()
        stats = trainer.update(eps)
        t2 = time.perf_counter()
        ds = [t.decision for e in eps for t in e.turns]
        roll_s += t1 - t0
        upd_s += t2 - t1
        roll_tok += sum(decision_tokens(d) for d in ds)
        head_tok += sum(sum(len(c) for c in (d.candidate_ids or [d.completion_ids])) for d in ds)
        upd_tok += stats.get("perf/update_tokens", 0.0)
        decisions += len(ds)
        episodes += len(eps)
    for e in envs:
        e.close()
    roll_flops = body * roll_tok + head * head_tok
    trained_share = upd_tok / max(roll_tok, 1.0)  # updates skip decisions with zero advantage
    upd_flops = 3 * (body * upd_tok + head * head_tok * trained_share)
    return {
        "parameters": sum(q.numel() for q in agent.model.parameters()),
        "iterations": iterations,
        "episodes_per_iteration": episodes / iterations,
        "decisions_per_iteration": decisions / iterations,
        "s_per_iteration": (roll_s + upd_s) / iterations,
        "rollout_s_per_iteration": roll_s / iterations,
        "update_s_per_iteration": upd_s / iterations,
        "rollout_tokens_per_s": roll_tok / roll_s,
        "update_tokens_per_s": upd_tok / upd_s if upd_s else None,
        "rollout_gflops": roll_flops / roll_s / 1e9,
        "update_gflops": upd_flops / upd_s / 1e9 if upd_s else None,
        "rollout_utilisation": roll_flops / roll_s / 1e9 / peak,
        "update_utilisation": upd_flops / upd_s / 1e9 / peak if upd_s else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny only, 1 timed iteration: same keys in about a minute")
    ap.add_argument("--models", nargs="+", default=None, help="tiny, smollm2 (default: both; quick: tiny)")
    ap.add_argument("--iterations", type=int, default=None, help="timed GRPO iterations (default 3, quick 1)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed GRPO iterations first (default 1)")
    ap.add_argument("--tasks-per-update", type=int, default=None, help="override policy.rl.tasks_per_update")
    ap.add_argument("--group-size", type=int, default=None, help="override policy.rl.group_size")
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    args = ap.parse_args()
    import torch

    from dreamgym.config import load_config
    from dreamgym.data import io

    threads = int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads()))
    torch.set_num_threads(threads)
    over = [f"policy.rl.{k}={v}" for k, v in (("tasks_per_update", args.tasks_per_update),
                                               ("group_size", args.group_size)) if v is not None]
    cfg = load_config(args.params, overrides=over)
    d = ROOT / cfg.paths.data_dir / cfg.policy.env
    steps, tasks = io.read_table(d / io.STEPS_FILE), io.read_table(d / io.TASKS_FILE)
    peak = matmul_peak(threads)
    torch.set_num_threads(threads)
    models = args.models or (["tiny"] if args.quick else ["tiny", "smollm2"])
    iterations = args.iterations or (1 if args.quick else 3)
    out = {"machine": {"threads": threads, "cpu": platform.processor() or platform.machine(),
                       "fp32_matmul_peak_gflops": peak},
           "env": cfg.policy.env, "env_kwargs": cfg.policy_env_kwargs(), "mode": cfg.policy.mode,
           "batch": {"tasks_per_update": cfg.policy.rl.tasks_per_update, "group_size": cfg.policy.rl.group_size,
                     "horizon": cfg.policy.rl.horizon.stages[0]},
           "quick": args.quick, "models": {}}
    for kind in models:
        out["models"][kind] = bench_model(kind, cfg, steps, tasks, iterations, peak, args.warmup)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
