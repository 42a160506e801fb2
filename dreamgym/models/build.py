"""One (model, tokenizer) per a `ModelConfig`: the experience model and the policy are built the same way.

    model, tok = build_model(cfg.experience.model, cache_dir, texts=train_texts, seed=cfg.experience.sft.seed,
                             special_tokens=SPECIAL_TOKENS)
    model, tok = build_model(cfg.policy.model, cache_dir, texts=policy_texts(steps, tasks), seed=cfg.policy.seed)

Kinds (load_model): tiny with `cfg.path` None builds a random tiny Llama of the configured shape (seeded by
`seed`) with a BPE tokenizer of `cfg.vocab_size` trained on `texts` (`special_tokens` become single ids); tiny
with a path, smollm2 and hf load saved weights (`texts`, `seed` and `special_tokens` are then unused: a
pretrained tokenizer keeps its vocabulary). LoRA adapters (rank `lora_r`, alpha `lora_alpha`) wrap the model
when `cfg.lora`.

Simplification: float32 weights only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dreamgym.models.config import ModelConfig


def build_model(cfg: ModelConfig, cache_dir: Path, *, texts: Sequence[str] | None = None, seed: int = 0,
                special_tokens: Sequence[str] = ()):
    """(model, tokenizer) per `cfg.kind` and shape, LoRA applied when `cfg.lora` (see the module docstring);
    `cache_dir` holds converted weights (smollm2), `texts` train a fresh tiny model's tokenizer."""
    from dreamgym.models.loading import load_model
    from dreamgym.models.lora import apply_lora

    tiny = {"hidden_size": cfg.hidden_size, "num_layers": cfg.num_layers, "num_heads": cfg.num_heads,
            "max_position_embeddings": cfg.max_positions, "seed": seed}
    model, tok = load_model(cfg.kind, cfg.path, Path(cache_dir),
                            tokenizer_texts=list(texts) if cfg.kind == "tiny" and texts is not None else None,
                            tiny_kwargs=tiny, tokenizer_kwargs={"vocab_size": cfg.vocab_size,
                                                                "special_tokens": list(special_tokens)})
    if cfg.lora:
        model = apply_lora(model, r=cfg.lora_r, alpha=cfg.lora_alpha)
    return model, tok
