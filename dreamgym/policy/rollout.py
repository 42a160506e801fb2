"""The rollout engine: many episodes at once against any TextEnv (real or synthetic), one batched agent call per
step.

    episodes = rollout(agent, envs, tasks, horizon=6)            # envs[i] plays tasks[i]
    episodes[0].success, episodes[0].turns[0].decision.logprob, episodes[0].to_steps("policy-v1")

Every active episode contributes its context to one `agent.act` call per step (so generation or candidate scoring
is batched across episodes); envs that offer a batched `step_batch` (SyntheticEnv: one model call for all of
them) are stepped together, others one by one. An episode ends when its env says done or after `horizon` turns
(truncated: the horizon schedule's cut). The agent reads what the env hands it: `env.task_text` (the task
block), `env.observe(reply)` (the abstract state) and `env.available_actions()`, the same calls and the same text
for a real env and a SyntheticEnv. Turns keep the agent's decision (token ids, behaviour log-probs), the
observation it saw, the reward and validity the env returned.

Simplification: the env pool is the caller's (one env per parallel episode, reused across calls); the episodes
run in lock step, so one slow env step holds the others (real envs here step in microseconds to milliseconds).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dreamgym.data.schema import Step, Task
from dreamgym.envs.base import TextEnv
from dreamgym.errors import DreamGymError
from dreamgym.policy.agent import Agent, Context, Decision


@dataclass
class Turn:
    """One agent step: the decision, the observation it was taken in, what the env returned."""

    decision: Decision
    observation: str
    next_observation: str
    reward: float
    done: bool
    valid_action: bool
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Episode:
    """One rollout. `group` ties together the rollouts of one task (GRPO); `truncated` is true when the horizon
    or the env's step limit ended it without success."""

    task: Task
    turns: list[Turn]
    success: bool
    truncated: bool
    group: int = 0

    @property
    def reward(self) -> float:
        return float(sum(t.reward for t in self.turns))

    @property
    def steps(self) -> int:
        return len(self.turns)

    @property
    def invalid_steps(self) -> int:
        return sum(not t.valid_action for t in self.turns)

    @property
    def malformed_steps(self) -> int:
        return sum(t.decision.malformed for t in self.turns)

    def to_steps(self, policy_version: str, iteration: int = 0, source: str = "real",
                 model_version: str = "") -> list[Step]:
        """The episode as Step rows for the replay buffer (source real or synthetic)."""
        eid = f"{self.task.task_id}-{policy_version}-it{iteration}-g{self.group}-{id(self):x}"
        return [Step(episode_id=eid, task_id=self.task.task_id, env=self.task.env, t=i, state=t.observation,
                     action=t.decision.action, next_state=t.next_observation, reward=t.reward, done=t.done,
                     success=bool(t.info.get("success", False)), valid_action=t.valid_action, source=source,
                     policy_version=policy_version, model_version=model_version, iteration=iteration,
                     split=self.task.split, parse_failure=str(t.info.get("parse_failure", "")))
                for i, t in enumerate(self.turns)]


def _step_all(envs: Sequence[TextEnv], actions: Sequence[str]):
    batched = getattr(type(envs[0]), "step_batch", None)
    if batched is not None and all(type(e) is type(envs[0]) for e in envs):
        return batched(list(envs), list(actions))
    return [e.step(a) for e, a in zip(envs, actions, strict=True)]


def rollout(agent: Agent, envs: Sequence[TextEnv], tasks: Sequence[Task], *, horizon: int, greedy: bool = False,
            groups: Sequence[int] | None = None, progress: Callable[[int], None] | None = None) -> list[Episode]:
    """Play `tasks[i]` in `envs[i]` for at most `horizon` turns each, all episodes in lock step; see the module
    docstring. `groups[i]` labels episode i (default: its index); `progress(n)` is told of finished episodes."""
    if len(envs) < len(tasks):
        raise DreamGymError(f"rollout: {len(tasks)} tasks need as many envs, got {len(envs)}")
    if horizon < 1:
        raise DreamGymError(f"rollout: horizon must be >= 1, got {horizon}")
    groups = list(groups) if groups is not None else list(range(len(tasks)))
    obs = [envs[i].observe(envs[i].reset(t)) for i, t in enumerate(tasks)]
    turns: list[list[Turn]] = [[] for _ in tasks]
    ended: list[dict[str, Any] | None] = [None] * len(tasks)
    active = list(range(len(tasks)))
    while active:
        contexts = [Context(envs[i].task_text, [(t.observation, t.decision.action) for t in turns[i]], obs[i],
                            envs[i].available_actions()) for i in active]
        decisions = agent.act(contexts, greedy=greedy)
        results = _step_all([envs[i] for i in active], [d.action for d in decisions])
        still = []
        for i, d, (reply, reward, done, info) in zip(active, decisions, results, strict=True):
            next_obs = envs[i].observe(reply)
            turns[i].append(Turn(decision=d, observation=obs[i], next_observation=next_obs, reward=float(reward),
                                 done=bool(done), valid_action=bool(info.get("valid_action", True)), info=dict(info)))
            obs[i] = next_obs
            if done or len(turns[i]) >= horizon:
                ended[i] = info
                if progress is not None:
                    progress(1)
            else:
                still.append(i)
        active = still
    return [Episode(task=t, turns=turns[i], success=bool(ended[i].get("success", False)),
                    truncated=not ended[i].get("success", False) and (len(turns[i]) >= horizon
                                                                        or bool(ended[i].get("truncated", False))),
                    group=groups[i])
            for i, t in enumerate(tasks)]
