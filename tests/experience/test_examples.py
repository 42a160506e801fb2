"""SFT examples from real rows (determinism, splits, ablations, budgets, retrieval through a real replay buffer) and
the context-determined rule of each env on hand-made cases."""

from __future__ import annotations

import pandas as pd
import pytest
from exputil import collect_rows

from dreamgym.errors import DreamGymError
from dreamgym.experience.examples import (
    EXAMPLE_COLUMNS,
    babyai_predict,
    build_examples,
    check_task_splits,
    context_determined,
    textcraft_predict,
)
from dreamgym.experience.format import Prediction, abstract_state, parse_target


def _check_examples(ex: pd.DataFrame, steps: pd.DataFrame, env: str, budget: int, with_reasoning: bool = True):
    assert list(ex.columns) == list(EXAMPLE_COLUMNS) and len(ex) == len(steps)
    assert (ex["prompt"].str.len() <= budget).all()
    assert ex["prompt"].str.startswith("<task>").all() and ex["prompt"].str.endswith("</act>").all()
    for r in ex.itertuples():
        pred = parse_target(r.completion, require_reasoning=with_reasoning)
        assert isinstance(pred, Prediction), (r.completion, pred)
        assert (pred.valid, pred.next_state, pred.reward, pred.done) == (r.valid, r.next_state, r.reward, r.done)
        assert pred.reasoning == r.reasoning
        assert r.next_state == abstract_state(env, r.next_state)  # the target is an abstract state
    # val examples never share a task with train ones
    assert not set(ex.loc[ex["split"] == "train", "task_id"]) & set(ex.loc[ex["split"] == "val", "task_id"])
    assert set(ex["split"]) == {"train", "val"}


@pytest.mark.parametrize("env", ["babyai", "textcraft"])
def test_build_examples_on_real_rows(fast_rows, env):
    steps, tasks = fast_rows[env]
    ex = build_examples(steps, tasks, env=env)
    _check_examples(ex, steps, env, 3072)
    assert ex.equals(build_examples(steps.sample(frac=1, random_state=1), tasks, env=env))
    invalid = ex[~ex["valid"]]
    assert len(invalid) and invalid["reasoning"].str.startswith("Invalid").all()
    assert ex.loc[ex["reward"] > 0, "reasoning"].str.contains("reward 1").all()
    assert {"babyai": 0.15, "textcraft": 0.5}[env] < ex["determined"].mean() <= 1.0
    assert ex.loc[ex["t"] == 0, "prompt"].str.contains("<hist>").sum() == 0
    n_obs = ex.loc[ex["t"] >= 2, "prompt"].str.count("<obs>")  # 2 history steps + current (no refs) ...
    assert n_obs.le(3).all() and n_obs.eq(3).mean() > 0.9  # ... unless a long recipe list fills the budget
    if env == "textcraft":  # recipes sit in the task block of every prompt, not in the states
        assert ex["prompt"].str.contains(r"<task>craft [^<]*\ncraft \d+ ", regex=True).all()
        assert not ex["state"].str.contains(" using ").any()


def test_ablations_and_annotator_forms(fast_rows):
    steps, tasks = fast_rows["textcraft"]

    def refuse(**kw):
        raise AssertionError("the annotator must not run without reasoning")

    bare = build_examples(steps, tasks, env="textcraft", annotator=refuse, with_reasoning=False, history_window=0)
    _check_examples(bare, steps, "textcraft", 3072, with_reasoning=False)
    assert not bare["completion"].str.contains("<think>").any() and not bare["prompt"].str.contains("<hist>").any()
    full = build_examples(steps, tasks, env="textcraft", history_window=0)
    assert full["prompt"].equals(bare["prompt"]) and full["completion"].str.startswith("<think>").all()
    by_name = build_examples(steps, tasks, env="textcraft", annotator="textcraft", history_window=0)
    assert by_name.equals(full)
    calls = []

    def note(state, action, next_state, reward, done, valid_action, info=None):
        calls.append(info["instruction"])
        return f"{'ok' if valid_action else 'bad'} {action}"

    custom = build_examples(steps, tasks, env="textcraft", annotator=note, history_window=0)
    assert len(calls) == len(steps) and set(calls) <= set(tasks["instruction"])
    assert custom["reasoning"].tolist() == [f"{'ok' if v else 'bad'} {a}" for v, a in zip(custom["valid"],
                                                                                         custom["action"], strict=True)]
    small = build_examples(steps, tasks, env="textcraft", budget=400, state_budget=120)
    _check_examples(small, steps, "textcraft", 400)


