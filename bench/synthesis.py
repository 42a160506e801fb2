"""Synthetic-experience cost: experience-model transitions/s against real env steps/s, per env.

For each env: held-out real prompts (build_examples on the seed data in data/<env>/, no retrieval so the number
is the model's own cost; retrieval adds a buffer query per step, see bench/buffer.py) are answered by the
experience model with the project's Generator (greedy, batched, KV cache, stop at `</done>`), for each model:

* `tiny`: artifacts/experience/models/<env> when the experience stage has trained one, else a fresh tiny model
  of the params.yaml shape (untrained: it rarely stops early, so its figure is a pessimistic one);
* `smollm2`: SmolLM2-135M-Instruct (offline GGUF wheel, cached under artifacts/cache/models), untrained for
  this format, capped at the tiny model's mean generated length so both produce comparable outputs.

Real steps/s come from `bench/envs.py --quick` run in a subprocess here (same machine, same moment), with and
without the valid-action list (an agent that chooses among valid actions needs the list every step). The
ratio is synthetic transitions/s divided by real steps/s (target: a synthetic transition costing at most 1/5 of a
real ScienceWorld step with the tiny model, i.e. ratio >= 5). Model tokens/s (prompt and generated) are also given
as a share of the machine's fp32 matmul peak, measured in the same process (2 N FLOPs per token, N parameters).

    python bench/synthesis.py              # full: 128 prompts per env and model (~10 minutes)
    python bench/synthesis.py --quick      # same keys, 16 prompts, no smollm2 conversion wait if cached
    python bench/synthesis.py --envs babyai textcraft --models tiny
    python bench/synthesis.py --models-dir artifacts/tw_sw/experience/models   # models trained elsewhere

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ENVS = ["babyai", "textcraft", "textworld", "scienceworld"]


def real_rates(envs: list[str]) -> dict:
    """steps/s per env from bench/envs.py --quick (a subprocess: each env in its own process there)."""
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "envs.py"), "--quick", "--envs", *envs],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    data = json.loads(out.stdout)
    rates = {}
    for env in envs:
        e = data["envs"][env] if "envs" in data else data[env]
        rates[env] = {"steps_per_s": e.get("steps_per_s"), "steps_per_s_with_actions": e.get("steps_per_s_with_actions")}
    return rates


def prompts_for(env: str, n: int, cfg) -> tuple[list[str], float]:
    """n held-out prompts of `env` (test episodes, else val; no retrieval) and the mean completion length in chars."""

    from dreamgym.data.io import read_env_data
    from dreamgym.envs import get_spec
    from dreamgym.experience.examples import build_examples
    from dreamgym.experience.prompt import PromptSpec

    steps, tasks = read_env_data(ROOT / cfg.paths.data_dir, env)
    held = "test" if (steps["split"] == "test").any() else "val"
    val_eps = sorted(steps.loc[steps["split"] == held, "episode_id"].unique())[:60]
    spec = PromptSpec.from_config(cfg.experience.model_copy(update={"k": 0}), get_spec(env))
    ex = build_examples(steps[steps["episode_id"].isin(val_eps)], tasks, spec)
    return ex["prompt"].head(n).tolist(), float(ex["completion"].str.len().mean())


def matmul_peak_gflops(n: int = 1024, repeats: int = 8) -> float:
    """The machine's fp32 matmul rate here and now (torch's threads as set): the best of `repeats` n x n products."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def synth_rate(model, tok, prompts: list[str], max_new_tokens: int, batch_size: int, stop: str,
               peak_gflops: float) -> dict:
    """Transitions/s and tokens/s of the Generator on `prompts`, and the share of the fp32 matmul peak the model's
    forward passes use: 2 N FLOPs per token processed (N parameters; prompt and generated tokens; the attention
    over the context is not counted, so the share is a lower bound)."""
    from dreamgym.models import Generator

    gen = Generator(model, tok, max_new_tokens=max_new_tokens, batch_size=batch_size, stop_strings=[stop])
    gen.generate(prompts[:2])  # warm up
    t0 = time.perf_counter()
    outs = gen.generate(prompts)
    dt = time.perf_counter() - t0
    new = sum(len(o.token_ids) for o in outs)
    seen = new + sum(o.prompt_tokens for o in outs)
    n_params = sum(p.numel() for p in model.parameters())
    gflops = 2 * n_params * seen / dt / 1e9
    return {"transitions_per_s": round(len(prompts) / dt, 2), "generated_tokens_per_s": round(new / dt, 1),
            "tokens_per_s": round(seen / dt, 1), "model_gflops": round(gflops, 3),
            "share_of_matmul_peak": float(f"{gflops / peak_gflops:.3g}"), "parameters": n_params,
            "mean_generated_tokens": round(new / len(prompts), 1),
            "mean_prompt_tokens": round(sum(o.prompt_tokens for o in outs) / len(outs), 1),
            "stopped_share": round(sum(o.finish_reason == "stop" for o in outs) / len(outs), 3),
            "prompts": len(prompts), "batch_size": batch_size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="16 prompts per env and model (same keys)")
    ap.add_argument("--envs", nargs="+", default=ENVS, choices=ENVS)
    ap.add_argument("--models", nargs="+", default=["tiny", "smollm2"], choices=["tiny", "smollm2"])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--models-dir", action="append", default=[],
                    help="also look for trained tiny models in <dir>/<env> (repeatable; before the stage's own)")
    args = ap.parse_args()
    import torch

    from dreamgym.config import load_config
    from dreamgym.experience.format import stop_string
    from dreamgym.experience.train import make_model
    from dreamgym.models import load_model

    torch.manual_seed(0)
    cfg = load_config(args.params)
    n = 16 if args.quick else 128
    out: dict = {"quick": args.quick, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                                  "torch_threads": torch.get_num_threads()}}
    out["machine"]["fp32_matmul_peak_gflops"] = round(matmul_peak_gflops(), 1)
    out["real"] = real_rates(args.envs)
    cache = ROOT / cfg.experience.model.cache_dir
    peak = out["machine"]["fp32_matmul_peak_gflops"]
    stop = stop_string(cfg.experience.target_order)
    per_env: dict = {}
    for env in args.envs:
        prompts, completion_chars = prompts_for(env, n, cfg)
        entry: dict = {"completion_chars_mean": round(completion_chars, 1)}
        tiny_len = None
        for kind in args.models:
            if kind == "tiny":
                dirs = [*(Path(d) / env for d in args.models_dir),
                        ROOT / cfg.paths.artifacts_dir / "experience" / "models" / env]
                trained = next((d for d in dirs if (d / "config.json").is_file()), None)
                if trained is not None:
                    model, tok = load_model("tiny", trained, cache)
                    source = str(trained)
                else:
                    model, tok = make_model(cfg.experience, cache, prompts * 4)
                    source = "fresh (untrained)"
                res = synth_rate(model, tok, prompts, cfg.experience.max_new_tokens, cfg.experience.gen_batch_size,
                                 stop, peak)
                tiny_len = max(8, int(res["mean_generated_tokens"]))
            else:
                model, tok = load_model("smollm2", None, cache)
                source = "SmolLM2-135M-Instruct (untrained for this format)"
                res = synth_rate(model, tok, prompts, tiny_len or 96, 8, stop, peak)
            real = out["real"][env]
            res["model"] = source
            for key in ("steps_per_s", "steps_per_s_with_actions"):
                if real.get(key):
                    res[f"ratio_vs_real_{key}"] = float(f"{res['transitions_per_s'] / real[key]:.3g}")
            entry[kind] = res
            print(json.dumps({env: {kind: res}}), file=sys.stderr, flush=True)
        per_env[env] = entry
    out["envs"] = per_env
    if "scienceworld" in per_env and "tiny" in per_env["scienceworld"]:
        t = per_env["scienceworld"]["tiny"]
        out["target"] = {"env": "scienceworld", "model": "tiny", "ratio_needed": 5.0,
                         "ratio_vs_real_steps_per_s": t.get("ratio_vs_real_steps_per_s"),
                         "ratio_vs_real_steps_per_s_with_actions": t.get("ratio_vs_real_steps_per_s_with_actions")}
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
