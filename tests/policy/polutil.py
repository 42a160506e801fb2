"""Helpers of the policy tests (imported by name): real BabyAI seed rows and a tiny policy built on their text."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dreamgym.config import SeedDataConfig
from dreamgym.data.io import steps_table
from dreamgym.data.seed import collect_seed
from dreamgym.envs.registry import make_env
from dreamgym.models import load_model
from dreamgym.policy.agent import Agent
from dreamgym.policy.bc import policy_texts

EASY = {"levels": ["GoToRedBallNoDists"], "max_steps": 20}


def seed_rows(episodes: int = 16, **env_kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(steps, tasks) of real babyai seed episodes (expert / noisy / random mix)."""
    cfg = SeedDataConfig(envs=["babyai"], episodes={"babyai": episodes}, n_test_tasks=0)
    with make_env("babyai", **(env_kwargs or EASY)) as env:
        steps, tasks = collect_seed(env, episodes, cfg, seed=0)
    return steps_table(steps).to_pandas(), pd.DataFrame([t.to_row() for t in tasks])


def tiny_agent(rows, cache: Path, *, mode: str = "score", seed: int = 0, hidden: int = 32, **kw) -> Agent:
    """A fresh random tiny policy (tokenizer trained on the rows' text)."""
    steps, tasks = rows
    model, tok = load_model("tiny", None, cache, tokenizer_texts=policy_texts(steps, tasks),
                            tiny_kwargs={"hidden_size": hidden, "num_layers": 2, "num_heads": 2,
                                         "max_position_embeddings": 1024, "seed": seed},
                            tokenizer_kwargs={"vocab_size": 600})
    return Agent(model, tok, mode=mode, seed=seed, **kw)
