"""LoRA: only adapters train, the base stays frozen, merging folds the adapters in, generation works on both."""

from __future__ import annotations

import pytest
import torch
from modelutil import tiny_model

from dreamgym.errors import DreamGymError
from dreamgym.models import Generator, apply_lora, attention_modules, load_model, merge_lora, save_model


def _train_steps(model, ids, steps: int = 2):
    """Adam steps on the LM loss (two: B starts at 0, so A only gets a gradient from the second step on)."""
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()


def test_lora_trains_adapters_only_and_merges(tok, tmp_path):
    base = tiny_model(tok)
    assert attention_modules(base) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    before = {k: v.clone() for k, v in base.state_dict().items()}
    text = "<think>open the fridge</think><next>an apple</next>"
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        logits_before = base(input_ids=ids).logits
    model = apply_lora(base, r=4, alpha=8)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_A" in n or "lora_B" in n for n in trainable)
    assert {n.split(".")[-4] for n in trainable} == {"q_proj", "k_proj", "v_proj", "o_proj"}
    lora_before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    model.train()
    _train_steps(model, ids)
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert not torch.equal(p, lora_before[name]), name  # adapters moved
        else:
            key = name.removeprefix("base_model.model.").replace(".base_layer", "")
            assert torch.equal(p, before[key]), name  # base frozen
    model.eval()
    with torch.no_grad():
        logits_lora = model(input_ids=ids).logits
    assert not torch.allclose(logits_lora, logits_before)
    out = Generator(model, tok, max_new_tokens=4).generate(["go"])[0]  # the engine drives a PeftModel too
    merged = merge_lora(model)
    assert type(merged).__name__ == "LlamaForCausalLM" and not any("lora" in n for n, _ in merged.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=ids).logits, logits_lora, atol=1e-5, rtol=1e-4)
    assert Generator(merged, tok, max_new_tokens=4).generate(["go"])[0].token_ids == out.token_ids
    reloaded, _ = load_model("hf", save_model(merged, tok, tmp_path / "merged"), tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, logits_lora, atol=1e-5, rtol=1e-4)


def test_lora_options_and_errors(tok):
    model = apply_lora(tiny_model(tok), r=2, target_modules=["q_proj", "v_proj"], dropout=0.1)
    names = {n.split(".")[-4] for n, p in model.named_parameters() if p.requires_grad}
    assert names == {"q_proj", "v_proj"}
    with pytest.raises(DreamGymError, match="already has LoRA"):
        apply_lora(model)
    with pytest.raises(DreamGymError, match="r >= 1"):
        apply_lora(tiny_model(tok), r=0)
    with pytest.raises(DreamGymError, match="expected a PeftModel"):
        merge_lora(tiny_model(tok))
    with pytest.raises(DreamGymError, match="apply_lora"):
        apply_lora(tiny_model(tok), target_modules=["no_such_proj"])
