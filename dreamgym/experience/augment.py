"""Symmetry augmentation of experience-model training examples: the same dynamics under renamed symbols.

    train = augment_examples(train, "babyai", copies=1, seed=0)   # the originals + one recoloured copy each

BabyAI's dynamics do not depend on colour names (a key opens the door of its own colour, a task names the
colour it wants: a consistent renaming keeps both). A copy of an example with the six colours permuted (one
permutation per copy, applied to prompt, target and the kept state columns alike) is another valid
transition. A small model otherwise learns that frequent colours are likely and writes "grey door" where the
context says "purple door"; recoloured copies make copying the context the only way to fit them.
Envs without a registered augmenter are returned unchanged.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import pandas as pd

from dreamgym.experience.examples import BABYAI_COLORS
from dreamgym.registry import Registry

AUGMENTERS = Registry("example augmenter")
#: decorator: `@register_augmenter("myenv")` on `fn(rng) -> (text -> text)`: one consistent renaming per call
register_augmenter = AUGMENTERS.register

#: the columns a renaming applies to (text the model sees or is scored on)
TEXT_COLUMNS = ("prompt", "completion", "state", "action", "next_state", "reasoning")

_BA_COLOR = re.compile(r"\b(" + "|".join(BABYAI_COLORS) + r")\b")


@register_augmenter("babyai")
def babyai_recolour(rng: random.Random) -> Callable[[str], str]:
    """A random permutation of BabyAI's six colours, as a text -> text function."""
    perm = list(BABYAI_COLORS)
    rng.shuffle(perm)
    mapping = dict(zip(BABYAI_COLORS, perm, strict=True))
    return lambda text: _BA_COLOR.sub(lambda m: mapping[m.group(1)], text)


def augment_examples(examples: pd.DataFrame, env: str, copies: int, seed: int = 0) -> pd.DataFrame:
    """`examples` followed by `copies` renamed copies of each row (one random renaming per copy and row).

    Shape: (n, columns) -> (n * (1 + copies), columns) for an env with an augmenter, else `examples` as is.
    Only the TEXT_COLUMNS change; labels (valid, reward, done, determined, split, ids) are kept.
    """
    if copies <= 0 or env not in AUGMENTERS.names() or len(examples) == 0:
        return examples
    make = AUGMENTERS.get(env)
    rng = random.Random(seed)
    cols = [c for c in TEXT_COLUMNS if c in examples.columns]
    out = [examples]
    for _ in range(copies):
        rows = examples.copy()
        fns = [make(rng) for _ in range(len(rows))]
        for c in cols:
            rows[c] = [f(str(v)) for f, v in zip(fns, rows[c], strict=True)]
        out.append(rows)
    return pd.concat(out, ignore_index=True)
