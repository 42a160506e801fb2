"""Colour-permutation augmentation: consistent within an example, labels kept, unknown envs untouched."""

from __future__ import annotations

import re

import pandas as pd

from dreamgym.experience.augment import augment_examples
from dreamgym.experience.examples import build_examples
from dreamgym.experience.format import parse_target

COLORS = re.compile(r"\b(red|green|blue|purple|yellow|grey)\b")


def test_babyai_recolouring_is_consistent(babyai_rows):
    steps, tasks = babyai_rows
    ex = build_examples(steps, tasks, env="babyai")
    aug = augment_examples(ex, "babyai", copies=2, seed=3)
    assert len(aug) == 3 * len(ex)
    assert aug.iloc[: len(ex)].equals(ex), "the originals come first, unchanged"
    for c in ("valid", "reward", "done", "determined", "split", "episode_id", "t"):
        assert aug[c].tolist() == ex[c].tolist() * 3
    changed = 0
    for k in (1, 2):
        copy = aug.iloc[k * len(ex): (k + 1) * len(ex)].reset_index(drop=True)
        for orig, new in zip(ex.itertuples(), copy.itertuples(), strict=True):
            # one bijective renaming per row, applied to prompt and target alike
            pairs = set(zip(COLORS.findall(orig.prompt + orig.completion), COLORS.findall(new.prompt + new.completion),
                            strict=True))
            assert len({a for a, _ in pairs}) == len(pairs) == len({b for _, b in pairs})
            assert COLORS.sub("C", orig.prompt) == COLORS.sub("C", new.prompt)
            assert parse_target(new.completion).next_state == new.next_state
            changed += orig.prompt != new.prompt
    assert changed > len(ex)  # most rows name a colour, and a random permutation moves most


def test_envs_without_augmenter_and_zero_copies():
    df = pd.DataFrame({"prompt": ["<task>craft red dye</task>"], "completion": ["x"]})
    assert augment_examples(df, "textcraft", copies=3) is df
    assert augment_examples(df, "babyai", copies=0) is df


def test_colour_list_matches_minigrid():
    from minigrid.core.constants import COLOR_NAMES

    from dreamgym.experience.examples import BABYAI_COLORS

    assert sorted(BABYAI_COLORS) == sorted(COLOR_NAMES)
