"""SyntheticEnv: the TextEnv contract over an experience model (the env's observation, task block and derived
action list); garbage outputs never crash a rollout and are recorded as parse failures."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dreamgym.data.schema import Task
from dreamgym.envs import get_spec
from dreamgym.errors import DreamGymError
from dreamgym.experience.format import STOP, format_target
from dreamgym.experience.prompt import PromptSpec
from dreamgym.experience.synthetic import ExperienceModel, Query, SyntheticEnv
from dreamgym.models import Generator, load_model


@dataclass
class _Gen:
    text: str


class ScriptedGenerator:
    """Stands in for Generator (pure logic): answers each prompt with `answer(prompt, call)`."""

    def __init__(self, answer):
        self.answer, self.calls, self.batches = answer, 0, []
        self.stop_strings, self.max_new_tokens, self.batch_size, self.seed = (STOP,), 64, 8, 0
        self.model = self.tokenizer = None

    def generate(self, prompts):
        self.calls += 1
        self.batches.append(len(prompts))
        return [_Gen(self.answer(p, self.calls)) for p in prompts]


TASK = Task(task_id="babyai/t0", env="babyai", instruction="go to the red ball", split="train")
RAW_FIRST = "There is a red ball 1, right in front of you 2 steps away. You are not carrying anything."


def _spec(env: str = "babyai", **kw) -> PromptSpec:
    args = dict(history_window=2, k=0, budget=3072, state_budget=600, with_reasoning=True) | kw
    return PromptSpec(get_spec(env), **args)


def make_env(answer, retry_answer=None, max_steps=5, first="red ball 1: 2 ahead", **env_kw):
    gen = ScriptedGenerator(answer)
    retry = ScriptedGenerator(retry_answer or answer)
    xm = ExperienceModel(gen, _spec(), retry_generator=retry, version="xm-test")
    env = SyntheticEnv(xm, [TASK], initial_state=lambda task: first, max_steps=max_steps, **env_kw)
    return env, gen, retry


def test_predicted_transitions_drive_the_env_and_are_recorded():
    def answer(prompt, call):
        done = "go to red ball" in prompt
        return format_target("why", True, "red ball 1: 1 ahead" if not done else "red ball 1: 0 ahead",
                             1.0 if done else 0.0, done) + "</s>"

    env, gen, _ = make_env(answer)
    assert env.reset(TASK) == "red ball 1: 2 ahead"
    obs, r, done, info = env.step("move forward")
    assert (obs, r, done, info["valid_action"], info["parse_failed"]) == ("red ball 1: 1 ahead", 0.0, False, True,
                                                                          False)
    obs, r, done, info = env.step("go to red ball 1")
    assert (r, done, info["success"]) == (1.0, True, True)
    steps = env.drain_steps()
    assert [s.t for s in steps] == [0, 1]
    assert all(s.source == "synthetic" and s.model_version == "xm-test" for s in steps)
    assert steps[1].success and steps[1].reasoning == "why" and env.drain_steps() == []
    assert gen.calls == 2


def test_garbage_output_is_retried_once_then_an_invalid_transition():
    env, gen, retry = make_env(lambda p, c: "<think>oops no tags", max_steps=3)
    env.reset(TASK)
    for _ in range(3):
        obs, r, done, info = env.step("move forward")
        assert (obs, r, info["valid_action"], info["parse_failed"], info["attempts"]) == (
            "red ball 1: 2 ahead", 0.0, False, True, 2)
    assert done and info["truncated"]  # the step limit still ends the episode
    stats = dict(env.model.stats)
    assert stats.pop("seconds") >= 0.0  # wall time spent predicting, read by the loop's timings
    assert stats == {"predictions": 3, "retries": 3, "parse_failures": 3}
    rows = env.drain_steps()
    assert [(r.parse_failure, r.reasoning) for r in rows] == [("unclosed <think>", "")] * 3
    assert all(not r.valid_action and r.reward == 0.0 and r.next_state == r.state for r in rows) and rows[-1].done
    # a retry that parses rescues the step
    env, _, _ = make_env(lambda p, c: "garbage", lambda p, c: format_target("ok", False, "x", 0.0, False))
    env.reset(TASK)
    _, _, _, info = env.step("fly")
    assert (info["valid_action"], info["parse_failed"], info["attempts"]) == (False, False, 2)


def test_step_batch_makes_one_model_call_for_many_episodes():
    env0, gen, _ = make_env(lambda p, c: format_target("", True, "s", 0.0, False))
    envs = [env0] + [SyntheticEnv(env0.model, [TASK], initial_state=lambda t: "red ball 1: 2 ahead")
                     for _ in range(3)]
    for e in envs:
        e.reset(TASK)
    results = SyntheticEnv.step_batch(envs, ["move forward"] * 4)
    assert gen.batches == [4] and [r.observation for r in results] == ["s"] * 4
    with pytest.raises(DreamGymError, match="4 envs but 3 actions"):
        SyntheticEnv.step_batch(envs, ["a"] * 3)


def test_a_real_untrained_model_emitting_garbage_never_crashes(tmp_path):
    model, tok = load_model("tiny", None, tmp_path, tokenizer_texts=["red ball 1: 2 ahead move forward"] * 30,
                            tiny_kwargs={"hidden_size": 32, "num_layers": 1, "num_heads": 2},
                            tokenizer_kwargs={"vocab_size": 300})
    xm = ExperienceModel(Generator(model, tok, max_new_tokens=16), _spec())
    envs = [SyntheticEnv(xm, [TASK], initial_state=lambda t: "red ball 1: 2 ahead", max_steps=4) for _ in range(3)]
    for e in envs:
        e.reset(TASK)
    for _ in range(4):
        live = [e for e in envs if not e.done]
        if not live:
            break
        for r in SyntheticEnv.step_batch(live, ["move forward"] * len(live)):
            assert r.reward == 0.0 and isinstance(r.observation, str)
    assert all(e.done for e in envs) and xm.stats["parse_failures"] == xm.stats["predictions"]
    mine = Generator(model, tok, max_new_tokens=16)
    assert ExperienceModel(mine, _spec()).generator.stop_strings == (STOP,) and mine.stop_strings == ()


def test_observation_task_block_and_actions_come_from_the_spec():
    spec = get_spec("babyai")

    def answer(prompt, call):  # the model writes a raw observation: the env shows its abstract state
        return format_target("", True, RAW_FIRST, 0.0, False)

    env, gen, _ = make_env(answer, first=RAW_FIRST, env_kwargs={"action_set": "primitive"})
    assert env.list_tasks("train") == [TASK] and env.list_tasks("val") == []
    obs = env.reset(TASK)
    assert obs == env.observe(RAW_FIRST) == spec.observe(RAW_FIRST, 600) == "red ball 1: 2 ahead; carrying nothing"
    assert env.task_text == spec.task_text(TASK.instruction, RAW_FIRST) and env.has_action_list
    assert env.available_actions() == spec.admissible(env.task_text, obs, {"action_set": "primitive"})
    assert env.available_actions() == ["turn left", "turn right", "move forward"]
    macro, _, _ = make_env(answer, first=RAW_FIRST)
    macro.reset(TASK)
    assert "go to red ball 1" in macro.available_actions() and macro.env_kwargs == {}
    obs, _, _, _ = env.step("move forward")
    assert obs == spec.observe(RAW_FIRST, 600)
    q = env.query(" turn left ")
    assert q == Query(env.task_text, [("red ball 1: 2 ahead; carrying nothing", "move forward")], obs, "turn left",
                      env.episode_id, "train", TASK.task_id)
    assert gen.batches == [1]
    while not env.done:
        env.step("turn left")
    assert env.available_actions() == []  # no running episode: an empty list where the env has one
    crafting = SyntheticEnv(ExperienceModel(ScriptedGenerator(answer), _spec("textcraft"),
                                            retry_generator=ScriptedGenerator(answer)),
                            [Task(task_id="textcraft/t0", env="textcraft", instruction="craft chest", split="val")],
                            initial_state=lambda t: "Goal: craft chest.")
    crafting.reset(crafting.list_tasks("val")[0])
    assert crafting.available_actions() is None and not crafting.has_action_list
    with pytest.raises(DreamGymError, match="no initial state"):
        SyntheticEnv(env.model, [TASK], initial_state=lambda t: " ").reset(TASK)
