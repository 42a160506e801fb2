"""build_model: one (model, tokenizer) per ModelConfig, the same as load_model with the config's shape, LoRA when
asked, saved weights by path."""

from __future__ import annotations

import pytest
import torch
from modelutil import CORPUS, TAGS

from dreamgym.config import ModelConfig
from dreamgym.errors import DreamGymError
from dreamgym.models import build_model, load_model, save_model

SHAPE = ModelConfig(hidden_size=32, num_layers=2, num_heads=2, vocab_size=350, max_positions=64)


def _same(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_tiny_equals_load_model_with_the_config_shape(tmp_path):
    model, tok = build_model(SHAPE, tmp_path, texts=CORPUS, seed=3, special_tokens=TAGS)
    ref, ref_tok = load_model("tiny", None, tmp_path, tokenizer_texts=CORPUS,
                              tiny_kwargs={"hidden_size": 32, "num_layers": 2, "num_heads": 2,
                                           "max_position_embeddings": 64, "seed": 3},
                              tokenizer_kwargs={"vocab_size": 350, "special_tokens": TAGS})
    assert tok.get_vocab() == ref_tok.get_vocab() and _same(model, ref)
    assert all(len(tok.encode(t, add_special_tokens=False)) == 1 for t in TAGS)
    assert model.config.num_hidden_layers == 2 and model.config.max_position_embeddings == 64
    assert tok.model_max_length == 64 and tok.padding_side == "left" and not model.training
    other, _ = build_model(SHAPE, tmp_path, texts=CORPUS, seed=4)
    assert not _same(model, other)  # the seed shapes the init; no special tokens: a different vocabulary
    with pytest.raises(DreamGymError, match="needs tokenizer_texts"):
        build_model(SHAPE, tmp_path)


def test_lora_when_asked_and_saved_weights_by_path(tmp_path):
    lora = SHAPE.model_copy(update={"lora": True, "lora_r": 4, "lora_alpha": 8})
    model, _ = build_model(lora, tmp_path, texts=CORPUS)
    assert hasattr(model, "peft_config") and model.peft_config["default"].r == 4
    assert {n for n, p in model.named_parameters() if p.requires_grad} and all(
        "lora_" in n for n, p in model.named_parameters() if p.requires_grad)
    plain, tok = build_model(SHAPE, tmp_path, texts=CORPUS)
    save_model(plain, tok, tmp_path / "saved")
    for kind in ("tiny", "hf"):
        again, _ = build_model(ModelConfig(kind=kind, path=str(tmp_path / "saved")), tmp_path, texts=["ignored"])
        assert _same(again, plain)
