"""Fixtures of the model tests: one tiny tokenizer, a random tiny model and a memorising model per session."""

from __future__ import annotations

import pytest
from modelutil import memorising_model, tiny_model, tiny_tokenizer


@pytest.fixture(scope="session")
def tok():
    return tiny_tokenizer()


@pytest.fixture(scope="session")
def model(tok):
    """Random tiny Llama (hidden 32, 2 layers); tests must not train it (use tiny_model() for a private one)."""
    return tiny_model(tok).eval()


@pytest.fixture(scope="session")
def reciter(tok):
    """A tiny model that greedily recites modelutil.RECITED, then eos."""
    return memorising_model(tok)
