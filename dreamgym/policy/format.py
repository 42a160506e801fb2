"""What the agent reads and writes: its prompt, and the strict reply format it must keep.

    p = agent_prompt("go to the red ball", [("There is a ...", "turn left")], "There is a ...", ["turn left", ...])
    parse_reply("Thought: the ball is ahead.\\nAction: move forward")   # -> "move forward"
    parse_reply("move forward")                                         # -> None (malformed: an invalid action)

The prompt (plain text, no chat template, so tiny models trained from scratch and pretrained ones read the same):

    Task: go to the red ball
    Observation: There is a red ball 1 step in front of you ...      <- the oldest step kept (history window)
    Action: turn left
    Observation: ...                                                  <- the current observation
    Valid actions: turn left | turn right | move forward | ...        <- generate mode, where the env lists them
    Action:                                                           <- score mode ends here

Two ways to act (`mode`):
- "score": the policy is the softmax over the valid actions' log-probabilities as continuations of the prompt
  (each candidate is ` <action>` plus a newline); no free text, so no malformed output.
- "generate": the agent writes `Thought: <a short thought>` and `Action: <one action>` on two lines (AgentGym's
  format) and ends with eos. Anything else (no Action line, two of them, an empty action) is malformed and is
  sent to the env as an empty action: an invalid step, never an exception.

History is budgeted in characters (`budget`): the oldest steps are dropped first, the task and the current
observation are always kept (the observation is cut from its start if it alone is over budget).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MODES = ("score", "generate")
ACTION_END = "\n"
_REPLY = re.compile(r"\A\s*Thought:[ \t]*(?P<thought>[^\n]*)\n\s*Action:[ \t]*(?P<action>[^\n]*?)\s*\Z")


def candidate_text(action: str) -> str:
    """The continuation scored for `action` in score mode (after the prompt's final 'Action:')."""
    return f" {action}{ACTION_END}"


def reply_text(thought: str, action: str) -> str:
    """The generate-mode reply for (thought, action): the format parse_reply() accepts."""
    thought = " ".join(str(thought).split())
    return f"Thought: {thought}\nAction: {action}"


def parse_reply(text: str) -> str | None:
    """The action of a generate-mode reply, or None when it is malformed (see the module docstring)."""
    if not isinstance(text, str) or text.count("Action:") != 1 or text.count("Thought:") != 1:
        return None
    m = _REPLY.match(text)
    if m is None:
        return None
    action = m.group("action").strip()
    return action or None


def agent_prompt(instruction: str, history: Sequence[tuple[str, str]], observation: str,
                 actions: Sequence[str] | None, *, mode: str, window: int, budget: int) -> str:
    """The agent's prompt (see the module docstring). `history`: earlier (observation, action) pairs, oldest
    first; the last `window` are shown (fewer if the character budget is short). `actions` are listed in
    generate mode only (score mode scores them instead)."""
    head = f"Task: {' '.join(str(instruction).split())}\n"
    tail = f"Observation: {observation}\n"
    if mode == "generate" and actions:
        tail += "Valid actions: " + " | ".join(actions) + "\n"
    if mode == "score":
        tail += "Action:"
    room = budget - len(head) - len(tail)
    if room < 0:  # the observation alone is over budget: keep its end (the freshest part of long observations)
        keep = max(0, len(observation) + room)
        tail = tail.replace(f"Observation: {observation}\n", f"Observation: ...{observation[len(observation) - keep:]}\n", 1)
        room = 0
    steps: list[str] = []
    for obs, act in reversed(list(history)[-window:] if window > 0 else []):
        block = f"Observation: {obs}\nAction: {act}\n"
        if len(block) > room:
            break
        steps.append(block)
        room -= len(block)
    return head + "".join(reversed(steps)) + tail
