"""ScienceWorld's rules (dreamgym.envs.scienceworld.rules): the rule-based annotator and the context rule, on
hand-written and real transitions."""

from __future__ import annotations

from envutil import SW_ROWS, check_rationale

from dreamgym.envs import get_spec
from dreamgym.envs.scienceworld.rules import annotate, determined

SPEC = get_spec("scienceworld")



def _check_rationale(row, instruction=""):
    return check_rationale(SPEC, row, instruction)


# ---- annotator (copied from tests/experience/test_annotators.py, against the spec) ---------------------------------
def test_scienceworld_rationales():
    sw = [_check_rationale(r) for r in SW_ROWS]
    assert "no known action matches" in sw[0]
    assert "moves from the hallway to the kitchen" in sw[1].lower() and "Inventory gains thermometer" in sw[2]
    assert sw[1] == "Valid. Moves from the hallway to the kitchen. Goal not reached yet: reward 0."
    assert sw[3] == "Valid. Effect: You focus on the water. Goal reached: reward 1, done."


def test_annotator_reads_raw_and_abstract_alike():
    raw = ("This room is called the hallway. In it, you see:\nthe agent\na substance called air\na picture\n"
           "You also see:\nA door to the kitchen (that is open)\n[Location: hallway. Inventory: an orange]")
    for row in SW_ROWS:
        args = (row["action"], row["reward"], row["done"], row["valid_action"])
        assert annotate(row["state"], args[0], row["next_state"], *args[1:]) == annotate(
            SPEC.observe(row["state"]), args[0], SPEC.observe(row["next_state"]), *args[1:])
    look = annotate(SW_ROWS[0]["state"], "look around", raw, 0.0, False, True)
    assert look == annotate(SW_ROWS[0]["state"], "look around", SPEC.observe(raw), 0.0, False, True)
    assert look == "Valid. Looking lists the room's contents. Nothing changes. Goal not reached yet: reward 0."
    again = annotate(SW_ROWS[0]["state"], "open door", "The door is already open.\n[Location: hallway. Inventory: "
                     "an orange]", 0.0, False, True)
    assert again.startswith("Valid. No effect: The door is already open.")
    heated = annotate("x\n[Location: kitchen. Inventory: a metal pot (containing water)]", "wait",
                      "x\n[Location: kitchen. Inventory: a metal pot (containing steam)]", 0.0, False, True)
    assert "The metal pot in the inventory changes state." in heated


def test_annotator_on_real_rows(sw_transitions):
    notes = [_check_rationale(dict(state=t.state, action=t.action, next_state=t.next_state, reward=t.reward,
                                   done=t.done, valid_action=t.valid_action), t.instruction) for t in sw_transitions]
    assert any(not t.valid_action for t in sw_transitions) and any(t.reward > 0 for t in sw_transitions)
    assert notes == [annotate(t.state, t.action, t.next_state, t.reward, t.done, t.valid_action,
                              {"instruction": t.instruction}) for t in sw_transitions]  # deterministic


# ---- context rule (copied from tests/experience/test_examples.py, against the spec) --------------------------------
def test_scienceworld_rule():
    def det(context, state, action, next_state, valid):
        return SPEC.determined([SPEC.observe(c) for c in context], SPEC.observe(state), action,
                               SPEC.observe(next_state), valid)

    hall = "The door is now open.\n[Location: hallway. Inventory: an orange, a thermometer]"
    assert det([], hall, "go to kitchen",
               "You move to the kitchen.\n[Location: kitchen. Inventory: an orange, a thermometer]", True)
    assert not det([], hall, "use thermometer on orange",
                   "the thermometer measures a temperature of 21 degrees celsius\n"
                   "[Location: hallway. Inventory: an orange, a thermometer]", True)  # a new number
    assert not det([], hall, "look around",
                   "This room is called the hallway. In it, you see:\nthe agent\na picture\n"
                   "[Location: hallway. Inventory: an orange, a thermometer]", True)
    assert det(["In the hallway you see:\na picture\n[Location: hallway. Inventory: an orange, a thermometer]"], hall,
               "look around", "This room is called the hallway. In it, you see:\na picture\n"
               "[Location: hallway. Inventory: an orange, a thermometer]", True)
    assert det([], hall, "fly", "No known action matches that input.\n"
               "[Location: hallway. Inventory: an orange, a thermometer]", False)


def test_rule_reads_the_task_block_and_history_as_context():
    state = SPEC.observe("You move to the kitchen.\n[Location: kitchen. Inventory: an orange]")
    nxt = SPEC.observe("You focus on the ice cream.\n[Location: kitchen. Inventory: an orange]")
    assert not determined([], state, "focus on it", nxt, True)
    assert determined([SPEC.task_text("Your task is to boil ice cream.")], state, "focus on it", nxt, True)
    assert determined([], state, "focus on ice cream", nxt, True)


def test_rule_on_real_rows(sw_transitions):
    flags = []
    for i, t in enumerate(sw_transitions):
        hist = [SPEC.observe(h.state) for h in sw_transitions[max(0, i - 2):i] if h.instruction == t.instruction]
        flags.append(determined([SPEC.task_text(t.instruction), *hist], SPEC.observe(t.state), t.action,
                                SPEC.observe(t.next_state), t.valid_action))
    assert 0.0 < sum(flags) / len(flags) < 1.0
