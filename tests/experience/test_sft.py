"""SFT of a tiny experience model on real babyai examples: val loss falls; the saved model reloads and predicts
exactly as before."""

from __future__ import annotations

from dreamgym.config import ExperienceConfig, SFTParams
from dreamgym.envs import get_spec
from dreamgym.experience.examples import build_examples
from dreamgym.experience.format import SPECIAL_TOKENS
from dreamgym.experience.prompt import PromptSpec
from dreamgym.experience.synthetic import ExperienceModel
from dreamgym.models import Generator, build_model, load_model, save_model
from dreamgym.models.sft import train_sft


def test_training_lowers_val_loss_and_the_saved_model_predicts_identically(fast_rows, tmp_path):
    steps, tasks = fast_rows["babyai"]
    cfg = ExperienceConfig(model={"hidden_size": 64, "num_layers": 2, "num_heads": 2, "vocab_size": 400,
                                  "max_positions": 1024}, history_window=2)
    spec = PromptSpec.from_config(cfg, get_spec("babyai"))
    ex = build_examples(steps, tasks, spec)
    train, val = ex[ex["split"] == "train"], ex[ex["split"] == "val"]
    model, tok = build_model(cfg.model, tmp_path / "cache", texts=[*train["prompt"], *train["completion"]],
                             seed=cfg.sft.seed, special_tokens=SPECIAL_TOKENS)
    assert all(len(tok(t, add_special_tokens=False)["input_ids"]) == 1 for t in SPECIAL_TOKENS)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    res = train_sft(model, tok, train, val, SFTParams(max_steps=25, batch_size=8, max_length=512, eval_every=0,
                                                      eval_examples=32, logging_steps=5), tmp_path / "scratch")
    assert res.steps == 25 and res.val_loss_after < 0.8 * res.val_loss_before
    assert res.train_loss_last < res.train_loss_first and res.train_tokens > 0
    assert any(not (p == before[n]).all() for n, p in model.named_parameters())
    prompts = val["prompt"].head(4).tolist()
    out = ExperienceModel(Generator(model, tok, max_new_tokens=48), spec).predict_prompts(prompts)
    save_model(model, tok, tmp_path / "saved")
    model2, tok2 = load_model("tiny", tmp_path / "saved", tmp_path / "cache")
    out2 = ExperienceModel(Generator(model2, tok2, max_new_tokens=48), spec).predict_prompts(prompts)
    assert [o.texts for o in out2] == [o.texts for o in out]


def test_length_grouped_batches_train_too(fast_rows, tmp_path):
    """`group_by_length` batches examples of similar length (less padding per CPU second); the model still learns."""
    steps, tasks = fast_rows["babyai"]
    cfg = ExperienceConfig(model={"hidden_size": 32, "num_layers": 1, "num_heads": 2, "vocab_size": 400,
                                  "max_positions": 1024})
    ex = build_examples(steps, tasks, PromptSpec.from_config(cfg, get_spec("babyai")))
    train, val = ex[ex["split"] == "train"], ex[ex["split"] == "val"]
    model, tok = build_model(cfg.model, tmp_path / "cache", texts=[*train["prompt"], *train["completion"]],
                             seed=0, special_tokens=SPECIAL_TOKENS)
    res = train_sft(model, tok, train, val, SFTParams(max_steps=20, batch_size=8, max_length=512, eval_every=0,
                                                      eval_examples=32, logging_steps=5, group_by_length=True),
                    tmp_path / "scratch")
    assert res.steps == 20 and res.val_loss_after < 0.85 * res.val_loss_before
