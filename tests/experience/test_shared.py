"""One experience model for two envs (experience.shared): each env's examples under its own prompt, one SFT
schedule, measured per env on the same weights."""

from __future__ import annotations

from dreamgym.config import ExperienceConfig
from dreamgym.experience.train import interleave, train_shared_experience_model


def test_interleave_mixes_every_row_once():
    import pandas as pd

    a, b = pd.DataFrame({"x": range(5), "env": "a"}), pd.DataFrame({"x": range(100, 103), "env": "b"})
    out = interleave([a, b], seed=1)
    assert sorted(out["x"]) == [*range(5), *range(100, 103)]
    assert out["env"].tolist() != ["a"] * 5 + ["b"] * 3  # mixed, not stacked
    assert out.equals(interleave([a, b], seed=1))  # fixed by the seed


def test_one_model_learns_both_envs_and_is_measured_per_env(fast_rows, tmp_path):
    cfg = ExperienceConfig(envs=["babyai", "textcraft"], shared=True, eval_split="val", eval_examples=6,
                           open_loop_episodes=1, open_loop_max_steps=2, max_new_tokens=64, augment_copies=0,
                           model={"hidden_size": 48, "num_layers": 2, "num_heads": 2, "vocab_size": 600,
                                  "max_positions": 2048},
                           sft={"max_steps": 30, "batch_size": 8, "max_length": 1024, "eval_every": 0,
                                "eval_examples": 32, "logging_steps": 5})
    data = {env: (*fast_rows[env], None) for env in ("babyai", "textcraft")}
    runs = train_shared_experience_model(data, cfg, cache_dir=tmp_path / "cache", scratch_dir=tmp_path / "sft")
    assert set(runs) == {"babyai", "textcraft"}
    b, t = runs["babyai"], runs["textcraft"]
    assert b.model is t.model and b.tokenizer is t.tokenizer and b.sft is t.sft  # one model, trained once
    assert b.sft.steps == 30 and b.sft.val_loss_after < b.sft.val_loss_before  # it learned (val mixes both envs)
    assert b.experience_model.spec.env.name == "babyai" and t.experience_model.spec.env.name == "textcraft"
    for run in (b, t):  # each env measured on its own held-out split, through its own prompt
        assert run.fidelity["n"] == 6 and 0.0 <= run.fidelity["parse_rate"] <= 1.0 and run.n_train > 0
