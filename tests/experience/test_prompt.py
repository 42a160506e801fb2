"""The experience model's prompt (PromptSpec): exact layout, the ablation switches, the budget order, at most k
references, references' truncation dones relabelled like targets, and prompts of real rows within budget. The
env is BabyAI (its abstraction is tested in tests/envs/babyai/); nothing here depends on its rules."""

from __future__ import annotations

import re

import pytest

from dreamgym.config import ExperienceConfig
from dreamgym.envs import EnvSpec, get_spec
from dreamgym.envs.text import ELLIPSIS
from dreamgym.errors import DreamGymError
from dreamgym.experience.format import parse_target
from dreamgym.experience.prompt import MAX_ACTION_CHARS, PROMPT_END, PromptSpec, RetrievalQuery, truncated_done

HIST = [(f"There is a red ball 1, {k} steps in front of you and 1 steps to your right. You are not carrying "
         "anything.", "move forward") for k in (6, 5, 4)]
REFS = [dict(state="There is a red ball 1, 2 steps in front of you and 1 steps to your right. You are not carrying "
             "anything.", action="move forward", next_state="There is a red ball 1, 1 steps in front of you and 1 "
             "steps to your right. You are not carrying anything.", reward=0.0, done=False, valid_action=True),
        dict(state="You see no objects. You are not carrying anything.", action="drop",
             next_state="You cannot drop: you are not carrying anything. You see no objects. You are not carrying "
             "anything.", reward=0.0, done=False, valid_action=False)]
CUR = "There is a red ball 1, 3 steps in front of you and 1 steps to your right. You are not carrying anything."
CUR_TEXT = "<obs>red ball 1: 3 ahead 1 right; carrying nothing</obs><act>move forward</act>\n"  # ends on a line break


def _spec(**kw) -> PromptSpec:
    args = dict(env=get_spec("babyai"), history_window=2, k=len(REFS), budget=3072, state_budget=600,
                with_reasoning=True, max_steps=None) | kw
    return PromptSpec(**args)


def _prompt(task_text="go to the red ball", history=HIST, retrieved=REFS, state=CUR, action="move forward", **kw):
    return _spec(**kw).prompt(task_text, history, retrieved, state, action)


def test_prompt_layout_and_determinism():
    p = _prompt()
    assert p == _prompt()
    assert p == ("<task>go to the red ball</task>"
                 "<ref><obs>red ball 1: 2 ahead 1 right; carrying nothing</obs><act>move forward</act><valid>1</valid>"
                 "<next>red ball 1: 1 ahead 1 right; carrying nothing</next><reward>0</reward><done>0</done></ref>"
                 "<ref><obs>no objects; carrying nothing</obs><act>drop</act><valid>0</valid><next>You cannot drop: "
                 "you are not carrying anything; no objects; carrying nothing</next><reward>0</reward><done>0</done>"
                 "</ref><hist><obs>red ball 1: 5 ahead 1 right; carrying nothing</obs><act>move forward</act>"
                 "<obs>red ball 1: 4 ahead 1 right; carrying nothing</obs><act>move forward</act></hist>" + CUR_TEXT)


def test_prompt_ablations():
    full = _prompt()
    no_hist = _prompt(history_window=0)
    no_refs = _prompt(retrieved=[])
    assert "<hist>" in full and "<hist>" not in no_hist and "<ref>" in no_hist
    assert "<ref>" not in no_refs and "<hist>" in no_refs
    assert _prompt(k=0) == no_refs  # k = 0 is the no-retrieval ablation whatever the retriever returned
    assert re.sub(r"<ref>.*?</ref>", "", full, flags=re.S) == no_refs  # switches remove exactly their block
    assert re.sub(r"<hist>.*?</hist>", "", full, flags=re.S) == no_hist
    assert _prompt(history_window=0, retrieved=[]) == "<task>go to the red ball</task>" + CUR_TEXT
    assert _prompt(history_window=5).count("<obs>") == 2 + 3 + 1  # 2 refs, all 3 history steps, current
    dicts = [{"state": s, "action": a, "next_state": "x"} for s, a in HIST]
    assert _prompt(history=dicts) == full  # Step-like dicts and (state, action, next_state) tuples work alike
    assert _prompt(history=[(s, a, "x") for s, a in HIST]) == full
    with pytest.raises(DreamGymError, match=r"retrieved\[0\] has no 'valid_action'"):
        _prompt(retrieved=[{k: v for k, v in REFS[0].items() if k != "valid_action"}])
    with pytest.raises(DreamGymError, match=r"history\[0\] must be"):
        _prompt(history=["just a string"])


