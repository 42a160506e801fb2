"""augment_examples: rows multiplied, originals first, labels kept, one renaming per copied row applied to every
text column; envs without an augmenter untouched. BabyAI's recolouring itself is tested in tests/envs/babyai/."""

from __future__ import annotations

import dataclasses

import pandas as pd

from dreamgym.envs import get_spec
from dreamgym.experience.augment import TEXT_COLUMNS, augment_examples
from dreamgym.experience.examples import build_examples
from dreamgym.experience.prompt import PromptSpec

LABELS = ("valid", "reward", "done", "determined", "split", "episode_id", "task_id", "t")


def test_copies_follow_the_originals_with_labels_kept(babyai_rows):
    steps, tasks = babyai_rows
    spec = get_spec("babyai")
    ex = build_examples(steps, tasks, PromptSpec(spec, history_window=2, k=0, budget=3072, state_budget=600,
                                                 with_reasoning=True))
    aug = augment_examples(ex, spec, copies=2, seed=3)
    assert len(aug) == 3 * len(ex) and list(aug.columns) == list(ex.columns)
    assert aug.iloc[: len(ex)].equals(ex), "the originals come first, unchanged"
    for c in LABELS:
        assert aug[c].tolist() == ex[c].tolist() * 3
    copies = [aug.iloc[k * len(ex): (k + 1) * len(ex)].reset_index(drop=True) for k in (1, 2)]
    for c in TEXT_COLUMNS:
        assert any((copy[c] != ex[c]).any() for copy in copies), f"{c} is renamed"
    assert (copies[0]["prompt"] != ex["prompt"]).mean() > 0.5
    assert augment_examples(ex, spec, copies=2, seed=3).equals(aug)  # seeded
    assert not augment_examples(ex, spec, copies=2, seed=4).equals(aug)


def test_one_renaming_per_row_applies_to_every_text_column():
    drawn = []

    def augment(rng):
        tag = f"#{rng.randrange(10**6)}"
        drawn.append(tag)
        return lambda text: f"{text}{tag}"

    spec = dataclasses.replace(get_spec("babyai"), augment=augment)
    df = pd.DataFrame({c: [f"{c}{i}" for i in range(3)] for c in TEXT_COLUMNS} | {"reward": [0.0, 1.0, 0.0]})
    aug = augment_examples(df, spec, copies=2, seed=0)
    assert len(drawn) == 6 and len(aug) == 9
    for j, tag in enumerate(drawn):
        row = aug.iloc[3 + j]
        assert all(row[c] == f"{c}{j % 3}{tag}" for c in TEXT_COLUMNS)
        assert row["reward"] == df["reward"].iloc[j % 3]


def test_envs_without_augmenter_and_zero_copies():
    df = pd.DataFrame({"prompt": ["<task>craft red dye</task>"], "completion": ["x"]})
    assert augment_examples(df, get_spec("textcraft"), copies=3) is df
    assert augment_examples(df, get_spec("babyai"), copies=0) is df
    assert augment_examples(df.head(0), get_spec("babyai"), copies=2).empty
