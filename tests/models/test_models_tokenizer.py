"""train_tokenizer: exact round-trips (unicode too), single-id markup tags, determinism, save/load."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelutil import CORPUS, TAGS
from transformers import AutoTokenizer

from dreamgym.errors import DreamGymError
from dreamgym.models import train_tokenizer


def _decode(tok, ids):
    return tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=30), st.sampled_from(TAGS)), max_size=6).map("".join))
def test_round_trips_any_text(tok, text):
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert _decode(tok, ids) == text
    if not any(s in text for s in ("<pad>", "</s>", "<s>")):  # those literals encode to the special ids
        assert tok.decode(ids, skip_special_tokens=True) == text  # markup tags are content, not skipped


def test_fixed_unicode_and_whitespace_round_trip(tok):
    texts = ["", " ", "  two  spaces\n\n\ttab", "emoji 😀👍🏽 and 中文 and ünïcødé", "\x00\x7f\u200b", "<think"]
    for text in texts:
        assert _decode(tok, tok(text, add_special_tokens=False)["input_ids"]) == text


def test_special_tokens_are_single_ids(tok):
    assert (tok.pad_token, tok.eos_token, tok.bos_token) == ("<pad>", "</s>", "<s>")
    assert (tok.pad_token_id, tok.eos_token_id, tok.bos_token_id) == (0, 1, 2)
    ids = [tok.convert_tokens_to_ids(t) for t in TAGS]
    assert len(set(ids)) == len(TAGS) and ids == list(range(len(tok) - len(TAGS), len(tok)))
    for tag, i in zip(TAGS, ids, strict=True):
        assert tok(tag, add_special_tokens=False)["input_ids"] == [i]
        assert i in tok(f"x{tag}y z", add_special_tokens=False)["input_ids"]
    assert tok("hi", add_special_tokens=True)["input_ids"] == tok("hi", add_special_tokens=False)["input_ids"]
    assert tok("done</s>", add_special_tokens=False)["input_ids"][-1] == tok.eos_token_id  # as TRL appends eos
    assert len(tok) <= 400 and tok.padding_side == "left"


def test_left_padding(tok):
    batch = tok(["a b c d", "a"], padding=True, add_special_tokens=False)
    assert batch["input_ids"][1][0] == tok.pad_token_id and batch["attention_mask"][1][0] == 0
    assert batch["attention_mask"][1][-1] == 1


def _digest(tok) -> str:
    """Hash of what tokenization depends on (vocab, merges, added tokens), not of transient padding state."""
    spec = json.loads(tok.backend_tokenizer.to_str())
    return hashlib.sha256(json.dumps([spec["model"], spec["added_tokens"]], sort_keys=True).encode()).hexdigest()


_CHILD = """
import hashlib, json, sys
from dreamgym.models.tokenizer import train_tokenizer
corpus, tags = json.loads(sys.stdin.read())
spec = json.loads(train_tokenizer(corpus, vocab_size=400, special_tokens=tags, model_max_length=128)
                  .backend_tokenizer.to_str())
sys.stdout.write(hashlib.sha256(json.dumps([spec["model"], spec["added_tokens"]], sort_keys=True).encode()).hexdigest())
"""


def test_deterministic_in_process_and_across_processes(tok):
    again = train_tokenizer(CORPUS, vocab_size=400, special_tokens=TAGS, model_max_length=128)
    assert _digest(again) == _digest(tok)
    out = subprocess.run([sys.executable, "-c", _CHILD], input=json.dumps([CORPUS, TAGS]), capture_output=True,
                         text=True, check=True)  # another process: another hash seed for Rust's hash maps
    assert out.stdout == _digest(tok)


def test_save_and_load(tok, tmp_path):
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    text = "<think>open the fridge</think><next>ünï 😀</next>"
    assert loaded(text)["input_ids"] == tok(text, add_special_tokens=False)["input_ids"]
    assert (loaded.pad_token_id, loaded.eos_token_id, loaded.bos_token_id, loaded.padding_side) == (0, 1, 2, "left")
    assert len(loaded) == len(tok)
    assert loaded.decode(loaded(text)["input_ids"], skip_special_tokens=True) == text


def test_bad_arguments():
    with pytest.raises(DreamGymError, match="vocab_size=100 is below the minimum"):
        train_tokenizer(["abc"], vocab_size=100)
    with pytest.raises(DreamGymError, match="special_tokens"):
        train_tokenizer(["abc"], vocab_size=300, special_tokens=["</s>"])
    small = train_tokenizer(["abc abc"], vocab_size=300, special_tokens=["<a>", "<a>"])  # duplicates collapse
    assert small.convert_tokens_to_ids("<a>") == len(small) - 1
