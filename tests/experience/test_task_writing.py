"""The experience model's second ability, writing new tasks: the SFT data holds task-generation examples built from
the seed tasks by the env's rules, and a tiny model trained on them writes variants that the curriculum's check
accepts with the env's real grammar and a real reset, where the untrained model writes none."""

from __future__ import annotations

import pandas as pd
import pytest

from dreamgym.config import ExperienceConfig, SFTParams
from dreamgym.curriculum.generate import check_task
from dreamgym.data.schema import Task
from dreamgym.envs import get_spec, make_env
from dreamgym.experience.examples import TASK_EXAMPLE_COLUMNS, build_task_examples
from dreamgym.experience.format import GEN_CLOSE, GEN_OPEN, SPECIAL_TOKENS
from dreamgym.experience.prompt import PromptSpec
from dreamgym.experience.synthetic import ExperienceModel
from dreamgym.models import Generator, build_model
from dreamgym.models.sft import train_sft

CFG = ExperienceConfig(model={"hidden_size": 64, "num_layers": 2, "num_heads": 2, "vocab_size": 400,
                              "max_positions": 1024}, history_window=2)


@pytest.mark.parametrize("env_name", ["babyai", "textcraft"])
def test_task_examples_are_built_from_the_seed_tasks(fast_rows, env_name):
    steps, tasks = fast_rows[env_name]
    spec = PromptSpec.from_config(CFG, get_spec(env_name))
    ex = build_task_examples(steps, tasks, spec, variants=2)
    assert list(ex.columns) == list(TASK_EXAMPLE_COLUMNS) and len(ex) > 0 and set(ex["kind"]) == {"task"}
    assert ex["prompt"].str.endswith(GEN_OPEN + spec.prompt_end).all() and ex["completion"].str.endswith(GEN_CLOSE).all()
    assert set(ex["task_id"]) <= set(steps["task_id"]) and ex.groupby("task_id").size().max() <= 2
    assert set(ex["split"]) <= {"train", "val"}  # each example keeps its task's split: val ones measure, never train
    assert build_task_examples(steps, tasks, spec, variants=0).empty


def parents(env, steps: pd.DataFrame, tasks: pd.DataFrame) -> list[tuple[Task, str]]:
    train = tasks[tasks["split"] == "train"].drop_duplicates("task_id")
    out = []
    for row in train.to_dict("records"):
        task = Task.from_row(row)
        out.append((task, env.reset(task)))
    return out


def accepted_share(xm: ExperienceModel, env, pairs, n: int = 4) -> float:
    contexts = [(xm.spec.task_text(t.instruction, first), first) for t, first in pairs]
    written = xm.write_tasks(contexts, n, temperature=0.7, max_new_tokens=24, seed=0)
    ok = total = 0
    for (parent, _), texts in zip(pairs, written, strict=True):
        for text in texts:
            verdict, _ = check_task(parent, text, xm.spec.env.task_from_text, set(), set(), env.reset)
            ok, total = ok + verdict.accepted, total + 1
    return ok / total


def test_a_tiny_model_learns_to_write_tasks_the_real_grammar_accepts(fast_rows, tmp_path):
    steps, tasks = fast_rows["babyai"]
    spec = PromptSpec.from_config(CFG, get_spec("babyai"))
    ex = build_task_examples(steps, tasks, spec, variants=4)
    train, val = ex[ex["split"] == "train"], ex[ex["split"] == "val"]
    model, tok = build_model(CFG.model, tmp_path / "cache", texts=[*train["prompt"], *train["completion"]],
                             seed=0, special_tokens=SPECIAL_TOKENS)
    xm = ExperienceModel(Generator(model, tok, max_new_tokens=24), spec)
    with make_env("babyai") as env:
        pairs = parents(env, steps, tasks)
        before = accepted_share(xm, env, pairs)
        res = train_sft(model, tok, train, val if len(val) else train.head(8),
                        SFTParams(max_steps=120, batch_size=8, max_length=512, eval_every=0, eval_examples=16,
                                  logging_steps=20), tmp_path / "scratch")
        after = accepted_share(xm, env, pairs)
    assert res.train_loss_last < 0.5 * res.train_loss_first
    assert before == 0.0 and after >= 0.3, (before, after)
