"""The seed_buffer stage with a slow embedder, for the fault tests (not a test module).

    python _slow_stage.py [flows.buffer arguments]   # e.g. --preset tiny -S buffer.embedder=slow-hashing

Registers `slow-hashing` (the hashing embedder sleeping `delay` seconds per embed() call: a big model on a busy
machine) and runs `python -m flows.buffer`'s main() with the same arguments, so a test can kill `dvc repro`
while the stage is seeding.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import numpy as np

from dreamgym.buffer.embedders import HashingEmbedder, register_embedder


@register_embedder("slow-hashing")
class SlowHashingEmbedder(HashingEmbedder):
    """HashingEmbedder(dim, ngrams) that sleeps `delay` s per embed() call (the same vectors)."""

    def __init__(self, dim: int = 64, ngrams: int = 2, delay: float = 0.1):
        super().__init__(dim, ngrams)
        self.delay = float(delay)

    @property
    def signature(self) -> str:
        return f"slow-{super().signature}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(self.delay)
        return super().embed(texts)


if __name__ == "__main__":
    from flows.buffer import main

    sys.exit(main(sys.argv[1:]))
