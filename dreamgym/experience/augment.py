"""Symmetry augmentation of experience-model training examples: the same dynamics under renamed symbols.

    train = augment_examples(train, get_spec("myenv"), copies=1, seed=0)   # the originals + one renamed copy each
    renamed_by(get_spec("myenv"))("purple")                                # True if its renaming changes "purple"

An env whose dynamics are symmetric under a renaming (BabyAI's colours: a key opens the door of its own colour,
a task names the colour it wants, so a consistent permutation keeps both) gives its EnvSpec an `augment(rng)`
returning one consistent renaming `text -> text`. A copy of an example with it applied (to prompt, target and
the kept state columns alike) is another valid transition. A small model otherwise learns that frequent symbols
are likely and writes what it saw most where the context says otherwise; renamed copies make copying the
context the only way to fit them. Envs without an augmenter are returned unchanged.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pandas as pd

from dreamgym.envs.base import EnvSpec

#: the columns a renaming applies to (text the model sees or is scored on)
TEXT_COLUMNS = ("prompt", "completion", "state", "action", "next_state", "reasoning")


def renamed_by(env: EnvSpec, draws: int = 16, seed: int = 0) -> Callable[[str], bool] | None:
    """Whether a word is a symbol `env`'s augmenter renames (any of `draws` seeded renamings changes it: BabyAI's
    colour names), as a predicate; None for an env without an augmenter. fidelity.symbol_hits scores copying on
    those."""
    if env.augment is None:
        return None
    rng = random.Random(seed)
    fns = [env.augment(rng) for _ in range(draws)]
    return lambda word: bool(word) and any(f(word) != word for f in fns)


def augment_examples(examples: pd.DataFrame, env: EnvSpec, copies: int, seed: int = 0) -> pd.DataFrame:
    """`examples` followed by `copies` renamed copies of each row (one random renaming per copy and row).

    Shape: (n, columns) -> (n * (1 + copies), columns) for an env with an augmenter, else `examples` as is.
    Only the TEXT_COLUMNS and the `context` tuples change; labels (valid, reward, done, determined, split, ids) are kept.
    """
    if copies <= 0 or env.augment is None or len(examples) == 0:
        return examples
    rng = random.Random(seed)
    cols = [c for c in TEXT_COLUMNS if c in examples.columns]
    out = [examples]
    for _ in range(copies):
        rows = examples.copy()
        fns = [env.augment(rng) for _ in range(len(rows))]
        for c in cols:
            rows[c] = [f(str(v)) for f, v in zip(fns, rows[c], strict=True)]
        if "context" in rows.columns:  # a tuple of texts (the task block, history states)
            rows["context"] = [tuple(f(str(x)) for x in v) for f, v in zip(fns, rows["context"], strict=True)]
        out.append(rows)
    return pd.concat(out, ignore_index=True)
