"""Build, save and load a policy: the causal LM, its tokenizer, and the agent settings that shape its prompts.

    agent = make_agent(cfg.policy, cache_dir, texts=policy_texts(steps, tasks))   # fresh, per the config
    save_policy(agent, "artifacts/policy/myenv")               # plain HF directory (LoRA merged into a copy)
    agent = load_policy("artifacts/policy/myenv")              # a local directory ...
    agent = load_policy("models:/dreamgym-policy-myenv/3", tracking_uri=uri)   # ... or an MLflow model URI

The agent settings (mode, history window, prompt budget, reply budget, temperature, score norm) ride in the
model's config.json under `dreamgym_policy`, so a checkpoint acts the same way wherever it is loaded (the MLflow
copy included); what a checkpoint does not hold (batch size, seed, or a key an older checkpoint lacks) comes from
the policy config given to load_policy (PolicyConfig() when none), and explicit keyword arguments override both.
The model is built by dreamgym.models.build_model; an MLflow URI is read through dreamgym.tracking (this module
never imports mlflow).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dreamgym.errors import DreamGymError
from dreamgym.policy.agent import Agent, AgentSettings
from dreamgym.policy.config import PolicyConfig

SETTINGS_KEY = "dreamgym_policy"


def make_agent(cfg: PolicyConfig, cache_dir: Path, texts: Sequence[str] | None = None,
               kind: str | None = None) -> Agent:
    """A fresh Agent per `cfg` (model kind, shape, LoRA, acting settings); `texts` train a tiny model's tokenizer
    (see bc.policy_texts); `kind` overrides cfg.model.kind (e.g. a benchmark of both presets; cfg.model.path is
    then not used)."""
    from dreamgym.models import build_model

    m = cfg.model if kind in (None, cfg.model.kind) else cfg.model.model_copy(update={"kind": kind, "path": None})
    model, tok = build_model(m, cache_dir, texts=texts, seed=cfg.seed)
    return Agent(model, tok, AgentSettings.from_config(cfg))


def plain_model(agent: Agent):
    """The agent's model as a plain causal LM carrying the agent settings (LoRA merged into a copy)."""
    from dreamgym.models import merge_lora

    model = agent.model
    if hasattr(model, "peft_config"):
        model = merge_lora(copy.deepcopy(model))
    setattr(model.config, SETTINGS_KEY, agent.settings())
    return model


def save_policy(agent: Agent, out_dir: str | Path) -> Path:
    """Write the policy (model, tokenizer, agent settings) to `out_dir`."""
    from dreamgym.models import save_model

    return save_model(plain_model(agent), agent.tokenizer, out_dir)


def checkpoint_settings(stored: dict[str, Any], base: AgentSettings, overrides: dict[str, Any], src: str
                        ) -> AgentSettings:
    """The settings a loaded checkpoint acts with: `base` (from the config), then the checkpoint's `stored`
    settings, then the non-None `overrides`; an unknown name in either raises DreamGymError naming it."""
    accepted = AgentSettings.names()
    for what, given in ((f"config.json '{SETTINGS_KEY}' has", stored), ("load_policy was given", overrides)):
        unknown = sorted(set(given) - set(accepted))
        if unknown:
            raise DreamGymError(f"'{src}': {what} unknown setting(s) {unknown}; an Agent takes: {', '.join(accepted)}")
    return dataclasses.replace(base, **{**stored, **{k: v for k, v in overrides.items() if v is not None}})


def load_policy(source: str | Path, *, tracking_uri: str | None = None, cfg: PolicyConfig | None = None,
                **overrides: Any) -> Agent:
    """An Agent from a local directory written by save_policy, or an MLflow model URI (models:/…, runs:/…) of the
    store at `tracking_uri` (required for URIs: the project's store is not MLflow's default); settings the
    checkpoint lacks come from `cfg` (PolicyConfig() when None), keyword `overrides` win over both.

    A checkpoint that cannot act raises DreamGymError naming what is wrong: no model there, an empty, truncated
    or corrupt weights file, weights that do not fit its config.json (see models.loading), missing or unknown
    agent settings."""
    from dreamgym.models import load_checkpoint

    src = str(source)
    model, tok = load_checkpoint(src, tracking_uri, "load_policy")
    stored = dict(getattr(model.config, SETTINGS_KEY, None) or {})
    if not stored:
        raise DreamGymError(f"'{src}' is a causal LM without policy settings (config.json has no '{SETTINGS_KEY}'); "
                            f"save policies with dreamgym.policy.checkpoint.save_policy")
    acting = checkpoint_settings(stored, AgentSettings.from_config(cfg or PolicyConfig()), overrides, src)
    return Agent(model, tok, acting)
