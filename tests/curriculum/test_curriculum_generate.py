"""Generated tasks are checked before they enter the pool: a malformed, a duplicate, a held-out, a same-as-parent
and an infeasible task are each rejected; a good one is accepted with its initial state. The task grammar here is
a small pure parser (the envs' real grammars are tested in tests/envs/*/test_tasks.py)."""

from dreamgym.curriculum.generate import check_task, counts
from dreamgym.curriculum.pool import task_key
from dreamgym.data.schema import Task
from dreamgym.errors import DreamGymError
from dreamgym.experience.format import ParseFailure, parse_task_text

PARENT = Task(task_id="w-s1", env="e", instruction="fetch red", split="train", spec={"seed": 1})
HELD = Task(task_id="w-s9", env="e", instruction="fetch blue", split="test", spec={"seed": 1, "goal": "blue"})


def grammar(parent, text):
    """'fetch <colour>' in the parent's world; colours of a held-out split are marked as such."""
    words = text.split()
    if len(words) != 2 or words[0] != "fetch" or words[1] not in ("red", "green", "blue", "pink"):
        return f"not 'fetch <colour>': {text!r}"
    return Task(task_id=f"{parent.task_id}-{words[1]}", env=parent.env, instruction=text,
                split="val" if words[1] == "green" else "train", spec={**parent.spec, "goal": words[1]},
                source="generated", parent_task_id=parent.task_id)


def reset(task):
    if task.spec["goal"] == "pink":
        raise DreamGymError("no pink object in this world")
    return f"you see a {task.spec['goal']} thing"


def _check(text, known=()):
    written = parse_task_text(text)
    return check_task(PARENT, written, grammar, set(known), {task_key(HELD)}, reset)


def test_each_bad_task_is_rejected_and_a_good_one_accepted():
    v, _ = _check("fetch red</gen>")  # the parent's own instruction
    assert not v.accepted and v.reason == "same as parent"
    v, _ = _check("fetch</gen>")
    assert v.reason == "malformed" and "fetch <colour>" in v.detail
    v, _ = _check("fetch blue")  # no </gen>: the model did not finish the task
    assert v.reason == "malformed" and isinstance(parse_task_text("fetch blue"), ParseFailure)
    v, _ = _check("fetch blue</gen>")  # the test task's spec
    assert v.reason == "held out"
    v, _ = _check("fetch green</gen>")  # the env's rule puts it in val
    assert v.reason == "held out" and "val" in v.detail
    v, _ = _check("fetch pink</gen>")
    assert v.reason == "infeasible" and "no pink" in v.detail
    v, _ = _check("fetch   red </gen>")
    assert v.reason == "same as parent"  # whitespace does not make a new task
    other = Task(task_id="w-s2", env="e", instruction="fetch green", split="train", spec={"seed": 1})
    v, first = check_task(other, "fetch red", grammar, set(), set(), reset)
    assert v.accepted and first == "you see a red thing" and v.task.parent_task_id == "w-s2"
    again, _ = check_task(other, "fetch red", grammar, {task_key(v.task)}, set(), reset)
    assert again.reason == "duplicate"
    v, _ = check_task(other, "fetch red", None, set(), set(), reset)
    assert v.reason == "no grammar"
    c = counts([v, again])
    assert c["written"] == 2 and c["no_grammar"] == 1 and c["duplicate"] == 1 and c["accepted"] == 0