@pytest.mark.parametrize("field,value", [("history_window", -1), ("k", -1)])
def test_spec_rejects_negative_windows(field, value):
    with pytest.raises(DreamGymError, match=f"{field}.*must be >= 0, got -1"):
        _spec(**{field: value})


def test_prompt_shows_at_most_k_references():
    many = REFS * 3
    assert _prompt(retrieved=many, k=1).count("<ref>") == 1
    assert _prompt(retrieved=many, k=4).count("<ref>") == 4
    assert _prompt(retrieved=many, k=1) == _prompt(retrieved=REFS[:1], k=1)  # the first k, in rank order
    assert _prompt(retrieved=many, k=10).count("<ref>") == 6


def test_reference_done_is_relabelled_like_targets():
    def ref(done, success, t, reward=None):
        return dict(REFS[0], done=done, success=success, t=t, reward=float(success) if reward is None else reward)

    def shown_done(row, max_steps):
        body = _prompt(retrieved=[row], k=1, history_window=0, max_steps=max_steps)
        return re.findall(r"<done>(\d)</done>", body)

    assert shown_done(ref(True, False, 63), 64) == ["0"]  # a failed episode's done at the step limit: truncation
    assert shown_done(ref(True, True, 63), 64) == ["1"]  # success at the limit is a real done
    assert shown_done(ref(True, False, 10), 64) == ["1"]  # before the limit: the env ended it
    assert shown_done(ref(True, False, 63), None) == ["1"]  # no max_steps: as recorded
    assert shown_done(ref(False, False, 63), 64) == ["0"]
    assert shown_done(dict(REFS[0], done=True), 64) == ["1"]  # no t: step 0, not at the limit


def test_truncated_done_rule():
    assert truncated_done(True, False, 63, 64) is False
    assert truncated_done(True, False, 70, 64) is False
    assert truncated_done(True, True, 63, 64) is True
    assert truncated_done(True, False, 62, 64) is True
    assert truncated_done(True, False, 63, None) is True
    assert truncated_done(False, False, 63, 64) is False


@pytest.mark.parametrize("budget", [120, 200, 300, 400, 3072])
def test_prompt_budget_drops_refs_then_history(budget):
    p = _prompt(budget=budget)
    assert len(p) <= budget
    assert p.endswith(CUR_TEXT)
    if "<ref>" in p:
        assert "<hist>" in p  # history is kept before references
    assert p.count("<ref>") <= 2


def test_prompt_budget_errors_and_task_lines():
    with pytest.raises(DreamGymError, match="cannot hold the current state"):
        _prompt(budget=60)
    with pytest.raises(DreamGymError, match="below the minimum"):
        _prompt(state_budget=3)
    task = "craft chest\n" + "\n".join(f"craft {i} thing{i} using 1 stuff" for i in range(50))
    p = _prompt(task_text=task, budget=400, retrieved=[], history_window=0)
    assert len(p) <= 400 and p.startswith("<task>craft chest\ncraft 0 thing0 using 1 stuff\n")
    body = p.split("</task>")[0]
    assert body.endswith(ELLIPSIS) and all(line.startswith(("craft", ELLIPSIS)) for line in body.split("\n")[1:])
    tagged = _prompt(state=CUR + " <done>", retrieved=[], history_window=0)
    assert tagged.count("<done>") == 0


def test_spec_texts_query_target_and_config():
    spec = _spec(max_steps=64)
    assert spec.abstract(CUR) == spec.abstract(spec.abstract(CUR)) == "red ball 1: 3 ahead 1 right; carrying nothing"
    assert spec.action("  move\n forward <act> ") == "move forward"
    assert len(spec.action("x" * 500)) == MAX_ACTION_CHARS
    assert spec.task_text("  go to\nthe red ball ") == "go to the red ball"
    assert spec.query(CUR, " move  forward", "ep", "task") == RetrievalQuery(spec.abstract(CUR), "move forward",
                                                                              "ep", "task", "train")
    target = spec.target("why", True, "s", 1.0, True)
    assert target.startswith("<think>why</think>") and spec.parse(target).ok
    bare = _spec(with_reasoning=False)
    assert bare.target("why", True, "s", 0.0, False) == "<valid>1</valid><next>s</next><reward>0</reward><done>0</done>"
    assert not bare.parse(target).ok and not spec.parse(bare.target("", True, "s", 0.0, False)).ok
    assert parse_target(target).next_state == "s"
    cfg = ExperienceConfig(history_window=3, k=2, prompt_budget=999, state_budget=150, with_reasoning=False)
    assert PromptSpec.from_config(cfg, get_spec("babyai"), max_steps=7) == PromptSpec(
        get_spec("babyai"), history_window=3, k=2, budget=999, state_budget=150, with_reasoning=False, max_steps=7)


