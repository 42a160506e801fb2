"""LoRA adapters (PEFT) on a causal LM: wrap for parameter-efficient training, merge back for saving/serving.

    model = apply_lora(model, r=8, alpha=16)        # base weights frozen, only lora_A / lora_B train
    ...train...
    model = merge_lora(model)                        # a plain model again (W + B A scaling folded in)

Default target modules: the attention projections present in the model (q/k/v/o_proj for Llama-family models,
or the fused projections of other architectures). Simplification: no bias training, no modules_to_save.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from peft import LoraConfig, PeftModel, get_peft_model
from transformers import PreTrainedModel

from dreamgym.errors import DreamGymError

#: attention projection names of common architectures (Llama/Mistral/Qwen, GPT-2, Falcon/Bloom, GPT-NeoX, Phi)
_ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "c_attn", "c_proj", "query_key_value", "dense",
                          "Wqkv", "out_proj")


def attention_modules(model: PreTrainedModel) -> list[str]:
    """Names (last path component) of the attention projection Linear layers found in `model`, sorted."""
    found: set[str] = set()
    for name, _ in model.named_modules():
        parts = name.split(".")
        if len(parts) >= 2 and parts[-1] in _ATTENTION_PROJECTIONS and any("attn" in p or "attention" in p
                                                                              for p in parts[:-1]):
            found.add(parts[-1])
    return sorted(found)


def apply_lora(model: PreTrainedModel, r: int = 8, alpha: int = 16, dropout: float = 0.0,
               target_modules: Sequence[str] | None = None) -> PeftModel:
    """Wrap `model` with LoRA adapters of rank `r` (scaling alpha / r) on `target_modules` (default: the attention
    projections). The base weights are frozen; the adapters start as a no-op (B = 0)."""
    if r < 1 or alpha <= 0 or not 0 <= dropout < 1:
        raise DreamGymError(f"apply_lora: need r >= 1, alpha > 0, 0 <= dropout < 1; got r={r}, alpha={alpha}, "
                            f"dropout={dropout}")
    if isinstance(model, PeftModel):
        raise DreamGymError("apply_lora: the model already has LoRA adapters (merge_lora it first)")
    targets = list(target_modules) if target_modules is not None else attention_modules(model)
    if not targets:
        raise DreamGymError(f"apply_lora: no attention projections found in {type(model).__name__}; pass "
                            f"target_modules")
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none",
                        task_type="CAUSAL_LM")
    try:
        with warnings.catch_warnings():  # peft 0.21 calls a transformers-5 deprecated property; not actionable here
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            return get_peft_model(model, config)
    except ValueError as e:
        raise DreamGymError(f"apply_lora: {str(e).splitlines()[0]}") from None


def merge_lora(model: PeftModel) -> PreTrainedModel:
    """Fold the adapters into the base weights and return the plain model (the PeftModel is consumed)."""
    if not isinstance(model, PeftModel):
        raise DreamGymError(f"merge_lora: expected a PeftModel (from apply_lora), got {type(model).__name__}")
    return model.merge_and_unload()
