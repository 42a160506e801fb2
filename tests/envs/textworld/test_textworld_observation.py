"""TextWorld's observation: the abstract state (samples, property tests), the parser, the admissible-action lister
(against TextWorld's own lists recorded from a real game, and on a real game now), and the package's spec."""

from __future__ import annotations

import random
import re
import subprocess
import sys

import pytest
from envutil import check_idempotent_on_generated_text

from dreamgym.envs.registry import get_env_class, get_spec, make_env
from dreamgym.envs.text import ELLIPSIS
from dreamgym.envs.textworld import observation, rules
from dreamgym.envs.textworld.observation import FOODS, abstract, actions, parse_state

TEXTWORLD_RAW = ("You are hungry! Let's cook a delicious meal. Check the cookbook in the kitchen for the recipe. Once "
                 "done, enjoy your meal!\n-= Kitchen =-\nYou find yourself in a kitchen. A typical one.\nYou see a "
                 "fridge. The counter is vast. On the counter you can make out a cookbook and a knife. Look over "
                 "there! a stove. But the thing is empty.\nYou need an exit without a door? You should try going east."
                 " Don't worry, there is no door.")
OBJECTIVE = ("You are hungry! Let's cook a delicious meal. Check the cookbook in the kitchen for the recipe. "
             "Once done, enjoy your meal!")


@pytest.fixture(scope="module")
def spec():
    return get_spec("textworld")


# ---- the abstract state ----------------------------------------------------------------------------------------
def test_textworld_abstraction_drops_flavour_and_canonicalises(spec):
    assert spec.observe(TEXTWORLD_RAW) == (
        "-= Kitchen =-\nYou see a fridge. On the counter you can make out a cookbook and a knife. You see a stove. "
        "It is empty.\nThere is an exit to the east.")
    end = ("You eat the meal. Not bad.\nYour score has just gone up by one point.\n*** The End ***\n"
           "You scored 5 out of a possible 5, in 13 turns.")
    assert spec.observe(end) == "You eat the meal. Not bad.\nScore +1.\n*** The End ***"
    assert spec.observe("The bed is reliable.") == "Nothing notable."
    assert spec.task_text("  You are hungry!\n Let's cook. ") == "You are hungry! Let's cook."


def test_abstraction_idempotent_on_samples(spec):
    for budget in (30, 60, 600):
        a = spec.observe(TEXTWORLD_RAW, budget)
        assert 0 < len(a) <= budget and spec.observe(a, budget) == a
    small = spec.observe(TEXTWORLD_RAW, 40)  # the room header is always kept
    assert small.startswith("-= Kitchen =-") and ELLIPSIS in small


_FRAGMENTS = sorted({s for line in TEXTWORLD_RAW.splitlines() for s in re.split(r"(?<=[.!?])\s+", line)})


def test_abstraction_is_idempotent_on_generated_text(spec):
    check_idempotent_on_generated_text(spec.observe, _FRAGMENTS)


# ---- the parser --------------------------------------------------------------------------------------------------
KITCHEN = ("-= Kitchen =-\nYou see a fridge. You see a closed oven. You see a table. It is empty. Oh well You can "
           "see a counter. On the counter you make out a cookbook and a knife. You see a stove. The stove is empty.\n"
           "There is a closed plain door leading west. There is an exit to the south.")
RECIPE = ("Cookbook:\nIngredients:\nyellow bell pepper\nDirections:\nslice the yellow bell pepper\n"
          "roast the yellow bell pepper\nprepare meal")
#: one real expert episode (val task 2000012), from the kitchen on: the abstract states in order
EPISODE = [KITCHEN, RECIPE,
           "You open the fridge, revealing a yellow bell pepper, a yellow onion and a green hot pepper.",
           "You take the yellow bell pepper from the fridge.\nScore +1.",
           "You roasted the yellow bell pepper.\nScore +1.",
           "You take the knife from the counter.", "You slice the yellow bell pepper.\nScore +1.",
           "Adding the meal to your inventory.\nScore +1."]


def test_parse_state_reads_a_room():
    v = parse_state(KITCHEN)
    assert v.room == "Kitchen" and v.rooms == ["Kitchen"] and v.exits == {"south"}
    assert v.doors == {"plain door": ("west", False)}
    assert v.furniture == {"fridge": False, "oven": False, "table": None, "counter": None, "stove": None}
    assert v.contents == {"table": [], "counter": ["cookbook", "knife"], "stove": []}
    assert v.inventory == [] and v.recipe == [] and v.events == [] and not v.score_up
    assert parse_state(KITCHEN) == parse_state(observation.abstract(KITCHEN, 600))


