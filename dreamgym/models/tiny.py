"""A tiny Llama causal LM built from scratch (random init) for tests, CI and CPU-budget experiments.

    tok = train_tokenizer(texts, vocab_size=2048, special_tokens=[...])
    model = build_tiny_model(tok, hidden_size=128, num_layers=4)     # ~1.3M params with vocab 2048

The vocabulary is `len(tokenizer)`; pad/eos/bos ids come from the tokenizer; input and output embeddings are
tied. Simplifications: plain multi-head attention (as many key/value heads as query heads), default RoPE, no
dropout. Initialisation is deterministic given `seed` and leaves the global torch RNG untouched.
"""

from __future__ import annotations

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from dreamgym.errors import DreamGymError


def build_tiny_model(tokenizer: PreTrainedTokenizerBase, hidden_size: int = 128, num_layers: int = 4,
                     num_heads: int = 4, intermediate_size: int | None = None, max_position_embeddings: int = 2048,
                     seed: int = 0) -> LlamaForCausalLM:
    """A randomly initialised LlamaForCausalLM sized for `tokenizer` (float32, returned in train mode).

    `intermediate_size` defaults to 4 * hidden_size. `hidden_size` must be divisible by `num_heads` with an even
    head dim (RoPE).
    """
    if hidden_size < 2 or num_layers < 1 or num_heads < 1 or max_position_embeddings < 2:
        raise DreamGymError(f"build_tiny_model: sizes must be positive (hidden_size={hidden_size}, "
                            f"num_layers={num_layers}, num_heads={num_heads}, "
                            f"max_position_embeddings={max_position_embeddings})")
    if hidden_size % num_heads or (hidden_size // num_heads) % 2:
        raise DreamGymError(f"build_tiny_model: hidden_size={hidden_size} must split into {num_heads} heads of "
                            f"an even size")
    if tokenizer.eos_token_id is None or tokenizer.pad_token_id is None:
        raise DreamGymError("build_tiny_model: the tokenizer needs pad and eos tokens (use train_tokenizer)")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 4 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        tie_word_embeddings=True,
        dtype="float32",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model
