"""Test helpers shared across packages (imported by name): real Step rows of a real env, and a blank plug-in env
for config and stage tests."""

from __future__ import annotations

import inspect

import pandas as pd

from dreamgym.config import SeedDataConfig
from dreamgym.data.io import steps_table
from dreamgym.data.schema import Step
from dreamgym.data.seed import collect_seed
from dreamgym.envs.registry import make_env

#: an action no env accepts
NONSENSE = "fly to the moon"


def collect_rows(env_name: str, episodes: int, **env_kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(steps, tasks) of `episodes` seed episodes (expert / noisy / random, train and val tasks) plus one manual
    train episode "<env>-manual": a nonsense action (invalid), then the expert's first two actions."""
    cfg = SeedDataConfig(envs=[env_name], episodes={env_name: episodes}, n_test_tasks=0)
    with make_env(env_name, **env_kwargs) as env:
        steps, tasks = collect_seed(env, episodes, cfg, seed=0)
        train = [t for t in tasks if t.split == "train"]
        task = train[0] if train else env.list_tasks("train", n=1)[0]
        if task not in tasks:
            tasks.append(task)
        state = env.reset(task)
        manual = []
        for t in range(3):
            action = NONSENSE if t == 0 else (env.expert_action() or NONSENSE)
            obs, reward, done, info = env.step(action)
            manual.append(Step(episode_id=f"{env_name}-manual", task_id=task.task_id, env=env_name, t=t, state=state,
                               action=action, next_state=obs, reward=float(reward), done=bool(done),
                               success=bool(info["success"]), valid_action=bool(info["valid_action"]),
                               split=task.split))
            state = obs
            if done:
                break
    df = steps_table(steps + manual).to_pandas()
    return df, pd.DataFrame([t.to_row() for t in tasks])


def register_blank_env(name: str, max_steps: int = 5, **defaults):
    """Register (and return) a plug-in TextEnv `name` with no config section and no tasks, whose constructor takes
    `max_steps` and the keyword `defaults`: what config and stage code see of a user's env."""
    from dreamgym.envs import TextEnv, register_env

    def __init__(self, max_steps: int = max_steps, **kwargs):
        TextEnv.__init__(self, max_steps)

    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
              inspect.Parameter("max_steps", inspect.Parameter.KEYWORD_ONLY, default=max_steps),
              *(inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v) for k, v in defaults.items())]
    __init__.__signature__ = inspect.Signature(params)
    body = {"__init__": __init__, "list_tasks": lambda self, split, n=None, start=0: [],
            "_reset": lambda self, task: "", "_step": lambda self, action: ("", False, True, 0.0, {})}
    return register_env(name)(type(f"Blank_{name}", (TextEnv,), body))


#: hand-written TextWorld transitions (raw text, as the real env replies) for annotator and rule tests
TW_ROWS = [
    dict(state="You are carrying nothing.", action="dance", next_state="That's not a verb I recognise.", reward=0.0,
         done=False, valid_action=False),
    dict(state="-= Kitchen =-\nYou see a closed fridge.", action="open fridge",
         next_state="You open the fridge, revealing a yellow onion and a raw red tuna.", reward=0.0, done=False,
         valid_action=True),
    dict(state="You open the fridge, revealing a yellow onion.", action="take yellow onion from fridge",
         next_state="You take the yellow onion from the fridge.\nYour score has just gone up by one point.",
         reward=0.0, done=False, valid_action=True),
    dict(state="Adding the meal to your inventory.", action="eat meal",
         next_state="You eat the meal. Not bad.\nYour score has just gone up by one point.\n*** The End ***\n"
                    "You scored 5 out of a possible 5, in 13 turns.", reward=1.0, done=True, valid_action=True),
    dict(state="You open plain door.", action="go north", next_state="-= Corridor =-\nYou find yourself in a corridor. "
         "A typical one.\nThere is an exit to the south.", reward=0.0, done=False, valid_action=True),
]
#: hand-written ScienceWorld transitions (raw text with the env's location line) for annotator and rule tests
SW_ROWS = [
    dict(state="The door is now open.\n[Location: hallway. Inventory: an orange]", action="fly",
         next_state="No known action matches that input.\n[Location: hallway. Inventory: an orange]", reward=0.0,
         done=False, valid_action=False),
    dict(state="The door is now open.\n[Location: hallway. Inventory: an orange]", action="go to kitchen",
         next_state="You move to the kitchen.\n[Location: kitchen. Inventory: an orange]", reward=0.0, done=False,
         valid_action=True),
    dict(state="You move to the kitchen.\n[Location: kitchen. Inventory: an orange]", action="pick up thermometer",
         next_state="You move the thermometer to the inventory.\n[Location: kitchen. Inventory: an orange, a "
                    "thermometer, currently reading a temperature of 10 degrees celsius]", reward=0.0, done=False,
         valid_action=True),
    dict(state="The stove is now activated.\n[Location: kitchen. Inventory: an orange]", action="focus on water",
         next_state="You focus on the water.\n[Location: kitchen. Inventory: an orange]", reward=1.0, done=True,
         valid_action=True),
]


def check_idempotent_on_generated_text(observe, fragments: list[str]) -> None:
    """Property test of an abstraction `observe(text, budget)`: on texts stitched from `fragments` (sentences of
    real replies) and random strings, the result fits the budget and abstracting it again changes nothing."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.sampled_from(fragments) | st.text(max_size=15), max_size=10),
           st.lists(st.sampled_from([" ", "\n", "; ", ". ", ""]), min_size=10, max_size=10), st.integers(24, 300))
    def check(parts, seps, budget):
        a = observe("".join(p + q for p, q in zip(parts, seps, strict=False)), budget)
        assert len(a) <= budget and observe(a, budget) == a

    check()


def check_rationale(spec, row: dict, instruction: str = "", success_words: tuple[str, ...] = ("reached",),
                    annotator: str | None = None) -> str:
    """The spec's rule-based rationale of `row` (`annotator`: the env's other annotator of that name), checked: one
    finished note without markup, 3..MAX_WORDS+1 words, opening with its validity, stating the reward, and naming
    success (one of `success_words`) on a rewarded row."""
    import re

    from dreamgym.envs.text import MAX_WORDS, finish

    annotate = spec.annotators[annotator] if annotator else spec.annotate
    note = annotate(row["state"], row["action"], row["next_state"], row["reward"], row["done"],
                         row["valid_action"], {"instruction": instruction})
    assert note == finish([note]) and not re.search(r"</?[a-z]+>", note)
    assert 3 <= len(note.split()) <= MAX_WORDS + 1
    assert note.startswith("Valid" if row["valid_action"] else "Invalid:"), note
    assert f"reward {1 if row['reward'] > 0 else 0}" in note, note
    if row["reward"] > 0:
        assert any(w in note for w in success_words), note
    return note


def expert_solves(env, task) -> bool:
    """Whether the env's expert, from a reset of `task`, ends the episode in success (before the step limit)."""
    env.reset(task)
    done, info = False, {}
    while not done:
        _, _, done, info = env.step(env.expert_action())
    return bool(info["success"])
