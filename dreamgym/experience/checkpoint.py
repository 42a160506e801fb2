"""Save and load an experience model: the causal LM, its tokenizer, and the settings that shape its prompts and
its generation, so a checkpoint synthesizes the same way wherever it is loaded.

    save_experience_model(xm, "artifacts/experience/models/myenv")      # model (LoRA merged), tokenizer, settings
    save_experience_model(xm, out_dir, model=merged)                   # the same weights as another object
    xm = load_experience_model("artifacts/experience/models/myenv")    # a local directory ...
    xm = load_experience_model("models:/dreamgym-experience-myenv/2", tracking_uri=uri, env="myenv")  # ... or MLflow

The settings ride in the model's config.json under `dreamgym_experience`: the PromptSpec's (PromptSpec.to_dict():
the env name, history window, retrieval depth, budgets, reasoning, step limit, target order) and the generation's
(max_new_tokens, gen_batch_size, max_prompt_tokens, temperature). `attach_settings` writes them onto a model's config, so the
copy an MLflow run logs carries them too. On load, what a checkpoint lacks (an older one) comes from the
ExperienceConfig given (none: it must hold everything), except the prompt's end: a checkpoint without
`prompt_end` prompts as it was trained, ending at `</act>`; and `env` (a name) must match the checkpoint's env. An
MLflow URI is read through dreamgym.tracking (this module never imports mlflow).

Simplification: the retriever is not part of a checkpoint (it is a buffer snapshot): pass one for a spec with k > 0.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from dreamgym.errors import DreamGymError
from dreamgym.experience.config import ExperienceConfig
from dreamgym.experience.prompt import PromptSpec
from dreamgym.experience.retrieval import Retriever
from dreamgym.experience.synthetic import ExperienceModel

SETTINGS_KEY = "dreamgym_experience"
#: the generation settings a checkpoint carries beside PromptSpec.to_dict()
GENERATION = ("max_new_tokens", "gen_batch_size", "max_prompt_tokens", "temperature")


def experience_settings(xm: ExperienceModel) -> dict[str, Any]:
    """The settings of an experience model as plain JSON values: its PromptSpec.to_dict() and GENERATION."""
    g = xm.generator
    return {**xm.spec.to_dict(), "max_new_tokens": int(g.max_new_tokens), "gen_batch_size": int(g.batch_size),
            "max_prompt_tokens": int(g.max_prompt_tokens), "temperature": float(g.temperature)}


def attach_settings(model, xm: ExperienceModel):
    """`model` (a plain causal LM with xm's weights) with xm's settings on its config (what save and log write)."""
    setattr(model.config, SETTINGS_KEY, experience_settings(xm))
    return model


def save_experience_model(xm: ExperienceModel, out_dir: str | Path, *, model=None) -> Path:
    """Write the experience model (its generator's model, or `model` holding the same weights; LoRA merged into a
    copy), its tokenizer and its settings to `out_dir`."""
    from dreamgym.models import merge_lora, save_model

    model = xm.generator.model if model is None else model
    if hasattr(model, "peft_config"):
        model = merge_lora(copy.deepcopy(model))
    return save_model(attach_settings(model, xm), xm.generator.tokenizer, out_dir)


def checkpoint_spec(stored: dict[str, Any], src: str, *, cfg: ExperienceConfig | None = None,
                    env: str | None = None) -> tuple[PromptSpec, dict[str, float]]:
    """The PromptSpec and generation settings of a checkpoint's `stored` settings, the gaps filled from `cfg`;
    DreamGymError naming `src` for unknown keys, another env than `env`, or a setting neither holds."""
    from dreamgym.envs.registry import get_spec

    known = {"env", *PromptSpec.SETTINGS, *GENERATION}
    unknown = sorted(set(stored) - known)
    if unknown:
        raise DreamGymError(f"'{src}': config.json '{SETTINGS_KEY}' has unknown setting(s) {unknown}; known: "
                            f"{', '.join(sorted(known))}")
    name = stored.get("env", env)
    if name is None:
        raise DreamGymError(f"'{src}': config.json '{SETTINGS_KEY}' names no env; pass env= to load it")
    if env is not None and name != env:
        raise DreamGymError(f"'{src}' is the experience model of env '{name}', not '{env}'")
    spec_env = get_spec(name)
    base: dict[str, Any] = {}
    if cfg is not None:
        # prompt_end is not the config's: a checkpoint without it prompts as it was trained (PromptSpec.from_dict)
        spec = {k: v for k, v in PromptSpec.from_config(cfg, spec_env).to_dict().items() if k != "prompt_end"}
        base = {**spec, "max_new_tokens": cfg.max_new_tokens,
                "gen_batch_size": cfg.gen_batch_size, "max_prompt_tokens": cfg.sft.max_length,
                "temperature": cfg.temperature}
    merged = {"temperature": 0.0, **base, **stored, "env": name}  # a checkpoint before temperature was greedy
    missing = [k for k in GENERATION if k not in merged]
    if missing:
        raise DreamGymError(f"'{src}': config.json '{SETTINGS_KEY}' lacks {missing}; pass cfg= (an ExperienceConfig) "
                            f"to fill them")
    spec = PromptSpec.from_dict({k: v for k, v in merged.items() if k not in GENERATION}, spec_env)
    return spec, {k: float(merged[k]) if k == "temperature" else int(merged[k]) for k in GENERATION}


def load_experience_model(source: str | Path, *, tracking_uri: str | None = None, cfg: ExperienceConfig | None = None,
                          env: str | None = None, retriever: Retriever | None = None,
                          version: str | None = None) -> ExperienceModel:
    """An ExperienceModel from a directory written by save_experience_model or an MLflow model URI (models:/…,
    runs:/…) of the store at `tracking_uri`; see the module docstring. `retriever`: the retrieval a spec with
    k > 0 reads (see experience.retrieval); `version`: the model version synthetic Steps carry (default: source).
    A directory without the settings (e.g. a policy) raises DreamGymError saying so."""
    from dreamgym.models import Generator, load_checkpoint

    src = str(source)
    model, tok = load_checkpoint(src, tracking_uri, "load_experience_model")
    stored = dict(getattr(model.config, SETTINGS_KEY, None) or {})
    if not stored:
        raise DreamGymError(f"'{src}' is a causal LM without experience-model settings (config.json has no "
                            f"'{SETTINGS_KEY}'); save experience models with "
                            f"dreamgym.experience.checkpoint.save_experience_model")
    spec, gen = checkpoint_spec(stored, src, cfg=cfg, env=env)
    generator = Generator(model, tok, max_new_tokens=gen["max_new_tokens"], batch_size=gen["gen_batch_size"],
                          max_prompt_tokens=gen["max_prompt_tokens"], temperature=gen["temperature"])
    return ExperienceModel(generator, spec, retriever=retriever, version=version or src)