def test_retrieval_through_a_real_replay_buffer(fast_rows, tmp_path):
    from dreamgym.buffer import ReplayBuffer, make_embedder

    steps, tasks = fast_rows["babyai"]
    buf = ReplayBuffer(tmp_path / "db", "transitions", make_embedder("hashing", dim=64))
    buf.seed(steps[steps["split"] == "train"])  # the flow restricts retrieval to train rows: val never leaks
    seen = []

    def retriever(state, action, exclude_episode, split):
        seen.append((exclude_episode, split))
        return buf.search(state, action, k=6, env="babyai", exclude_episode=exclude_episode)

    ex = build_examples(steps, tasks, env="babyai", retriever=retriever, k=2, budget=4000)
    _check_examples(ex, steps, "babyai", 4000)
    assert len(seen) == len(steps) and set(seen) == set(zip(ex["episode_id"], ex["split"], strict=True))
    assert ex["prompt"].str.count("<ref>").eq(2).all()
    tight = build_examples(steps, tasks, env="babyai", retriever=retriever, k=2, budget=700)
    _check_examples(tight, steps, "babyai", 700)
    assert tight["prompt"].str.count("<ref>").lt(2).any()  # references go first when the budget is tight
    none = build_examples(steps, tasks, env="babyai", retriever=retriever, k=0)
    assert not none["prompt"].str.contains("<ref>").any()


def test_split_and_input_errors(fast_rows):
    steps, tasks = fast_rows["babyai"]
    leak = steps.copy()
    val_task = leak.loc[leak["split"] == "val", "task_id"].iloc[0]
    leak.loc[leak.index[0], "task_id"] = val_task  # a train row on a val task
    with pytest.raises(DreamGymError, match=f"task '{val_task}' has steps in splits \\['train', 'val'\\]"):
        build_examples(leak, tasks, env="babyai")
    wrong = tasks.copy()
    wrong.loc[wrong["task_id"] == val_task, "split"] = "train"
    with pytest.raises(DreamGymError, match="in split 'val' in the steps but 'train' in the task list"):
        check_task_splits(steps, wrong)
    with pytest.raises(DreamGymError, match="not in the task list"):
        build_examples(steps, tasks[tasks["task_id"] != val_task], env="babyai")
    with pytest.raises(DreamGymError, match="no steps of env 'textcraft'"):
        build_examples(steps, tasks, env="textcraft")
    with pytest.raises(DreamGymError, match=r"lack column\(s\) \['split'\]"):
        build_examples(steps.drop(columns="split"), tasks, env="babyai")


# ---- context_determined on hand-made cases ---------------------------------------------------------------------


def test_babyai_rule():
    s = "red ball 1: 3 ahead; wall: 4 ahead; carrying nothing"
    assert context_determined("babyai", [], s, "move forward", "red ball 1: 2 ahead; wall: 3 ahead; carrying nothing",
                              True)
    # the side wall vanished (a door in it?) / an unseen key came into view: not in the context
    assert not context_determined("babyai", [], s, "move forward", "red ball 1: 2 ahead; carrying nothing", True)
    assert not context_determined("babyai", [], s, "turn left", "grey key 2: 1 ahead; carrying nothing", True)
    turn = "red ball 1: 1 ahead 2 right; wall: 2 ahead, 3 right; carrying nothing"
    assert babyai_predict([], turn, "turn right") == "red ball 1: 2 ahead 1 left; wall: 3 ahead, 2 left; carrying nothing"
    assert context_determined("babyai", [], turn, "turn right",
                              "red ball 1: 2 ahead 1 left; wall: 3 ahead, 2 left; carrying nothing", True)
    assert babyai_predict([], turn, "go to red ball 1") is None  # a macro: the planner's path
    assert context_determined("babyai", [], "blue key 1: 1 ahead; carrying nothing", "pick up blue key 1",
                              "no objects; carrying blue key", True)
    drop_from = "no objects; wall: 2 ahead; carrying blue key"
    assert not context_determined("babyai", [], drop_from, "drop", "blue key 1: 1 ahead; carrying nothing", True)
    assert context_determined("babyai", ["blue key 1: 1 ahead; carrying nothing"], drop_from, "drop",
                              "blue key 1: 1 ahead; carrying nothing", True)  # its label is in the history
    assert context_determined("babyai", [], "closed red door 1: 1 ahead; carrying nothing", "toggle",
                              "open red door 1: 1 ahead; carrying nothing; task completed", True)
    assert not context_determined("babyai", [], s, "pick up red ball 1", "no objects; carrying green box", True)
    raw = "There is a red ball 1, 1 steps in front of you and 1 steps to your left. You are not carrying anything."
    assert context_determined("babyai", [], raw, "turn left", "There is a red ball 1, 1 steps in front of you and "
                              "1 steps to your right. You are not carrying anything.", True)  # raw texts work too


