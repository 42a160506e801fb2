"""The pipeline's closing summary: real test success of the BC start, DreamGym (synthetic only) and DreamGym-S2R,
each with the real steps it used, beside random and the expert on the same tasks, and where to look in MLflow.

    lines = results(cfg, loop_record, s2r_record, seed_steps)      # the rows (dicts), then
    text = summary_text(cfg, lines, times, ui)                      # the printed block

`seed_steps` are the seed data's real env steps of the policy's env (what the experience model and the BC start
learned from); every method is charged them. The rows come from the stages' own records (the loop's start and
final test evaluations, S2R's final one), so the summary shows nothing the stages did not measure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dreamgym.config import DreamGymConfig

STAGES = ("seed", "buffer", "experience", "loop", "s2r")


def _row(method: str, m: Mapping[str, float], prefix: str, rl_steps: int, seed_steps: int, run_id: str) -> dict:
    return {"method": method, "success": m[f"{prefix}success"], "ci_low": m[f"{prefix}ci_low"],
            "ci_high": m[f"{prefix}ci_high"], "episodes": int(m[f"{prefix}episodes"]), "rl_real_steps": rl_steps,
            "real_steps": seed_steps + rl_steps, "run_id": run_id}


def results(cfg: DreamGymConfig, loop: Mapping[str, Any], s2r: Mapping[str, Any], seed_steps: int) -> dict[str, Any]:
    """The summary's rows (BC start, DreamGym, DreamGym-S2R) and the random and expert baselines on the same test
    tasks, from the loop's and S2R's records."""
    fs = cfg.policy.eval.final_split
    b = loop["baselines"]
    rows = [_row("BC start", loop["start"], f"eval/{fs}_start_", 0, seed_steps, loop["run_id"]),
            _row("DreamGym (synthetic only)", loop["final"], f"eval/{fs}_", int(loop["counters"]["real_steps"]),
                 seed_steps, loop["run_id"]),
            _row("DreamGym-S2R", s2r["final"], f"eval/{fs}_",
                 int(loop["counters"]["real_steps"]) + int(s2r["real_steps"]["s2r"]), seed_steps, s2r["run_id"])]
    return {"env": cfg.policy.env, "split": fs, "rows": rows, "random": b[f"eval/{fs}_random_success"],
            "expert": b[f"eval/{fs}_expert_success"], "seed_steps": seed_steps}


def summary_text(cfg: DreamGymConfig, res: Mapping[str, Any], times: Mapping[str, float], ui: str) -> str:
    """The block the main job ends with: one line per method, the baselines, the time per stage, the MLflow UI."""
    from dreamgym.stages.policy import eval_horizon

    n = res["rows"][0]["episodes"]
    out = [f"results: {res['env']} {dict(cfg.policy.env_kwargs) or ''}, {n} {res['split']} tasks at horizon "
           f"{eval_horizon(cfg)}; random {res['random']:.3f}, expert {res['expert']:.3f}",
           f"  {'method':<28}{'success [95% CI]':<26}{'real RL steps':>14}{'real steps in all':>19}  run"]
    for r in res["rows"]:
        ci = f"{r['success']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        out.append(f"  {r['method']:<28}{ci:<26}{r['rl_real_steps']:>14,}{r['real_steps']:>19,}  {r['run_id'][:8]}")
    out.append(f"  (real steps in all: the seed data's {res['seed_steps']:,} + the RL steps)")
    total = sum(times.values())
    out.append("time: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in times.items()) + f"; total {total / 60:.1f} min")
    out.append(f"MLflow: {ui} -> experiment '{cfg.experiment_name}', runs named by stage; compare the loop "
               f"and S2R runs there")
    return "\n".join(out)
