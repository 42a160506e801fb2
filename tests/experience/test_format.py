"""The experience model's target format: the tags, format_target / format_reward and the strict parser (with
property tests). Abstract states are each env's (tests/envs/<name>/); the prompt is tested in test_prompt.py."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dreamgym.errors import DreamGymError
from dreamgym.experience.format import (
    ORDERS,
    SPECIAL_TOKENS,
    STOP,
    FormatError,
    ParseFailure,
    Prediction,
    format_reward,
    format_target,
    has_tag,
    parse_target,
    stop_string,
    strip_tags,
)

# ---- target ----------------------------------------------------------------------------------------------------


def test_special_tokens_cover_every_tag_once():
    assert len(SPECIAL_TOKENS) == len(set(SPECIAL_TOKENS)) == 22  # ten field pairs and the task writer's <gen>
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


@pytest.mark.parametrize("reward", [1.5, -0.1, float("nan"), float("inf")])
def test_format_reward_raises_format_error(reward):
    with pytest.raises(FormatError, match=r"\[0, 1\]") as info:
        format_reward(reward)
    assert isinstance(info.value, DreamGymError) and isinstance(info.value, ValueError)


def test_tags_are_found_and_stripped():
    assert has_tag("a <obs> b") and has_tag("x</done>") and not has_tag("a < b > c <s>")
    assert strip_tags("a<obs>b</obs>c") == "a b c" and not has_tag(strip_tags("".join(SPECIAL_TOKENS)))


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


@settings(max_examples=300, deadline=None)
@given(_targets())
def test_decisions_first_round_trips_through_the_parser(x):
    reasoning, valid, next_state, reward, done, with_reasoning = x
    text = format_target(reasoning, valid, next_state, reward, done, with_reasoning, order="decisions_first")
    fields = [m for m in ("<valid>", "<reward>", "<done>", "<next>")]
    assert [text.index(f) for f in fields] == sorted(text.index(f) for f in fields)  # decisions before the state
    assert text.endswith(stop_string("decisions_first")) and stop_string("decisions_first") == "</next>"
    pred = parse_target(text, require_reasoning=with_reasoning, order="decisions_first")
    assert pred == parse_target(format_target(reasoning, valid, next_state, reward, done, with_reasoning),
                                require_reasoning=with_reasoning)  # the same prediction as the default order
    assert not parse_target(text).ok  # each order is parsed strictly
    cut = text[: text.rindex("</next>")]
    assert not parse_target(cut, order="decisions_first").ok


def test_an_unknown_order_is_the_callers_error():
    with pytest.raises(FormatError, match="unknown target order 'sideways'"):
        parse_target("x", order="sideways")
    with pytest.raises(FormatError, match="unknown target order"):
        format_target("", True, "s", 0.0, False, order="sideways")
    assert stop_string() == STOP == "</done>" and set(ORDERS) == {"next_first", "decisions_first"}


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


def test_task_text_parses_only_a_finished_tagless_instruction():
    from dreamgym.experience.format import ParseFailure, parse_task_text

    assert parse_task_text("  pick up   the red ball </gen><eos>") == "pick up the red ball"
    for bad, why in (("pick up the red ball", "no </gen>"), ("  </gen>", "empty"), ("go <obs></gen>", "markup tag")):
        got = parse_task_text(bad)
        assert isinstance(got, ParseFailure) and why in got.reason