def test_parse_state_folds_an_episode():
    v = parse_state(*EPISODE[:4])
    assert v.recipe == ["yellow bell pepper"] and v.inventory == ["yellow bell pepper"] and v.score_up
    assert v.furniture["fridge"] is True and v.contents["fridge"] == ["yellow onion", "green hot pepper"]
    v = parse_state(*EPISODE)
    assert v.inventory == ["knife", "meal"]
    assert v.cooked == {"yellow bell pepper": "roasted"} and v.cut == {"yellow bell pepper": "sliced"}
    assert [e.kind for e in v.events] == ["cookbook", "reveal", "take", "cook", "take", "cut", "meal"]
    # a new room header starts a new room; the inventory carries over
    pantry = "-= Pantry =-\nYou see a shelf. It is empty.\nThere is an open plain door leading north."
    v = parse_state(*EPISODE[:6], pantry)
    assert v.room == "Pantry" and v.furniture == {"shelf": None} and v.contents == {"shelf": []}
    assert v.doors == {"plain door": ("north", True)} and v.inventory == ["yellow bell pepper", "knife"]


def test_parse_state_reads_food_states_and_listings():
    v = parse_state("On the table are a sliced burned yellow apple and a raw purple potato.\n"
                    "On the counter you see a tomato and a cookbook, so there's that.\n"
                    "There is a knife and a green apple on the floor.\nYou are carrying: a red onion and some salt.")
    assert v.contents == {"table": ["yellow apple", "purple potato"], "counter": ["tomato", "cookbook"],
                          "": ["knife", "green apple"]}
    assert v.cooked == {"yellow apple": "burned"} and v.cut == {"yellow apple": "sliced"}
    assert v.inventory == ["red onion", "salt"]
    v = parse_state("You see a closed conventional looking fridge.\nYou open the oven.\n"
                    "You drop the knife on the ground.")
    assert v.furniture == {"fridge": False, "oven": True} and v.contents == {"": ["knife"]}


# ---- admissible actions ----------------------------------------------------------------------------------------
#: TextWorld's admissible commands recorded in that episode, after EPISODE[0], EPISODE[:4], EPISODE[:7], EPISODE
REAL = {
    1: ['examine cookbook', 'examine counter', 'examine fridge', 'examine knife', 'examine oven', 'examine stove',
        'examine table', 'go south', 'inventory', 'look', 'open fridge', 'open oven', 'open plain door',
        'take cookbook from counter', 'take knife from counter'],
    4: ['close fridge', 'cook yellow bell pepper with oven', 'cook yellow bell pepper with stove',
        'drop yellow bell pepper', 'eat yellow bell pepper', 'examine cookbook', 'examine counter', 'examine fridge',
        'examine green hot pepper', 'examine knife', 'examine oven', 'examine stove', 'examine table',
        'examine yellow onion', 'go south', 'insert yellow bell pepper into fridge', 'inventory', 'look', 'open oven',
        'open plain door', 'prepare meal', 'put yellow bell pepper on counter', 'put yellow bell pepper on stove',
        'put yellow bell pepper on table', 'take cookbook from counter', 'take green hot pepper from fridge',
        'take knife from counter', 'take yellow onion from fridge'],
    7: ['close fridge', 'cook yellow bell pepper with oven', 'cook yellow bell pepper with stove', 'drop knife',
        'drop yellow bell pepper', 'eat yellow bell pepper', 'examine cookbook', 'examine counter', 'examine fridge',
        'examine green hot pepper', 'examine oven', 'examine stove', 'examine table', 'examine yellow onion',
        'go south', 'insert knife into fridge', 'insert yellow bell pepper into fridge', 'inventory', 'look',
        'open oven', 'open plain door', 'prepare meal', 'put knife on counter', 'put knife on stove',
        'put knife on table', 'put yellow bell pepper on counter', 'put yellow bell pepper on stove',
        'put yellow bell pepper on table', 'take cookbook from counter', 'take green hot pepper from fridge',
        'take yellow onion from fridge'],
    8: ['close fridge', 'cook meal with oven', 'cook meal with stove', 'drop knife', 'drop meal', 'eat meal',
        'examine cookbook', 'examine counter', 'examine fridge', 'examine green hot pepper', 'examine oven',
        'examine stove', 'examine table', 'examine yellow onion', 'go south', 'insert knife into fridge',
        'insert meal into fridge', 'inventory', 'look', 'open oven', 'open plain door', 'put knife on counter',
        'put knife on stove', 'put knife on table', 'put meal on counter', 'put meal on stove', 'put meal on table',
        'take cookbook from counter', 'take green hot pepper from fridge', 'take yellow onion from fridge'],
}


@pytest.mark.parametrize("k", sorted(REAL))
def test_actions_match_textworld_on_a_recorded_episode(spec, k):
    assert spec.admissible(OBJECTIVE, "\n".join(EPISODE[:k]), {}) == REAL[k]