def test_spec_settings_round_trip_and_order():
    spec = _spec(max_steps=64, target_order="decisions_first")
    d = spec.to_dict()
    assert d["env"] == "babyai" and d["target_order"] == "decisions_first"
    assert PromptSpec.from_dict(d, get_spec("babyai")) == spec
    assert PromptSpec.from_dict({"env": "babyai", **{k: v for k, v in d.items() if k != "target_order"}},
                                get_spec("babyai")).target_order == "next_first"  # an older checkpoint
    with pytest.raises(DreamGymError, match="not 'textcraft'"):
        PromptSpec.from_dict(d, get_spec("textcraft"))
    with pytest.raises(DreamGymError, match="unknown key"):
        PromptSpec.from_dict({**d, "colour": 1}, get_spec("babyai"))
    target = spec.target("why", True, "s", 0.0, False)
    assert target.endswith("<done>0</done><next>s</next>") and spec.stop == "</next>" and spec.parse(target).ok
    ref = spec.reference({"state": "s", "action": "a", "next_state": "t", "reward": 0.0, "done": False,
                          "valid_action": True})
    assert "<done>0</done><next>t</next>" in ref  # references are written in the target's order
    assert PromptSpec.from_config(ExperienceConfig(target_order="decisions_first"), get_spec("babyai")).stop == "</next>"


def test_a_spec_with_the_generic_defaults():
    plain = _spec(env=EnvSpec("plain", "nowhere:Unbuilt"), state_budget=100)  # the class is never imported here
    assert plain.abstract("a  b\n\n c") == "a b\nc"
    assert plain.task_text("  open\n the  box ", "ignored first observation") == "open the box"
    assert plain.prompt("open the box", [("a  b", "push")], [], "c\n\nd", "pull") == (
        "<task>open the box</task><hist><obs>a b</obs><act>push</act></hist><obs>c\nd</obs><act>pull</act>\n")


def test_the_prompt_ends_on_a_token_boundary_for_a_tokenizer_without_tag_tokens(fast_rows):
    """A byte-level BPE whose tags are plain text (as a pretrained model's are) merges "</act>" with the target's
    first "<"; the prompt's line break keeps the prompt's tokens a prefix of prompt + target, as generation
    continues them. A checkpoint written before prompt_end existed keeps prompting as it was trained."""
    from dreamgym.experience.examples import build_examples
    from dreamgym.models.tokenizer import train_tokenizer

    steps, tasks = fast_rows["babyai"]
    spec = _spec(history_window=0, k=0, max_steps=64)
    ex = build_examples(steps, tasks, spec).head(200)
    tok = train_tokenizer([*ex["prompt"], *ex["completion"]], vocab_size=600)  # no special tokens: tags are text

    def prefix_kept(end: str) -> float:
        ok = [tok(p.removesuffix("\n") + end + c).input_ids[: len(tok(p.removesuffix("\n") + end).input_ids)]
              == tok(p.removesuffix("\n") + end).input_ids for p, c in zip(ex["prompt"], ex["completion"], strict=True)]
        return sum(ok) / len(ok)

    assert prefix_kept(PROMPT_END) == 1.0 and prefix_kept("") < 0.5  # "><" is one token without the break
    old = {k: v for k, v in spec.to_dict().items() if k != "prompt_end"}
    assert PromptSpec.from_dict(old, get_spec("babyai")).prompt_end == ""
    assert PromptSpec.from_dict(spec.to_dict(), get_spec("babyai")).prompt_end == PROMPT_END


def test_prompt_on_real_rows_within_budget(fast_rows):
    for env, (steps, tasks) in fast_rows.items():
        instr = dict(zip(tasks["task_id"], tasks["instruction"], strict=True))
        first = dict(zip(steps.loc[steps["t"] == 0, "episode_id"], steps.loc[steps["t"] == 0, "state"], strict=True))
        rows = steps.head(60).to_dict("records")
        for budget in (300, 1024):
            spec = PromptSpec(get_spec(env), history_window=2, k=2, budget=budget, state_budget=200,
                              with_reasoning=True, max_steps=64)
            for i, r in enumerate(rows):
                hist = [x for x in rows[max(0, i - 3):i] if x["episode_id"] == r["episode_id"]]
                task_text = spec.task_text(instr[r["task_id"]], first.get(r["episode_id"]))
                p = spec.prompt(task_text, hist, rows[:2], r["state"], r["action"])
                assert len(p) <= budget and p.startswith("<task>") and p.endswith("</act>\n")
