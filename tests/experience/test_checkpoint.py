"""Experience-model checkpoints: a saved tiny model loads (from its directory and from its MLflow copy) with the
same prompt spec and generation settings and makes the same predictions; a directory without the settings, another
env or unknown settings are one clear error."""

from __future__ import annotations

import json

import pytest

from dreamgym.envs import get_spec
from dreamgym.errors import DreamGymError
from dreamgym.experience.checkpoint import (
    SETTINGS_KEY,
    attach_settings,
    load_experience_model,
    save_experience_model,
)
from dreamgym.experience.config import ExperienceConfig
from dreamgym.experience.prompt import PromptSpec
from dreamgym.experience.synthetic import ExperienceModel, Query
from dreamgym.models import Generator, load_model, save_model

QUERIES = [Query("pick up the red ball", [], "red ball 1: 1 ahead; carrying nothing", "pick up red ball 1"),
           Query("pick up the red ball", [("red ball 1: 2 ahead", "move forward")], "red ball 1: 1 ahead",
                 "turn left")]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny experience model with non-default prompt and generation settings, and the directory it was saved to."""
    tmp = tmp_path_factory.mktemp("xm")
    texts = [q.state + " " + q.action for q in QUERIES] * 20
    model, tok = load_model("tiny", None, tmp / "cache", tokenizer_texts=texts,
                            tiny_kwargs={"hidden_size": 32, "num_layers": 1, "num_heads": 2,
                                         "max_position_embeddings": 512, "seed": 0},
                            tokenizer_kwargs={"vocab_size": 300})
    spec = PromptSpec(get_spec("babyai"), history_window=1, k=0, budget=1500, state_budget=300, with_reasoning=False,
                      max_steps=20, target_order="decisions_first")
    xm = ExperienceModel(Generator(model, tok, max_new_tokens=12, batch_size=3, max_prompt_tokens=200, temperature=0.3), spec)
    return xm, save_experience_model(xm, tmp / "model")


def _texts(xm, greedy_only=True):
    """The model's outputs for QUERIES: the greedy ones (the sampled retries depend on the generator's call count)."""
    return [o.texts[:1] if greedy_only else o.texts for o in xm.predict(QUERIES)]


def test_a_saved_model_loads_with_the_same_spec_and_predictions(saved):
    xm, d = saved
    back = load_experience_model(d, env="babyai")
    assert back.spec == xm.spec and back.spec.stop == "</next>"
    g = back.generator
    assert (g.max_new_tokens, g.batch_size, g.max_prompt_tokens, g.temperature) == (12, 3, 200, 0.3)
    assert back.version == str(d) and back.env == "babyai"
    assert _texts(back) == _texts(xm)


def test_the_mlflow_copy_carries_the_settings(saved, tmp_path):
    from dreamgym.tracking import MlflowTracker

    xm, d = saved
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = MlflowTracker(uri, "xm-test", artifact_location=str(tmp_path / "artifacts"))
    with tracker.run("experience"):
        version = tracker.log_model(attach_settings(xm.generator.model, xm), xm.generator.tokenizer, "model",
                                    "dreamgym-experience-babyai")
    back = load_experience_model(f"models:/dreamgym-experience-babyai/{version}", tracking_uri=uri, env="babyai")
    assert back.spec == xm.spec and back.generator.max_new_tokens == 12
    assert _texts(back, greedy_only=False) == _texts(load_experience_model(d), greedy_only=False)  # retries too
    with pytest.raises(DreamGymError, match="needs tracking_uri"):
        load_experience_model("models:/dreamgym-experience-babyai/1")


def _edit(d, tmp_path, change):
    import shutil

    out = tmp_path / "edited"
    shutil.copytree(d, out)
    cfg = json.loads((out / "config.json").read_text())
    change(cfg[SETTINGS_KEY])
    (out / "config.json").write_text(json.dumps(cfg))
    return out


def test_missing_settings_come_from_the_config_or_are_an_error(saved, tmp_path):
    _, d = saved
    old = _edit(d, tmp_path, lambda s: [s.pop(k) for k in ("max_new_tokens", "history_window")])
    with pytest.raises(DreamGymError, match=r"lacks \['max_new_tokens'\]; pass cfg="):
        load_experience_model(old)
    back = load_experience_model(old, cfg=ExperienceConfig(max_new_tokens=9, history_window=3))
    assert back.generator.max_new_tokens == 9 and back.spec.history_window == 3 and back.spec.budget == 1500
    assert load_experience_model(d, cfg=ExperienceConfig()).spec.prompt_end == "\n"  # as saved
    # a checkpoint from before prompt_end was trained on prompts ending at </act>: the config does not change that
    older = _edit(d, tmp_path / "older", lambda s: s.pop("prompt_end"))
    assert load_experience_model(older, cfg=ExperienceConfig()).spec.prompt_end == ""


def test_bad_checkpoints_are_one_clear_error(saved, tmp_path):
    xm, d = saved
    with pytest.raises(DreamGymError, match="is the experience model of env 'babyai', not 'textcraft'"):
        load_experience_model(d, env="textcraft")
    plain = save_model(load_model("hf", d, d)[0], xm.generator.tokenizer, tmp_path / "plain")
    cfg = json.loads((plain / "config.json").read_text())
    del cfg[SETTINGS_KEY]
    (plain / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(DreamGymError, match="without experience-model settings .*save_experience_model"):
        load_experience_model(plain)
    with pytest.raises(DreamGymError, match=r"unknown setting\(s\) \['top_k'\]"):
        load_experience_model(_edit(d, tmp_path, lambda s: s.update(top_k=5)))
