"""TextWorld's rules: the annotator's rationales (exact strings) and the context-determined rule, on samples and on
real rows of a real game."""

from __future__ import annotations

import random

import pytest
from envutil import TW_ROWS, check_rationale

from dreamgym.envs.registry import get_spec, make_env

#: an action the game does not understand
NONSENSE = "fly to the moon"


@pytest.fixture(scope="module")
def spec():
    return get_spec("textworld")


def _check_rationale(spec, row, instruction=""):
    note = check_rationale(spec, row, instruction)
    assert "<" not in note
    return note




def test_textworld_rationales(spec):
    notes = [_check_rationale(spec, r) for r in TW_ROWS]
    assert notes == [
        'Invalid: the game answers "That\'s not a verb I recognise"; nothing changes. Goal not reached yet: reward 0.',
        "Valid. Opening the fridge reveals what is inside. Goal not reached yet: reward 0.",
        "Valid. The yellow onion moves into the inventory. A recipe step is done (+1 point). Goal not reached yet: "
        "reward 0.",
        "Valid. Eating the prepared meal completes the recipe. A recipe step is done (+1 point). Goal reached: "
        "reward 1, done.",
        "Valid. It moves to the corridor, described anew. Goal not reached yet: reward 0."]


@pytest.mark.parametrize("action,reply,effect", [
    ("look", "-= Kitchen =-\nYou see a stove.", "It describes the kitchen; nothing changes."),
    ("slice red potato with knife", "You slice the red potato.", "The red potato is now sliced."),
    ("cook red potato with stove", "You fried the red potato.", "The red potato is now fried."),
    ("put knife on table", "You put the knife on the table.", "The knife leaves the inventory."),
    ("prepare meal", "Something still needs to be cut.",
     "The meal cannot be made yet: something still needs to be cut."),
    ("prepare meal", "Adding the meal to your inventory.", "Every recipe step is done, so the meal is made."),
    ("examine cookbook", 'You open the copy of "Cooking: A Modern Approach (3rd Ed.)" and start reading:\nRecipe #1\n'
     "---------\nIngredients:\nred potato\nDirections:\nslice the red potato\nprepare meal",
     "Reading the cookbook shows the recipe."),
    ("inventory", "You are carrying: a knife.", "It lists the inventory; nothing changes."),
    ("examine bed", "The bed is reliable.", "Nothing notable is shown; nothing changes."),
    ("close fridge", "You close the fridge.", "The fridge is now closed."),
    ("open plain door", "You open plain door.", "The plain door is now open."),
    ("eat yellow apple", "You eat the yellow apple.", "The yellow apple is eaten and gone."),
    ("eat banana", "You eat the banana. Not bad.", "Effect: You eat the banana."),  # not a whole-line message
    ("drink milk", "You drink the milk. Not bad.", "Effect: You drink the milk."),
])
def test_rationale_effects(spec, action, reply, effect):
    note = spec.annotate("s", action, reply, 0.0, False, True)
    assert note == f"Valid. {effect} Goal not reached yet: reward 0."
    assert spec.annotate("s", action, spec.observe(reply), 0.0, False, True) == note  # raw or abstract alike


def test_rationale_of_a_lost_game_and_the_step_limit(spec):
    burn = "You burned the red potato!\n*** You lost! ***"
    assert spec.annotate("s", "cook red potato with stove", burn, 0.0, True, True) == (
        "Valid. The red potato burns, which loses the game. Goal failed: reward 0, done.")
    assert spec.annotate("s", "look", "-= Kitchen =-", 0.0, True, True, {"truncated": True}) == (
        "Valid. It describes the kitchen; nothing changes. Goal not reached and the step limit is hit: reward 0, done.")


def test_textworld_rule(spec):
    kitchen = spec.observe("-= Kitchen =-\nYou see a closed fridge. On the counter you can see a knife.\n"
                           "There is an exit to the east.")
    reveal = spec.observe("You open the fridge, revealing a yellow onion and a raw red tuna.")

    def det(context, state, action, nxt, valid):
        return spec.determined([spec.observe(c) for c in context], spec.observe(state), action, spec.observe(nxt),
                               valid)

    assert not det([], kitchen, "open fridge", reveal, True)  # contents unseen
    assert det([kitchen], reveal, "take yellow onion from fridge",
               "You take the yellow onion from the fridge.\nScore +1.", True)
    assert det([reveal], kitchen, "take red tuna from fridge", "You take the red tuna from the fridge.",
               True)  # "raw" is a state word
    assert not det([], kitchen, "go east", "-= Corridor =-\nThere is an exit to the west.", True)
    assert det([kitchen], "You take the knife from the counter.", "look", kitchen, True)
    assert det([], kitchen, "dance", "That's not a verb I recognise.", False)


def _rows(env, task, rng):
    """Real transitions of one episode after a nonsense first action: the expert's (rng None) or random ones."""
    rows, state, done = [], env.reset(task), False
    while not done:
        if not rows:
            action = NONSENSE
        else:
            action = env.expert_action() if rng is None else rng.choice(env.available_actions())
        obs, reward, done, info = env.step(action)
        rows.append(dict(state=state, action=action, next_state=obs, reward=reward, done=done,
                         valid_action=info["valid_action"]))
        state = obs
    return rows


@pytest.mark.slow
def test_rules_on_real_rows(spec, tmp_path_factory):
    """Rationales and the context rule on real rows of real games (expert and random, ~20 s)."""
    env = make_env("textworld", game_dir=str(tmp_path_factory.mktemp("tw_rules")), max_steps=30)
    try:
        tasks = env.list_tasks("val", n=2)
        episodes = [_rows(env, task, rng) for task in tasks for rng in (None, random.Random(0))]
    finally:
        env.close()
    rows = [r for ep in episodes for r in ep]
    assert any(not r["valid_action"] for r in rows) and any(r["reward"] > 0 for r in rows)
    notes = [_check_rationale(spec, r) for r in rows]
    assert notes == [_check_rationale(spec, r) for r in rows]  # deterministic
    for r in rows:
        a = spec.observe(r["next_state"], 300)
        assert a and len(a) <= 300 and spec.observe(a, 300) == a
    task_text = spec.task_text(tasks[0].instruction)
    dets = [spec.determined([task_text, *(spec.observe(p["state"]) for p in ep[max(0, i - 2):i])],
                            spec.observe(r["state"]), r["action"], spec.observe(r["next_state"]), r["valid_action"])
            for ep in episodes for i, r in enumerate(ep)]
    assert 0.0 < sum(dets) / len(dets) < 1.0
