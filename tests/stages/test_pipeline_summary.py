"""The pipeline's closing summary (pure logic over the stages' records)."""

from pathlib import Path

from dreamgym.config import load_config
from dreamgym.stages.pipeline import results, summary_text

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def _m(prefix: str, s: float, n: int = 1000) -> dict:
    return {f"{prefix}success": s, f"{prefix}ci_low": s - 0.02, f"{prefix}ci_high": s + 0.02, f"{prefix}episodes": n}


def test_the_summary_charges_every_method_the_seed_data_and_its_own_rl_steps():
    cfg = load_config(PARAMS)
    loop = {"run_id": "a" * 32, "start": _m("eval/test_start_", 0.07), "final": _m("eval/test_", 0.19),
            "counters": {"real_steps": 0}, "baselines": {"eval/test_random_success": 0.1, "eval/test_expert_success": 0.975}}
    s2r = {"run_id": "b" * 32, "final": _m("eval/test_", 0.25), "real_steps": {"s2r": 4412}}
    res = results(cfg, loop, s2r, seed_steps=7000)
    assert [(r["method"], r["rl_real_steps"], r["real_steps"]) for r in res["rows"]] == [
        ("BC start", 0, 7000), ("DreamGym (synthetic only)", 0, 7000), ("DreamGym-S2R", 4412, 11412)]
    text = summary_text(cfg, res, {"seed": 60.0, "loop": 600.0}, "dreamgym ui")
    lines = text.splitlines()
    assert lines[0].startswith("results: babyai") and "random 0.100, expert 0.975" in lines[0]
    assert "0.250 [0.230, 0.270]" in lines[4] and "4,412" in lines[4] and "11,412" in lines[4]
    assert "total 11.0 min" in text and "MLflow: dreamgym ui" in text
