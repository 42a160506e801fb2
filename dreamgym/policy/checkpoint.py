"""Build, save and load a policy: the causal LM, its tokenizer, and the agent settings that shape its prompts.

    agent = make_agent(cfg.policy, cache_dir, texts=policy_texts(steps, tasks))   # fresh, per the config
    save_policy(agent, "artifacts/policy/babyai")               # plain HF directory (LoRA merged into a copy)
    agent = load_policy("artifacts/policy/babyai")              # a local directory ...
    agent = load_policy("models:/dreamgym-policy-babyai/3")     # ... or an MLflow model URI (models:/, runs:/)

The agent settings (mode, history window, prompt budget, reply budget, temperature) ride in the model's
config.json under `dreamgym_policy`, so a checkpoint acts the same way wherever it is loaded (the MLflow copy
included); explicit keyword arguments to load_policy override them.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dreamgym.config import PolicyConfig
from dreamgym.errors import DreamGymError
from dreamgym.policy.agent import Agent

SETTINGS_KEY = "dreamgym_policy"


def make_agent(cfg: PolicyConfig, cache_dir: Path, texts: Sequence[str] | None = None, kind: str | None = None) -> Agent:
    """A fresh Agent per `cfg` (model kind, shape, LoRA, acting settings); `texts` train a tiny model's tokenizer
    (see bc.policy_texts); `kind` overrides cfg.model.kind (e.g. a benchmark of both presets)."""
    from dreamgym.models import apply_lora, load_model

    m = cfg.model
    kind = kind or m.kind
    model, tok = load_model(kind, m.path if kind == m.kind else None, Path(cache_dir),
                            tokenizer_texts=list(texts) if kind == "tiny" and texts is not None else None,
                            tiny_kwargs={"hidden_size": m.hidden_size, "num_layers": m.num_layers,
                                         "num_heads": m.num_heads, "max_position_embeddings": m.max_positions,
                                         "seed": cfg.seed},
                            tokenizer_kwargs={"vocab_size": m.vocab_size})
    if m.lora:
        model = apply_lora(model, r=m.lora_r, alpha=m.lora_alpha)
    return Agent(model, tok, mode=cfg.mode, history_window=cfg.history_window, prompt_budget=cfg.prompt_budget,
                 max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, score_norm=cfg.score_norm,
                 batch_size=cfg.batch_size, seed=cfg.seed)


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


def load_policy(source: str | Path, *, tracking_uri: str | None = None, **overrides: Any) -> Agent:
    """An Agent from a local directory written by save_policy, or an MLflow model URI (models:/…, runs:/…) of the
    store at `tracking_uri` (required for URIs: the project's store is not MLflow's default).

    A checkpoint that cannot act raises DreamGymError naming what is wrong: no model there, an empty, truncated
    or corrupt weights file, weights that do not fit its config.json (see models.loading), missing or unknown
    agent settings."""
    src = str(source)
    if "://" in src or src.startswith(("models:/", "runs:/")):
        if not tracking_uri:
            raise DreamGymError(f"load_policy('{src}'): an MLflow model URI needs tracking_uri (the store it lives in)")
        try:
            import mlflow.transformers

            mlflow.set_tracking_uri(tracking_uri)
            parts = mlflow.transformers.load_model(src, return_type="components")
        except Exception as e:  # mlflow raises its own exception types for bad URIs / missing models
            raise DreamGymError(f"cannot load the policy model '{src}' from MLflow: {str(e).splitlines()[0]}") from e
        from dreamgym.models.loading import prepare

        model, tok = prepare(parts["model"], parts["tokenizer"])
    else:
        from dreamgym.models import load_model

        model, tok = load_model("hf", src, Path(src))
    settings = dict(getattr(model.config, SETTINGS_KEY, None) or {})
    if not settings:
        raise DreamGymError(f"'{src}' is a causal LM without policy settings (config.json has no '{SETTINGS_KEY}'); "
                            f"save policies with dreamgym.policy.checkpoint.save_policy")
    accepted = set(inspect.signature(Agent.__init__).parameters) - {"self", "model", "tokenizer"}
    unknown = sorted(set(settings) - accepted)
    if unknown:
        raise DreamGymError(f"'{src}': config.json '{SETTINGS_KEY}' has unknown setting(s) {unknown}; an Agent takes: "
                            f"{', '.join(sorted(accepted))}")
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return Agent(model, tok, **settings)
