"""Formats of the experience model: target format/parse (with property tests), abstract states, the prompt."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dreamgym.errors import DreamGymError, UnknownNameError
from dreamgym.experience.format import (
    ELLIPSIS,
    SPECIAL_TOKENS,
    STOP,
    FormatError,
    ParseFailure,
    Prediction,
    abstract_state,
    build_prompt,
    format_reward,
    format_target,
    parse_target,
    task_context,
)

ENVS = ("babyai", "textcraft", "textworld", "scienceworld")

# ---- target ----------------------------------------------------------------------------------------------------


def test_special_tokens_cover_every_tag_once():
    assert len(SPECIAL_TOKENS) == len(set(SPECIAL_TOKENS)) == 20
    assert all(t.startswith("<") and t.endswith(">") for t in SPECIAL_TOKENS)
    opens = {t for t in SPECIAL_TOKENS if not t.startswith("</")}
    assert {t.replace("</", "<") for t in SPECIAL_TOKENS if t.startswith("</")} == opens
    assert STOP == "</done>" and "<s>" not in SPECIAL_TOKENS  # <s> is a common BOS token


def test_format_target_exact_and_ablation():
    full = format_target(" moved. ", True, "red ball 1: 1 ahead", 1.0, True)
    assert full == ("<think>moved.</think><valid>1</valid><next>red ball 1: 1 ahead</next>"
                    "<reward>1</reward><done>1</done>")
    assert full.endswith(STOP)
    bare = format_target("ignored", False, "Could not find stick\nInventory: empty", 0.0, False, with_reasoning=False)
    assert bare == "<valid>0</valid><next>Could not find stick\nInventory: empty</next><reward>0</reward><done>0</done>"
    for tag in SPECIAL_TOKENS:
        if tag[1:].split(">")[0].lstrip("/") in ("think", "valid", "next", "reward", "done"):
            assert tag in full


@pytest.mark.parametrize("reward,text", [(0, "0"), (1.0, "1"), (0.25, "0.25"), (1 / 3, "0.333"), (0.5, "0.5"),
                                         (0.0001, "0")])
def test_reward_is_compact(reward, text):
    assert format_reward(reward) == text


@pytest.mark.parametrize("kwargs,match", [
    (dict(next_state="  "), "next_state is empty"),
    (dict(next_state="a <done> b"), "markup tag"),
    (dict(reasoning="see </think>"), "markup tag"),
    (dict(reward=1.5), r"\[0, 1\]"),
    (dict(reward=float("nan")), r"\[0, 1\]"),
    (dict(valid=False, reward=1.0), "invalid action must have reward 0"),
])
def test_format_target_rejects_what_cannot_parse_back(kwargs, match):
    args = dict(reasoning="r", valid=True, next_state="s", reward=0.0, done=False) | kwargs
    with pytest.raises(FormatError, match=match):
        format_target(**args)


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60).filter(
    lambda s: "<" not in s).map(str.strip)


@st.composite
def _targets(draw):
    valid = draw(st.booleans())
    reward = draw(st.sampled_from([0.0, 1.0]) | st.floats(0, 1)) if valid else 0.0
    return (draw(_TEXT), valid, draw(_TEXT.filter(bool)), round(reward, 3), draw(st.booleans()), draw(st.booleans()))


@settings(max_examples=300, deadline=None)
@given(_targets())
def test_parse_inverts_format(x):
    reasoning, valid, next_state, reward, done, with_reasoning = x
    text = format_target(reasoning, valid, next_state, reward, done, with_reasoning)
    pred = parse_target(text, require_reasoning=with_reasoning)
    assert isinstance(pred, Prediction) and pred.ok
    assert pred == Prediction(reasoning if with_reasoning else "", valid, next_state, float(format_reward(reward)),
                              done)
    assert parse_target(text) == pred  # require_reasoning=None accepts both


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200) | st.lists(st.sampled_from([*SPECIAL_TOKENS, "0", "1", "0.5", "x", " ", "\n", "-1"]),
                                        max_size=30).map("".join))
def test_parse_never_raises(text):
    out = parse_target(text)
    assert isinstance(out, (Prediction, ParseFailure))
    if isinstance(out, ParseFailure):
        assert out.reason and not out.ok


@settings(max_examples=100, deadline=None)
@given(_targets(), st.data())
def test_truncated_targets_fail_cleanly(x, data):
    text = format_target(*x)
    cut = data.draw(st.integers(0, len(text) - 1))
    out = parse_target(text[:cut])
    assert isinstance(out, ParseFailure)


def test_parse_tolerates_trailing_whitespace_and_eos_only():
    t = format_target("ok", True, "s", 0.0, False)
    for tail in (" \n", "</s>", "<|endoftext|>\n", "<|im_end|>", "<eos>  "):
        assert parse_target("  " + t + tail).ok
    for tail in ("x", "<valid>1</valid>", "</s> more"):
        out = parse_target(t + tail)
        assert not out.ok and "after </done>" in out.reason


@pytest.mark.parametrize("text,reason", [
    ("<think>a</think><valid>2</valid><next>s</next><reward>0</reward><done>0</done>", "<valid> must be 0 or 1"),
    ("<think>a</think><valid>1</valid><next>s</next><reward>-0.1</reward><done>0</done>", "not a number"),
    ("<think>a</think><valid>1</valid><next>s</next><reward>nan</reward><done>0</done>", "not a number"),
    ("<think>a</think><valid>1</valid><next>s</next><reward>1.5</reward><done>0</done>", "outside"),
    ("<think>a</think><valid>1</valid><next> </next><reward>0</reward><done>0</done>", "empty <next>"),
    ("<think>a</think><valid>0</valid><next>s</next><reward>1</reward><done>0</done>", "invalid action"),
    ("<think>a</think><next>s</next><valid>1</valid><reward>0</reward><done>0</done>", "expected <valid>"),
    ("<think>a</think><valid>1</valid><next>s<think></next><reward>0</reward><done>0</done>", "markup tag"),
    ("<think>a</think><valid>1</valid><next>s</next><reward>0</reward><done>yes</done>", "<done> must be"),
    ("<think>a<valid>1</valid>", "unclosed <think>"),
    (None, "not a string"),
])
def test_parse_failures_name_the_problem(text, reason):
    out = parse_target(text)
    assert isinstance(out, ParseFailure) and reason in out.reason


def test_require_reasoning_switch():
    with_think = format_target("why", True, "s", 0.0, False)
    without = format_target("why", True, "s", 0.0, False, with_reasoning=False)
    assert parse_target(with_think, require_reasoning=True).ok
    assert "missing <think>" in parse_target(without, require_reasoning=True).reason
    assert "unexpected <think>" in parse_target(with_think, require_reasoning=False).reason
    assert parse_target(without, require_reasoning=False).reasoning == ""


# ---- abstract states --------------------------------------------------------------------------------------------

BABYAI_RAW = ("There is a red ball 1, 4 steps in front of you and 3 steps to your right. There is an open grey door 1, "
              "right in front of you 2 steps away. There is a blue key 2, 1 steps to your left. You are facing a wall "
              "6 steps away. There is a wall 2 steps to your left and 1 steps to your right. You are carrying a "
              "yellow box.")
TEXTWORLD_RAW = ("You are hungry! Let's cook a delicious meal. Check the cookbook in the kitchen for the recipe. Once "
                 "done, enjoy your meal!\n-= Kitchen =-\nYou find yourself in a kitchen. A typical one.\nYou see a "
                 "fridge. The counter is vast. On the counter you can make out a cookbook and a knife. Look over "
                 "there! a stove. But the thing is empty.\nYou need an exit without a door? You should try going east."
                 " Don't worry, there is no door.")
SCIENCEWORLD_RAW = ("This room is called the kitchen. In it, you see:\nthe agent\na substance called air\na chair. On "
                    "the chair is: nothing.\na fridge. The fridge door is closed.\nYou also see:\nA door to the hallway "
                    "(that is open)\n[Location: kitchen. Inventory: an orange]")


def test_babyai_abstraction_is_a_compact_rewrite():
    assert abstract_state("babyai", BABYAI_RAW) == ("red ball 1: 4 ahead 3 right; open grey door 1: 2 ahead; blue key "
                                                    "2: 1 left; wall: 6 ahead, 2 left, 1 right; carrying yellow box")
    invalid = "You cannot move forward: the way is blocked. You see no objects. You are not carrying anything."
    assert abstract_state("babyai", invalid) == ("You cannot move forward: the way is blocked; no objects; "
                                                 "carrying nothing")
    small = abstract_state("babyai", BABYAI_RAW, 90)  # the farthest (last) objects go first; walls/carrying stay
    assert len(small) <= 90 and small.endswith("carrying yellow box") and ELLIPSIS in small
    assert small.startswith("red ball 1: 4 ahead 3 right")


def test_textcraft_abstraction_moves_recipes_to_the_task():
    first = ("Crafting commands:\ncraft 4 oak planks using 1 oak logs\ncraft 1 chest using 8 planks\n\n"
             "Goal: craft chest.")
    assert abstract_state("textcraft", first) == "Goal: craft chest."
    assert task_context("textcraft", "craft chest", first) == ("craft chest\ncraft 4 oak planks using 1 oak logs\n"
                                                               "craft 1 chest using 8 planks")
    assert task_context("babyai", "  go to\nthe red ball ") == "go to the red ball"
    later = "Crafted 4 minecraft:oak_planks\nInventory: 4 oak planks"
    assert abstract_state("textcraft", later) == "Crafted 4 oak planks\nInventory: 4 oak planks"
    assert abstract_state("textcraft", "Could not find a valid recipe for ItemTagWithCount(item_tag=ItemTag(tag=None, "
                          "item_id='minecraft:lead'), count=2)\nInventory: empty") == (
        "Could not find a valid recipe for 2 lead\nInventory: empty")
    long_msg = "Got 1 " + "x" * 200 + "\nInventory: 1 oak logs"
    assert abstract_state("textcraft", long_msg, 40).endswith("Inventory: 1 oak logs")


def test_textworld_abstraction_drops_flavour_and_canonicalises():
    assert abstract_state("textworld", TEXTWORLD_RAW) == (
        "-= Kitchen =-\nYou see a fridge. On the counter you can make out a cookbook and a knife. You see a stove. "
        "It is empty.\nThere is an exit to the east.")
    end = ("You eat the meal. Not bad.\nYour score has just gone up by one point.\n*** The End ***\n"
           "You scored 5 out of a possible 5, in 13 turns.")
    assert abstract_state("textworld", end) == "You eat the meal. Not bad.\nScore +1.\n*** The End ***"
    assert abstract_state("textworld", "The bed is reliable.") == "Nothing notable."


def test_scienceworld_abstraction_keeps_location_line():
    assert abstract_state("scienceworld", SCIENCEWORLD_RAW) == (
        "In the kitchen you see:\na chair. On the chair is: nothing.\na fridge. The fridge door is closed.\n"
        "door to hallway (open)\n[Location: kitchen. Inventory: an orange]")
    small = abstract_state("scienceworld", SCIENCEWORLD_RAW, 80)
    assert len(small) <= 80 and small.endswith("[Location: kitchen. Inventory: an orange]")


@pytest.mark.parametrize("env", ["babyai", "textcraft"])
@pytest.mark.parametrize("budget", [24, 40, 120, 600])
def test_abstraction_on_real_rows_is_idempotent_and_within_budget(fast_rows, env, budget):
    steps, _ = fast_rows[env]
    for text in sorted(set(steps["state"]) | set(steps["next_state"])):
        a = abstract_state(env, text, budget)
        assert a and len(a) <= budget
        assert abstract_state(env, a, budget) == a


@pytest.mark.parametrize("env,raw", [("textworld", TEXTWORLD_RAW), ("scienceworld", SCIENCEWORLD_RAW),
                                     ("babyai", BABYAI_RAW)])
def test_abstraction_idempotent_on_samples(env, raw):
    for budget in (30, 60, 600):
        a = abstract_state(env, raw, budget)
        assert 0 < len(a) <= budget and abstract_state(env, a, budget) == a


TEXTCRAFT_RAW = ("Crafting commands:\ncraft 4 oak planks using 1 oak logs\n\nGoal: craft chest.\nCrafted 4 "
                 "minecraft:oak_planks\nInventory: 1 oak logs, 4 oak planks\nCould not find stick")
_FRAGMENTS = {env: sorted({s for line in raw.splitlines() for s in re.split(r"(?<=[.!?])\s+", line)})
              for env, raw in (("babyai", BABYAI_RAW + " You see no objects. The task is completed."),
                               ("textcraft", TEXTCRAFT_RAW), ("textworld", TEXTWORLD_RAW),
                               ("scienceworld", SCIENCEWORLD_RAW))}


@pytest.mark.parametrize("env", ENVS)
def test_abstraction_is_idempotent_on_generated_text(env):
    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.sampled_from(_FRAGMENTS[env]) | st.text(max_size=15), max_size=10),
           st.lists(st.sampled_from([" ", "\n", "; ", ". ", ""]), min_size=10, max_size=10), st.integers(24, 300))
    def check(parts, seps, budget):
        a = abstract_state(env, "".join(p + q for p, q in zip(parts, seps, strict=False)), budget)
        assert len(a) <= budget and abstract_state(env, a, budget) == a

    check()


def test_abstraction_errors():
    with pytest.raises(UnknownNameError, match="unknown state abstraction 'nope'.*babyai"):
        abstract_state("nope", "x")
    with pytest.raises(DreamGymError, match="below the minimum"):
        abstract_state("babyai", "x", 3)
    assert abstract_state("generic", "a  b\n\n c", 100) == "a b\nc"


# ---- prompt -----------------------------------------------------------------------------------------------------

HIST = [(f"There is a red ball 1, {k} steps in front of you and 1 steps to your right. You are not carrying "
         "anything.", "move forward") for k in (6, 5, 4)]
REFS = [dict(state="There is a red ball 1, 2 steps in front of you and 1 steps to your right. You are not carrying "
             "anything.", action="move forward", next_state="There is a red ball 1, 1 steps in front of you and 1 "
             "steps to your right. You are not carrying anything.", reward=0.0, done=False, valid_action=True),
        dict(state="You see no objects. You are not carrying anything.", action="drop",
             next_state="You cannot drop: you are not carrying anything. You see no objects. You are not carrying "
             "anything.", reward=0.0, done=False, valid_action=False)]
CUR = "There is a red ball 1, 3 steps in front of you and 1 steps to your right. You are not carrying anything."


def _prompt(**kw):
    args = dict(instruction="go to the red ball", history=HIST, retrieved=REFS, state=CUR, action="move forward",
                env="babyai", history_window=2, budget=3072) | kw
    return build_prompt(args.pop("instruction"), args.pop("history"), args.pop("retrieved"), args.pop("state"),
                        args.pop("action"), **args)


def test_prompt_layout_and_determinism():
    p = _prompt()
    assert p == _prompt()
    assert p == ("<task>go to the red ball</task>"
                 "<ref><obs>red ball 1: 2 ahead 1 right; carrying nothing</obs><act>move forward</act><valid>1</valid>"
                 "<next>red ball 1: 1 ahead 1 right; carrying nothing</next><reward>0</reward><done>0</done></ref>"
                 "<ref><obs>no objects; carrying nothing</obs><act>drop</act><valid>0</valid><next>You cannot drop: "
                 "you are not carrying anything; no objects; carrying nothing</next><reward>0</reward><done>0</done>"
                 "</ref><hist><obs>red ball 1: 5 ahead 1 right; carrying nothing</obs><act>move forward</act>"
                 "<obs>red ball 1: 4 ahead 1 right; carrying nothing</obs><act>move forward</act></hist>"
                 "<obs>red ball 1: 3 ahead 1 right; carrying nothing</obs><act>move forward</act>")


def test_prompt_ablations():
    full = _prompt()
    no_hist = _prompt(history_window=0)
    no_refs = _prompt(retrieved=[])
    assert "<hist>" in full and "<hist>" not in no_hist and "<ref>" in no_hist
    assert "<ref>" not in no_refs and "<hist>" in no_refs
    assert re.sub(r"<ref>.*?</ref>", "", full, flags=re.S) == no_refs  # switches remove exactly their block
    assert re.sub(r"<hist>.*?</hist>", "", full, flags=re.S) == no_hist
    assert _prompt(history_window=0, retrieved=[]) == ("<task>go to the red ball</task><obs>red ball 1: 3 ahead 1 "
                                                       "right; carrying nothing</obs><act>move forward</act>")
    assert _prompt(history_window=5).count("<obs>") == 2 + 3 + 1  # 2 refs, all 3 history steps, current
    dicts = [{"state": s, "action": a, "next_state": "x"} for s, a in HIST]
    assert _prompt(history=dicts) == full  # Step-like dicts and (state, action, next_state) tuples work alike
    assert _prompt(history=[(s, a, "x") for s, a in HIST]) == full
    with pytest.raises(DreamGymError, match="history_window"):
        _prompt(history_window=-1)
    with pytest.raises(DreamGymError, match=r"retrieved\[0\] has no 'valid_action'"):
        _prompt(retrieved=[{k: v for k, v in REFS[0].items() if k != "valid_action"}])


@pytest.mark.parametrize("budget", [120, 200, 300, 400, 3072])
def test_prompt_budget_drops_refs_then_history(budget):
    p = _prompt(budget=budget)
    assert len(p) <= budget
    assert p.endswith("<obs>red ball 1: 3 ahead 1 right; carrying nothing</obs><act>move forward</act>")
    if "<ref>" in p:
        assert "<hist>" in p  # history is kept before references
    assert p.count("<ref>") <= 2


def test_prompt_budget_errors_and_task_lines():
    with pytest.raises(DreamGymError, match="cannot hold the current state"):
        _prompt(budget=60)
    task = "craft chest\n" + "\n".join(f"craft {i} thing{i} using 1 stuff" for i in range(50))
    p = _prompt(instruction=task, budget=400, retrieved=[], history_window=0)
    assert len(p) <= 400 and p.startswith("<task>craft chest\ncraft 0 thing0 using 1 stuff\n")
    body = p.split("</task>")[0]
    assert body.endswith(ELLIPSIS) and all(line.startswith(("craft", ELLIPSIS)) for line in body.split("\n")[1:])
    tagged = _prompt(state=CUR + " <done>", retrieved=[], history_window=0)
    assert tagged.count("<done>") == 0


def test_prompt_on_real_rows_within_budget(fast_rows):
    for env, (steps, tasks) in fast_rows.items():
        instr = dict(zip(tasks["task_id"], tasks["instruction"], strict=True))
        rows = steps.head(60).to_dict("records")
        for i, r in enumerate(rows):
            hist = [x for x in rows[max(0, i - 3):i] if x["episode_id"] == r["episode_id"]]
            for budget in (300, 1024):
                p = build_prompt(instr[r["task_id"]], hist, rows[:2], r["state"], r["action"], env=env,
                                 history_window=2, budget=budget, state_budget=200)
                assert len(p) <= budget and p.endswith("</act>")
