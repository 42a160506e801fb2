"""Embedder registry, the hashing embedder's determinism and norms, and MiniLM loading offline."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from dreamgym.buffer import Embedder, embedder_names, embedders, make_embedder, register_embedder, transition_text
from dreamgym.errors import DreamGymError, UnknownNameError


def test_registry_names_and_unknown_name():
    assert {"hashing", "minilm"} <= set(embedder_names())
    with pytest.raises(UnknownNameError, match="available: .*hashing.*minilm"):
        make_embedder("nope")
    with pytest.raises(DreamGymError, match="bad kwargs"):
        make_embedder("hashing", bogus=1)


def test_register_plugin_embedder(monkeypatch):
    monkeypatch.setattr(embedders.EMBEDDERS, "_items", dict(embedders.EMBEDDERS._items))  # keep the plug-in out of other tests

    @register_embedder("ones-test")
    class Ones(Embedder):
        dim = 3

        def embed(self, texts):
            return np.full((len(texts), 3), 1 / np.sqrt(3), dtype=np.float32)

    e = make_embedder("ones-test")
    assert e.name == "ones-test" and e.embed(["a"]).shape == (1, 3)


def test_transition_text_puts_action_first():
    assert transition_text(" you see a door ", "open door") == "action: open door\nstate: you see a door"


def test_hashing_unit_float32_deterministic_across_processes():
    e = make_embedder("hashing", dim=128)
    texts = ["go north", "", "take apple from table", "Go   NORTH!"]
    v = e.embed(texts)
    assert v.shape == (4, 128) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(v[0], v[3])  # case and punctuation do not matter
    code = ("import numpy as np, sys; from dreamgym.buffer import make_embedder; "
            "sys.stdout.write(make_embedder('hashing', dim=128).embed(['take apple from table'])[0].tobytes().hex())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout
    np.testing.assert_array_equal(np.frombuffer(bytes.fromhex(out), dtype=np.float32), v[2])


def test_hashing_similarity_orders_by_overlap():
    e = make_embedder("hashing", dim=512)
    q, near, far = e.embed(["open the red door", "open the red door now", "craft a stone pickaxe"])
    assert q @ near > 0.7 > 0.3 > q @ far


def test_minilm_offline_384_unit_and_paraphrase_neighbour():
    e = make_embedder("minilm", batch_size=8)
    corpus = ["pick up the red ball", "open the wooden door", "craft a stone pickaxe"]
    v = e.embed(corpus)
    q = e.embed(["grab the red ball"])
    assert v.shape == (3, 384) and v.dtype == np.float32 and e.dim == 384
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert int(np.argmax(v @ q[0])) == 0
