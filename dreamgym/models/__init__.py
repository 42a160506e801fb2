"""Models: tokenizer training, tiny Llama models, loading by kind (tiny / smollm2 / hf), one builder per
ModelConfig, LoRA, SFT with TRL, the one generation engine (`Generator`) used by the experience model and the
policy, and the log-prob / shared-prefix scoring the policy acts and trains with (`dreamgym.models.scoring`).

    model, tok = build_model(cfg.policy.model, cache_dir, texts=texts, seed=cfg.policy.seed)
    model, tok = load_model("tiny", None, cache_dir, tokenizer_texts=texts, tiny_kwargs={"hidden_size": 64})
    gen = Generator(model, tok, max_new_tokens=64, stop_strings=["</next>"])
    gen.generate(["..."])[0].text

Names resolve lazily (PEP 562), so `import dreamgym.models` stays cheap until a name is used: torch,
transformers' model code and peft load only when needed. See each module's docstring for details.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dreamgym.models.build import build_model
    from dreamgym.models.generation import Generation, Generator
    from dreamgym.models.loading import (
        MODEL_KINDS,
        SMOLLM2_REQUIREMENT,
        load_checkpoint,
        load_model,
        model_kind_names,
        prepare,
        register_model_kind,
        save_model,
        smollm2_dir,
    )
    from dreamgym.models.lora import apply_lora, attention_modules, merge_lora
    from dreamgym.models.sft import SFTResult, train_sft
    from dreamgym.models.tiny import build_tiny_model
    from dreamgym.models.tokenizer import train_tokenizer

_WHERE = {
    "build_model": "build",
    "Generation": "generation", "Generator": "generation",
    "MODEL_KINDS": "loading", "SMOLLM2_REQUIREMENT": "loading", "load_model": "loading",
    "load_checkpoint": "loading",
    "model_kind_names": "loading", "register_model_kind": "loading", "save_model": "loading",
    "smollm2_dir": "loading", "prepare": "loading",
    "SFTResult": "sft", "train_sft": "sft",
    "apply_lora": "lora", "attention_modules": "lora", "merge_lora": "lora",
    "build_tiny_model": "tiny",
    "train_tokenizer": "tokenizer",
}

__all__ = [
    "MODEL_KINDS",
    "SMOLLM2_REQUIREMENT",
    "Generation",
    "Generator",
    "SFTResult",
    "apply_lora",
    "attention_modules",
    "build_model",
    "build_tiny_model",
    "load_checkpoint",
    "load_model",
    "merge_lora",
    "model_kind_names",
    "prepare",
    "register_model_kind",
    "save_model",
    "smollm2_dir",
    "train_sft",
    "train_tokenizer",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'dreamgym.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"dreamgym.models.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
