"""Behaviour cloning (SFT) of the policy on expert seed trajectories: the paper's SFT baseline and the RL warm start.

    demos = expert_demos(steps, tasks, n=10, split="train", accept=env.accepts)
    examples = bc_examples(demos, agent, env)                  # prompt/completion pairs in the agent's format
    result = behaviour_clone(agent, examples, val_examples, cfg.policy.bc.sft, scratch_dir)

Each demo step becomes one example: the agent's prompt (the env's task block, history window, observation: the
env's abstract state, exactly what a rollout shows the agent) and, as completion,
the expert's action in the agent's reply format (score mode: ` <action>\\n`, the continuation the policy scores;
generate mode: `Thought: … / Action: …`). TRL's SFTTrainer trains on the completion only.

Simplifications: the seed data's experts leave no rationale, so generate-mode thoughts are a template naming the
next action; where the prompt lists the valid actions (generate mode), the demo is replayed in the real env to
recover them (the envs are deterministic given the task).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from dreamgym.data.schema import Task
from dreamgym.envs.base import TextEnv
from dreamgym.errors import DreamGymError
from dreamgym.models.config import SFTParams
from dreamgym.policy.agent import Agent, Context
from dreamgym.policy.format import candidate_text, reply_text

EXPERT = "collector:expert"


def expert_demos(steps: pd.DataFrame, tasks: pd.DataFrame, *, n: int, split: str = "train",
                 accept: Callable[[Task], bool] | None = None, seed: int = 0) -> list[tuple[Task, pd.DataFrame]]:
    """Up to `n` successful expert episodes of `split` (their Task and their steps in order), drawn at random
    (fixed by `seed`) among those whose task `accept` takes."""
    by_id = {r["task_id"]: Task.from_row(r) for r in tasks.to_dict("records")}
    rows = steps[(steps["policy_version"] == EXPERT) & (steps["split"] == split)]
    eps = []
    for _, g in rows.groupby("episode_id", sort=True):
        task = by_id.get(g["task_id"].iloc[0])
        if task is None or not g["success"].any() or (accept is not None and not accept(task)):
            continue
        eps.append((task, g.sort_values("t")))
    random.Random(seed).shuffle(eps)
    return eps[:n]


def bc_examples(demos: Sequence[tuple[Task, pd.DataFrame]], agent: Agent, env: TextEnv) -> pd.DataFrame:
    """prompt/completion pairs (plus task_id, t) in `agent`'s format, the observations as `env` shows them
    (env.observe, env's task block); generate mode lists valid actions from a replay in `env` when the env has
    an action list."""
    replay = agent.mode == "generate" and env.has_action_list
    out = []
    for task, g in demos:
        if replay:
            env.reset(task)
        task_text = env.spec.task_text(task.instruction, str(g["state"].iloc[0]))
        history: list[tuple[str, str]] = []
        for r in g.itertuples():
            actions = env.available_actions() if replay else None
            obs = env.observe(str(r.state))
            ctx = Context(task_text, list(history), obs, actions)
            completion = (candidate_text(r.action) if agent.mode == "score"
                          else reply_text(f"Next I {r.action}.", r.action))
            out.append({"task_id": task.task_id, "t": int(r.t), "prompt": agent.prompt(ctx), "completion": completion})
            history.append((obs, str(r.action)))
            if replay:
                env.step(str(r.action))
    return pd.DataFrame(out, columns=["task_id", "t", "prompt", "completion"])


def behaviour_clone(agent: Agent, train: pd.DataFrame, val: pd.DataFrame | None, settings: SFTParams,
                    scratch_dir: str | Path, on_log=None):
    """Fine-tune the agent's model on BC examples with TRL's SFTTrainer (metrics rl/bc_*); returns the SFTResult."""
    from dreamgym.models.sft import train_sft

    if len(train) == 0:
        raise DreamGymError("behaviour_clone: no training examples (no matching successful expert demos?)")
    result = train_sft(agent.model, agent.tokenizer, train, val if val is not None and len(val) else None, settings,
                       scratch_dir, on_log=on_log, prefix="rl/bc_")
    m = agent.model  # TRL turns activation checkpointing on; RL's shared-prefix forward needs the KV cache
    if hasattr(m, "is_activation_checkpointing"):  # transformers >= 5.2x names
        if m.is_activation_checkpointing:
            m.activation_checkpointing_disable()
    elif getattr(m, "is_gradient_checkpointing", False):
        m.gradient_checkpointing_disable()
    return result


def policy_texts(steps: pd.DataFrame, tasks: pd.DataFrame, env: TextEnv) -> list[str]:
    """Texts a tiny policy's tokenizer is trained on: the observations as `env` shows them (env.observe), the
    actions and task instructions, and the agent format's words."""
    words = ["Task: ", "Observation: ", "Action: ", "Thought: ", "Valid actions: ", " | ", "Next I "]
    states = [env.observe(s) for s in steps["state"].astype(str)]
    return [*words, *tasks["instruction"].astype(str), *states, *steps["action"].astype(str)]