def test_actions_of_one_reply_are_a_subset():
    got = actions(OBJECTIVE, "You take the knife from the counter.", {})
    assert got == ["drop knife", "examine counter", "inventory", "look", "put knife on counter"]
    assert set(got) <= set(REAL[7])
    assert actions("", "Nothing notable.", {}) == ["inventory", "look"]


def test_actions_follow_the_food_rules():
    base = "-= Kitchen =-\nYou see a stove. It is empty. You see a BBQ.\n"
    carried = "You are carrying: a knife, a raw red potato, a burned carrot, some milk and a sliced tomato."
    got = actions("", base + carried, {})
    assert "eat red potato" not in got and "cook red potato with BBQ" in got and "slice red potato with knife" in got
    assert not any(a.startswith(("eat carrot", "cook carrot")) for a in got) and "chop carrot with knife" in got
    assert "drink milk" in got and "eat milk" not in got and "cook milk with stove" not in got
    assert "eat tomato" in got and "dice tomato with knife" not in got and "cook tomato with stove" in got
    assert "slice knife with knife" not in got and "cook knife with stove" not in got
    assert "eat red potato" in actions("", base + "You are carrying: a fried red potato.", {})
    assert "prepare meal" not in got  # the recipe is not known


def test_foods_table_matches_textworld():
    cooking = pytest.importorskip("textworld.challenges.tw_cooking.cooking")
    flags = {"edible": "e", "drinkable": "d", "needs_cooking": "n", "cuttable": "x"}
    for name, food in cooking.FOODS.items():
        props = food["properties"]
        expect = {flags[p] for p in props if p in flags} | ({"c"} if "raw" in props or "needs_cooking" in props
                                                              else set())
        assert set(FOODS[name]) == expect, name
    assert set(FOODS) == set(cooking.FOODS)
    furniture = {n for v in cooking.ENTITIES.values() if v["type"] not in ("o", "f") for n in v["names"]}
    assert furniture == observation.CONTAINERS | observation.SUPPORTERS


def _episode(env, task, policy, rng, limit=30):
    """(abstract states so far, real admissible list, expert action) at each step of one real episode."""
    out, states = [], [env.observe(env.reset(task))]
    for _ in range(limit):
        adm, expert = env.available_actions(), env.expert_action()
        out.append((list(states), adm, expert))
        obs, _, done, _ = env.step(expert if policy == "expert" else rng.choice(adm))
        states.append(env.observe(obs))
        if done:
            break
    return out


def test_actions_on_a_real_game(spec, tmp_path_factory):
    """On a real game now (expert and random): the episode's states give TextWorld's list (up to a recipe never
    read); one state alone gives a subset of it."""
    env = make_env("textworld", game_dir=str(tmp_path_factory.mktemp("tw_obs")))
    try:
        task = env.list_tasks("val", n=1)[0]
        steps = _episode(env, task, "expert", None) + _episode(env, task, "random", random.Random(0))
    finally:
        env.close()
    exact = 0
    for states, real, expert in steps:
        got = spec.admissible(OBJECTIVE, states[-1], {}, states[:-1])
        assert set(got) <= set(real) and set(real) - set(got) <= {"prepare meal"}, states[-1]
        exact += got == real
        assert set(spec.admissible(OBJECTIVE, states[-1], {})) <= set(real)
        if expert and "cookbook" not in expert:  # the expert reads a carried cookbook, which TextWorld never lists
            assert expert in got
    assert exact >= 0.9 * len(steps)


# ---- the package ------------------------------------------------------------------------------------------------
def test_spec_fields_are_the_package_functions(spec):
    assert spec.name == "textworld" and spec.config.__name__ == "TextWorldEnvConfig" and spec.augment is None and spec.description
    assert spec.abstract is abstract and spec.actions is actions
    assert spec.annotate is rules.annotate and spec.determined is rules.determined
    from dreamgym.envs.textworld.env import TextWorldEnv

    assert spec.env_class == "dreamgym.envs.textworld.env:TextWorldEnv" and get_env_class("textworld") is TextWorldEnv
    assert TextWorldEnv.name == "textworld"


def test_package_is_light_and_reexports_the_env_lazily():
    code = ("import sys\nimport dreamgym.envs.textworld as p\nfrom dreamgym.envs.registry import get_spec\n"
            "get_spec('textworld').admissible('', 'You take the knife from the counter.')\n"
            "assert 'textworld' not in sys.modules and 'dreamgym.envs.textworld.env' not in sys.modules\n"
            "from dreamgym.envs.textworld import TextWorldEnv, MAX_SPLIT_SIZE\n"
            "assert TextWorldEnv.__module__ == 'dreamgym.envs.textworld.env' and MAX_SPLIT_SIZE == 1_000_000\n"
            "print('ok')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr
    import dreamgym.envs.textworld as package

    with pytest.raises(AttributeError):
        package.NoSuchName  # noqa: B018
