"""Helpers of the policy tests (imported by name): real BabyAI seed rows, agent settings from the config, and a
tiny policy built on the rows' text."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from dreamgym.config import ModelConfig, PolicyConfig, SeedDataConfig
from dreamgym.data.io import steps_table
from dreamgym.data.seed import collect_seed
from dreamgym.envs.registry import make_env
from dreamgym.models import build_model
from dreamgym.policy.agent import Agent, AgentSettings
from dreamgym.policy.bc import policy_texts

EASY = {"levels": ["GoToRedBallNoDists"], "max_steps": 20}


def seed_rows(episodes: int = 16, **env_kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(steps, tasks) of real babyai seed episodes (expert / noisy / random mix)."""
    cfg = SeedDataConfig(envs=["babyai"], episodes={"babyai": episodes}, n_test_tasks=0)
    with make_env("babyai", **(env_kwargs or EASY)) as env:
        steps, tasks = collect_seed(env, episodes, cfg, seed=0)
    return steps_table(steps).to_pandas(), pd.DataFrame([t.to_row() for t in tasks])


def settings(**changes) -> AgentSettings:
    """The default config's agent settings (AgentSettings.from_config(PolicyConfig())) with `changes`."""
    return dataclasses.replace(AgentSettings.from_config(PolicyConfig()), **changes)


def tiny_agent(rows, cache: Path, *, hidden: int = 32, seed: int = 0, **changes) -> Agent:
    """A fresh random tiny policy (tokenizer trained on the rows' text) acting per settings(seed=seed, **changes)."""
    steps, tasks = rows
    with make_env("babyai", **EASY) as env:
        texts = policy_texts(steps, tasks, env)
    shape = ModelConfig(hidden_size=hidden, num_layers=2, num_heads=2, vocab_size=600, max_positions=1024)
    model, tok = build_model(shape, cache, texts=texts, seed=seed)
    return Agent(model, tok, settings(seed=seed, **changes))
