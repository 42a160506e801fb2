"""The agent's prompt and its strict reply format: malformed replies are None, never exceptions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dreamgym.policy.format import agent_prompt, candidate_text, parse_reply, reply_text


def test_parse_reply_accepts_the_format_and_rejects_the_rest():
    assert parse_reply("Thought: the ball is ahead.\nAction: move forward") == "move forward"
    assert parse_reply("  Thought:\nAction:  go to red ball 1  ") == "go to red ball 1"
    assert parse_reply(reply_text("a\nb  c", "turn left")) == "turn left"
    for bad in ["move forward", "Action: move forward", "Thought: x\nAction: ", "Thought: x\nAction: a\nAction: b",
                "Thought: x\nAction: a\nmore", "Thought: x Action: a", "", "Thought: a\nThought: b\nAction: c"]:
        assert parse_reply(bad) is None, bad


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("Thought:Action \n\tab<>|")), max_size=60) | st.text(max_size=80))
def test_parse_reply_never_raises(text):
    out = parse_reply(text)
    assert out is None or (out and "\n" not in out)


def test_prompt_keeps_the_window_and_the_budget():
    hist = [(f"obs {i}", f"act {i}") for i in range(5)]
    p = agent_prompt("go to the red ball", hist, "now", ["a", "b"], mode="score", window=2, budget=2048)
    assert p.startswith("Task: go to the red ball\n") and p.endswith("Observation: now\nAction:")
    assert "obs 3" in p and "act 4" in p and "obs 2" not in p and "Valid actions" not in p
    g = agent_prompt("t", hist, "now", ["a", "b"], mode="generate", window=0, budget=2048)
    assert g.endswith("Observation: now\nValid actions: a | b\n") and "obs" not in g.replace("Observation: now", "")
    short = agent_prompt("t", hist, "now", None, mode="score", window=5, budget=70)
    assert len(short) <= 70 and "obs 4" in short and "obs 0" not in short
    huge = agent_prompt("t", [], "x" * 500 + "END", None, mode="score", window=2, budget=100)
    assert len(huge) <= 104 and huge.endswith("END\nAction:")
    assert candidate_text("turn left") == " turn left\n"