TASK = ("craft chest\ncraft 4 oak planks using 1 oak logs\ncraft 1 chest using 8 planks\n"
        "craft 1 wooden hoe using 2 stick, 2 planks")


def test_textcraft_rule():
    inv = "Got 1 oak logs\nInventory: 1 oak logs"
    cases = [  # (state, action, real next state, valid, determined)
        (inv, "craft 4 oak planks using 1 oak logs", "Crafted 4 minecraft:oak_planks\nInventory: 4 oak planks",
         True, True),
        (inv, "get 2 oak logs", "Got 2 oak logs\nInventory: 3 oak logs", True, True),
        ("Goal: craft chest.", "get 3 oak logs", "Got 3 oak logs\nInventory: 3 oak logs", True, True),
        (inv, "get 1 chest", "Could not find chest\nInventory: 1 oak logs", False, True),
        (inv, "get 2 stick", "Could not find stick\nInventory: 1 oak logs", False, False),  # unlisted recipe
        (inv, "craft 1 chest using 8 oak planks", "Could not find enough items to craft minecraft:chest\n"
         "Inventory: 1 oak logs", False, True),
        ("Inventory: 1 oak logs, 8 oak planks", "craft 1 chest using 8 oak planks",
         "Crafted 1 minecraft:chest\nInventory: 1 oak logs, 1 chest", True, True),  # tag planks <- oak planks
        ("Inventory: 9 oak planks", "craft 1 chest using 9 oak planks", "Could not find a valid recipe for "
         "ItemTagWithCount(item_tag=ItemTag(tag=None, item_id='minecraft:chest'), count=1)\nInventory: 9 oak planks",
         False, True),
        ("Inventory: 2 oak logs", "craft 1 stick using 2 oak logs", "Could not find a valid recipe for 1 stick\n"
         "Inventory: 2 oak logs", False, False),  # stick's recipe is not listed
        (inv, "inventory", "Inventory: 1 oak logs", True, True),
        (inv, "dance", "Could not execute dance\nInventory: 1 oak logs", False, True),
        (inv, "get 2 oak logs", "Got 2 oak logs\nInventory: 2 oak logs", True, False),  # not what the rules give
        ("Crafted 1 minecraft:stick", "get 1 oak logs", "Got 1 oak logs\nInventory: 1 oak logs", True, False),
    ]
    for state, action, nxt, valid, det in cases:
        assert context_determined("textcraft", [TASK], state, action, nxt, valid) is det, (action, nxt)
    assert not context_determined("textcraft", [], inv, "get 2 oak logs", "Got 2 oak logs\nInventory: 3 oak logs",
                                  True)  # recipes not in the context
    assert textcraft_predict([TASK], "Inventory: 1 oak logs, 4 oak planks", "craft 4 oak planks using 1 oak logs") \
        == ("Crafted 4 oak planks\nInventory: 8 oak planks", True)


