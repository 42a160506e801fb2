"""Seed collection: exact policy counts, a deterministic plan, byte-identical parquet, real episodes."""

import random

import pytest

from dreamgym.config import SeedDataConfig
from dreamgym.data import io
from dreamgym.data.collect import choose_action, plan_episodes, policy_counts, success_rates
from dreamgym.data.seed import collect_seed, seed_summary
from dreamgym.envs import make_env
from dreamgym.errors import UnknownNameError


@pytest.mark.parametrize("n", [0, 1, 7, 10, 33])
def test_policy_counts_sum_exactly(n):
    counts = policy_counts(n, {"expert": 0.5, "noisy": 0.3, "random": 0.2})
    assert sum(counts.values()) == n
    assert all(abs(c - n * s) < 1 for c, s in zip(counts.values(), (0.5, 0.3, 0.2), strict=True))


@pytest.fixture(scope="module")
def env():
    with make_env("textcraft") as e:
        yield e


def test_plan_is_deterministic_and_split(env):
    mix = {"expert": 0.5, "noisy": 0.3, "random": 0.2}
    a = plan_episodes(env, 20, mix, 0.25, 1, seed=3)
    b = plan_episodes(env, 20, mix, 0.25, 1, seed=3)
    assert a == b
    assert sum(p.task.split == "val" for p in a) == 5
    assert {p.policy for p in a} == {"expert", "noisy", "random"}
    assert plan_episodes(env, 20, mix, 0.25, 1, seed=4) != a  # the seed matters


def test_unknown_policy_is_a_clear_error(env):
    env.reset(env.list_tasks("train", n=1)[0])
    with pytest.raises(UnknownNameError, match="unknown collection policy 'greedy'"):
        choose_action(env, "greedy", random.Random(0), 0.1)


def test_collect_is_deterministic_to_the_byte(env, tmp_path):
    cfg = SeedDataConfig(envs=["textcraft"], episodes={"textcraft": 12}, n_test_tasks=3)
    s1, t1 = collect_seed(env, 12, cfg, seed=0)
    s2, t2 = collect_seed(env, 12, cfg, seed=0)
    p1 = io.write_steps(s1, tmp_path / "a" / "steps.parquet")
    p2 = io.write_steps(s2, tmp_path / "b" / "steps.parquet")
    assert p1.read_bytes() == p2.read_bytes()
    assert [t.task_id for t in t1] == [t.task_id for t in t2]
    assert {t.split for t in t1} == {"train", "val", "test"}
    rates = success_rates(s1)
    assert rates["expert"] == 1.0 and set(rates) == {"expert", "noisy", "random"}
    m = seed_summary(io.read_table(p1), "textcraft")
    assert m["data/textcraft/episodes"] == 12 and m["data/textcraft/success_rate/expert"] == 1.0


def test_tasks_roundtrip(tmp_path, good_tasks):
    path = io.write_tasks(good_tasks, tmp_path / "tasks.parquet")
    assert io.read_tasks(path) == good_tasks


def test_test_episodes_leave_the_train_and_val_plan_as_it_was(env):
    mix = {"expert": 0.5, "noisy": 0.3, "random": 0.2}
    base = plan_episodes(env, 20, mix, 0.25, 1, seed=3)
    more = plan_episodes(env, 20, mix, 0.25, 1, seed=3, n_test=6)
    assert more[:20] == base and [p.task.split for p in more[20:]] == ["test"] * 6
    assert all(p.episode_id.startswith("textcraft-test-") for p in more[20:])
    assert not {p.task.task_id for p in more[20:]} & {p.task.task_id for p in base}


def test_invalid_actions_at_a_documented_rate():
    """The noisy and random collectors take an action the env names as not valid at about `invalid_rate` of their
    steps; the expert never does, and with rate 0 nothing changes."""
    cfg = SeedDataConfig(envs=["babyai"], episodes={"babyai": 30}, n_test_tasks=0, invalid_rate=0.2,
                         policy_mix={"expert": 0.0, "noisy": 0.0, "random": 1.0})
    with make_env("babyai", levels=["PickupLoc"], action_set="primitive", max_steps=20) as e:
        steps, _ = collect_seed(e, 30, cfg, seed=0)
        clean, _ = collect_seed(e, 30, cfg.model_copy(update={"invalid_rate": 0.0}), seed=0)
        expert, _ = collect_seed(e, 10, cfg.model_copy(update={"policy_mix": {"expert": 1.0, "noisy": 0.0,
                                                                             "random": 0.0}}), seed=0)
        e.reset(e.list_tasks("train", n=1)[0])
        bad = e.invalid_action(random.Random(0))
        assert bad is not None and bad not in e.available_actions()
    invalid = sum(not s.valid_action for s in steps) / len(steps)
    assert 0.12 < invalid < 0.3, invalid  # 0.2 of the steps, plus the primitive set never lists a blocked move
    assert sum(not s.valid_action for s in clean) == 0 and all(s.valid_action for s in expert)
    assert all(s.reward == 0 for s in steps if not s.valid_action)
