"""A real env and a SyntheticEnv are swappable for the policy: the same first-step prompt byte for byte, the
same action list, and the tiny score-mode policy running unchanged in both. The experience model's training
prompt and inference prompt of a transition are the same text."""

from __future__ import annotations

import pytest

from dreamgym.buffer import ReplayBuffer, make_embedder
from dreamgym.config import ExperienceConfig, PolicyConfig
from dreamgym.data.schema import Task
from dreamgym.envs import get_spec, make_env
from dreamgym.experience.examples import build_examples
from dreamgym.experience.prompt import PromptSpec
from dreamgym.experience.retrieval import buffer_retriever
from dreamgym.experience.synthetic import ExperienceModel, Query, SyntheticEnv
from dreamgym.models import Generator, load_model
from dreamgym.policy.checkpoint import make_agent
from dreamgym.policy.rollout import rollout

TEXTS = ["red ball 1: 2 ahead move forward turn left pick up craft get Inventory Goal"] * 30


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    cache = tmp_path_factory.mktemp("tiny")
    return load_model("tiny", None, cache, tokenizer_texts=TEXTS,
                      tiny_kwargs={"hidden_size": 32, "num_layers": 1, "num_heads": 2, "max_position_embeddings": 1024},
                      tokenizer_kwargs={"vocab_size": 300})


def _spec(env: str, **kw) -> PromptSpec:
    cfg = ExperienceConfig(**kw)
    return PromptSpec.from_config(cfg, get_spec(env), max_steps=64)


def _agent(mode: str, env_name: str, tmp_path, texts):
    cfg = PolicyConfig(env=env_name, mode=mode, model={"hidden_size": 32, "num_layers": 1, "num_heads": 2,
                                                       "vocab_size": 300, "max_positions": 512})
    return make_agent(cfg, tmp_path / "cache", texts=texts)


@pytest.mark.parametrize("env_name,kwargs,mode", [("babyai", {"action_set": "primitive", "levels": ["PickupLoc"]},
                                                   "score"),
                                                  ("babyai", {"levels": ["GoToLocal"]}, "generate"),
                                                  ("textcraft", {}, "generate")])
def test_first_step_prompt_is_byte_identical_real_and_synthetic(env_name, kwargs, mode, tiny, tmp_path):
    model, tok = tiny
    real = make_env(env_name, **kwargs)
    tasks = real.list_tasks("val", n=4)
    first = {t.task_id: real.reset(t) for t in tasks}
    agent = _agent(mode, env_name, tmp_path, TEXTS)
    xm = ExperienceModel(Generator(model, tok, max_new_tokens=8), _spec(env_name))
    syn = SyntheticEnv(xm, tasks, initial_state=lambda t: first[t.task_id], env_kwargs=kwargs)
    for task in tasks:
        [r] = rollout(agent, [real], [task], horizon=1, greedy=True)
        [s] = rollout(agent, [syn], [task], horizon=1, greedy=True)
        assert s.turns[0].decision.prompt == r.turns[0].decision.prompt
        assert s.turns[0].decision.candidates == r.turns[0].decision.candidates
        real.reset(task)
        syn.reset(task)
        assert syn.available_actions() == real.available_actions()
        assert syn.task_text == real.task_text and syn.observe(first[task.task_id]) == real.observe(first[task.task_id])
    if env_name == "textcraft":
        assert "craft" in real.task_text.splitlines()[-1]  # the recipes ride in the task block in both


def test_a_score_mode_policy_episode_runs_in_a_synthetic_env(tiny, tmp_path):
    model, tok = tiny
    kwargs = {"action_set": "primitive", "levels": ["PickupLoc"]}
    real = make_env("babyai", **kwargs)
    tasks = real.list_tasks("train", n=2)
    first = {t.task_id: real.reset(t) for t in tasks}
    xm = ExperienceModel(Generator(model, tok, max_new_tokens=8), _spec("babyai"), version="xm-untrained")
    envs = [SyntheticEnv(xm, tasks, initial_state=lambda t: first[t.task_id], max_steps=5, env_kwargs=kwargs)
            for _ in tasks]
    agent = _agent("score", "babyai", tmp_path, TEXTS)
    eps = rollout(agent, envs, tasks, horizon=3)
    assert all(ep.steps == 3 for ep in eps)  # the untrained model never ends an episode
    for ep in eps:
        assert all(t.decision.action in t.decision.candidates for t in ep.turns)
    rows = [s for e in envs for s in e.drain_steps()]
    assert len(rows) == 6 and all(s.source == "synthetic" and s.model_version == "xm-untrained" for s in rows)
    assert all(s.parse_failure and not s.reasoning and not s.valid_action for s in rows)


def test_training_prompt_equals_inference_prompt(tmp_path, babyai_rows, tiny):
    steps, tasks = babyai_rows
    buf = ReplayBuffer(tmp_path / "db", "transitions", make_embedder("hashing", dim=64))
    buf.seed(steps)
    spec = _spec("babyai", history_window=2, k=2)
    retriever = buffer_retriever(buf, "babyai", k=spec.k)
    ex = build_examples(steps, tasks, spec, retriever=retriever)
    assert ex["prompt"].str.contains("<ref>").any() and ex["prompt"].str.contains("<hist>").any()
    model, tok = tiny
    xm = ExperienceModel(Generator(model, tok, max_new_tokens=8), spec, retriever=retriever)
    instr = dict(zip(tasks["task_id"], tasks["instruction"], strict=True))
    checked = 0
    for ep_id, ep in steps.sort_values(["episode_id", "t"]).groupby("episode_id"):
        task = Task.from_row(tasks[tasks["task_id"] == ep["task_id"].iloc[0]].iloc[0].to_dict())
        task_text = spec.task_text(instr[task.task_id], str(ep["state"].iloc[0]))
        hist: list[tuple[str, str]] = []
        for r in ep.itertuples():
            q = Query(task_text, list(hist), spec.abstract(r.state), str(r.action), str(ep_id), str(r.split),
                      task.task_id)
            want = ex[(ex["episode_id"] == ep_id) & (ex["t"] == r.t)]["prompt"].iloc[0]
            assert xm.prompt(q) == want
            hist.append((spec.abstract(r.state), str(r.action)))
            checked += 1
        if checked > 40:
            break
    assert checked > 40