def test_textworld_rule():
    kitchen = "-= Kitchen =-\nYou see a closed fridge. On the counter you can see a knife.\nThere is an exit to the east."
    reveal = "You open the fridge, revealing a yellow onion and a raw red tuna."
    assert not context_determined("textworld", [], kitchen, "open fridge", reveal, True)  # contents unseen
    assert context_determined("textworld", [kitchen], reveal, "take yellow onion from fridge",
                              "You take the yellow onion from the fridge.\nScore +1.", True)
    assert context_determined("textworld", [reveal], kitchen, "take red tuna from fridge",
                              "You take the red tuna from the fridge.", True)  # "raw" is a state word
    assert not context_determined("textworld", [], kitchen, "go east", "-= Corridor =-\nThere is an exit to the west.",
                                  True)
    assert context_determined("textworld", [kitchen], "You take the knife from the counter.", "look", kitchen, True)
    assert context_determined("textworld", [], kitchen, "dance", "That's not a verb I recognise.", False)


def test_scienceworld_rule():
    hall = "The door is now open.\n[Location: hallway. Inventory: an orange, a thermometer]"
    assert context_determined("scienceworld", [], hall, "go to kitchen",
                              "You move to the kitchen.\n[Location: kitchen. Inventory: an orange, a thermometer]", True)
    assert not context_determined("scienceworld", [], hall, "use thermometer on orange",
                                  "the thermometer measures a temperature of 21 degrees celsius\n"
                                  "[Location: hallway. Inventory: an orange, a thermometer]", True)  # a new number
    assert not context_determined("scienceworld", [], hall, "look around",
                                  "This room is called the hallway. In it, you see:\nthe agent\na picture\n"
                                  "[Location: hallway. Inventory: an orange, a thermometer]", True)
    assert context_determined("scienceworld", ["In the hallway you see:\na picture\n[Location: hallway. Inventory: "
                                               "an orange, a thermometer]"], hall, "look around",
                              "This room is called the hallway. In it, you see:\na picture\n"
                              "[Location: hallway. Inventory: an orange, a thermometer]", True)
    assert context_determined("scienceworld", [], hall, "fly", "No known action matches that input.\n"
                              "[Location: hallway. Inventory: an orange, a thermometer]", False)


# ---- the slow envs, real rows --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_textworld_and_scienceworld_real_rows(tmp_path_factory):
    """Real rows of the two slow envs (game generation, JVM): examples, rationales, abstraction (~25 s)."""
    rows = {"textworld": collect_rows("textworld", 4, game_dir=str(tmp_path_factory.mktemp("tw"))),
            "scienceworld": collect_rows("scienceworld", 4)}
    for env, (steps, tasks) in rows.items():
        for text in set(steps["state"]) | set(steps["next_state"]):
            a = abstract_state(env, text, 300)
            assert a and len(a) <= 300 and abstract_state(env, a, 300) == a
        ex = build_examples(steps, tasks, env=env, budget=2000)
        _check_examples(ex, steps, env, 2000)
        assert (~ex["valid"]).any() and ex.loc[~ex["valid"], "reasoning"].str.startswith("Invalid").all()
        assert ex.loc[ex["valid"], "reasoning"].str.startswith("Valid").all()
        assert ex.loc[ex["reward"] > 0, "reasoning"].str.contains("reward 1").all()
        assert ex.loc[ex["reward"] == 0, "reasoning"].str.contains("reward 0").all()
        assert 0.0 < ex["determined"].mean() < 1.0


def test_done_at_the_step_limit_is_truncation_not_a_target(fast_rows):
    steps, tasks = fast_rows["textcraft"]
    ep = steps[~steps["success"]].groupby("episode_id")["t"].max()
    assert len(ep), "the fixture needs a failed episode"
    ep_id, last_t = ep.index[0], int(ep.iloc[0])
    steps = steps.copy()
    steps.loc[(steps["episode_id"] == ep_id) & (steps["t"] == last_t), "done"] = True  # as if the limit ended it
    row = lambda ex: ex[(ex["episode_id"] == ep_id) & (ex["t"] == last_t)].iloc[0]  # noqa: E731
    plain = row(build_examples(steps, tasks, env="textcraft"))
    assert plain["done"] and "<done>1</done>" in plain["completion"]
    cut = row(build_examples(steps, tasks, env="textcraft", max_steps=last_t + 1))
    assert not cut["done"] and "<done>0</done>" in cut["completion"]
    assert row(build_examples(steps, tasks, env="textcraft", max_steps=last_t + 5))["done"]  # not at the limit
