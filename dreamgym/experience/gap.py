"""The sim-to-real gap monitor: how far the experience model's dynamics are from the real env's, measured on the
policy's own distribution (DESIGN.md "The sim-to-real gap monitor").

    report = judge(agent, xm, lambda: make_env(name, **kw), tasks, horizon=20, greedy=False, env_kwargs=kw)
    report.metrics("judge/"); report.syn_success, report.real_success, report.eps_r, report.eps_p
    report = gap(episodes, real_env)        # episodes a policy already played in a SyntheticEnv (e.g. the RL loop's)
    report = compare([(trace_of(ep), replay(real_env, ep.task, trace_of(ep).actions)) for ep in episodes])  # pure

judge() plays the policy on each task in a SyntheticEnv whose first state is the real env's reset of the same task
(one policy.rollout() over the tasks, so the agent and the model are called in batches), replays each episode's
action sequence in the real env from that task (real envs reset deterministically), and compares the two over the
steps both played: when the real episode ends first (done), the comparison stops there and the synthetic steps
left are counted in `real_ended_early`; when the synthetic one ends first, the replay stops there too.

The report (GapReport, `metrics(prefix)` for a tracker):
- validity, reward and done agreement per compared step: counts, rates and Wilson 95% intervals;
- first divergence: per episode, the 0-based index of the first step whose synthetic next state differs from the
  real env's abstract next state (`real_env.observe(obs)`), the number of compared steps when none does; its mean
  and the share of episodes without one (`no_divergence`);
- per episode: synthetic and replayed real success rates, their agreement (with a Wilson interval) and the
  confusion counts (`syn_success_real_fail` is the reward hacking case);
- eps_r = mean |r_syn - r_real| over the compared steps (the reward error of the paper's bound, on the policy's data);
- eps_p = share of steps whose next state differs, among the steps whose state prefix still agreed (the transition
  error of the paper's bound, on the policy's data).

Simplification: states are compared as exact strings (abstract states are the env's canonical text); the
synthetic env gets the real env's step limit so both truncate at the same step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from dreamgym.data.schema import Task
from dreamgym.envs.base import TextEnv
from dreamgym.errors import DreamGymError
from dreamgym.experience.synthetic import ExperienceModel, SyntheticEnv
from dreamgym.stats import wilson_interval


@dataclass(frozen=True)
class Transition:
    """What an env returned for one action: the abstract next state, validity, reward and done."""

    next_state: str
    valid: bool
    reward: float
    done: bool


@dataclass
class Trace:
    """One episode of a task: the actions taken, what the env returned for each, whether it succeeded."""

    task: Task
    actions: list[str]
    steps: list[Transition]
    success: bool


def trace_of(episode: Any) -> Trace:
    """The Trace of a policy.rollout Episode (its turns' actions, next observations, validity, reward, done)."""
    turns = episode.turns
    return Trace(episode.task, [t.decision.action for t in turns],
                 [Transition(t.next_observation, bool(t.valid_action), float(t.reward), bool(t.done)) for t in turns],
                 bool(episode.success))


def replay(real_env: TextEnv, task: Task, actions: Sequence[str]) -> Trace:
    """Play `actions` in `real_env` from a reset to `task`, stopping when the episode ends; next states are
    `real_env.observe` of its replies."""
    real_env.reset(task)
    played: list[str] = []
    steps: list[Transition] = []
    success = False
    for a in actions:
        obs, reward, done, info = real_env.step(a)
        played.append(a)
        steps.append(Transition(real_env.observe(obs), bool(info.get("valid_action", True)), float(reward), bool(done)))
        success = success or bool(info.get("success", False))
        if done:
            break
    return Trace(task, played, steps, success)


@dataclass(frozen=True)
class EpisodeGap:
    """One (synthetic, replayed real) episode pair compared over its `compared` steps (see the module docstring);
    `first_divergence` is None when no compared next state differs; `abs_reward_error` is summed over the steps."""

    task_id: str
    compared: int
    valid_agree: int
    reward_agree: int
    done_agree: int
    abs_reward_error: float
    first_divergence: int | None
    real_ended_early: int
    syn_success: bool
    real_success: bool

    @property
    def divergence_step(self) -> int:
        """The first divergence, or the number of compared steps when there is none."""
        return self.compared if self.first_divergence is None else self.first_divergence

    @property
    def prefix_steps(self) -> int:
        """Compared steps whose earlier next states all agreed (eps_p's denominator)."""
        return self.compared if self.first_divergence is None else self.first_divergence + 1


def episode_gap(syn: Trace, real: Trace) -> EpisodeGap:
    """Compare a synthetic episode with its real replay (`real` must replay a prefix of `syn`'s actions)."""
    if syn.task.task_id != real.task.task_id or real.actions != syn.actions[:len(real.actions)]:
        raise DreamGymError(f"episode_gap: the real trace of task '{real.task.task_id}' is not a replay of the "
                            f"synthetic episode of task '{syn.task.task_id}' (other task or actions)")
    if len(real.steps) < len(syn.steps) and not (real.steps and real.steps[-1].done):
        raise DreamGymError(f"episode_gap: the replay of task '{real.task.task_id}' stops before the synthetic "
                            f"episode without the real episode ending; replay all of its actions")
    n = min(len(syn.steps), len(real.steps))
    pairs = list(zip(syn.steps[:n], real.steps[:n], strict=True))
    errors = [abs(s.reward - r.reward) for s, r in pairs]
    return EpisodeGap(
        task_id=syn.task.task_id, compared=n, valid_agree=sum(s.valid == r.valid for s, r in pairs),
        reward_agree=sum(e < 1e-9 for e in errors), done_agree=sum(s.done == r.done for s, r in pairs),
        abs_reward_error=float(sum(errors)),
        first_divergence=next((t for t, (s, r) in enumerate(pairs) if s.next_state != r.next_state), None),
        real_ended_early=len(syn.steps) - n, syn_success=syn.success, real_success=real.success)


def agreement(name: str, agree: int, n: int) -> dict[str, float]:
    """{name}_agree (count), {name}_agreement (rate, nan when n == 0) and its Wilson 95% interval."""
    low, high = wilson_interval(agree, n)
    return {f"{name}_agree": agree, f"{name}_agreement": agree / n if n else float("nan"),
            f"{name}_ci_low": low, f"{name}_ci_high": high}


@dataclass
class GapReport:
    """The gap between synthetic episodes and their real replays (see the module docstring for each number)."""

    episodes: int
    steps: int  # compared steps
    real_ended_early: int  # synthetic steps after the real episode had ended
    valid_agree: int
    valid_agreement: float
    valid_ci_low: float
    valid_ci_high: float
    reward_agree: int
    reward_agreement: float
    reward_ci_low: float
    reward_ci_high: float
    done_agree: int
    done_agreement: float
    done_ci_low: float
    done_ci_high: float
    first_divergence: float  # mean over episodes (compared steps when none)
    no_divergence: float  # share of episodes without a state divergence
    syn_success: float
    real_success: float
    success_agree: int
    success_agreement: float
    success_ci_low: float
    success_ci_high: float
    syn_success_real_fail: int  # reward hacking: the model granted a success the real env did not
    syn_fail_real_success: int
    both_success: int
    both_fail: int
    eps_r: float  # mean |r_syn - r_real| over compared steps
    eps_p: float  # share of next-state differences among the steps whose state prefix agreed
    eps_p_steps: int  # eps_p's denominator
    per_episode: list[EpisodeGap] = field(default_factory=list)

    def metrics(self, prefix: str = "judge/") -> dict[str, float]:
        """Every number of the report (not per_episode) under `prefix`, as floats."""
        return {f"{prefix}{k}": float(v) for k, v in asdict(self).items() if k != "per_episode"}


def compare(pairs: Sequence[tuple[Trace, Trace]]) -> GapReport:
    """The GapReport of (synthetic episode, replayed real episode) pairs; pure."""
    if not pairs:
        raise DreamGymError("compare: no episodes to compare")
    eps = [episode_gap(s, r) for s, r in pairs]
    n, m = sum(e.compared for e in eps), len(eps)
    diverged = sum(e.first_divergence is not None for e in eps)
    prefix = sum(e.prefix_steps for e in eps)
    both = [(e.syn_success, e.real_success) for e in eps]
    return GapReport(
        episodes=m, steps=n, real_ended_early=sum(e.real_ended_early for e in eps),
        **agreement("valid", sum(e.valid_agree for e in eps), n),
        **agreement("reward", sum(e.reward_agree for e in eps), n),
        **agreement("done", sum(e.done_agree for e in eps), n),
        first_divergence=sum(e.divergence_step for e in eps) / m, no_divergence=(m - diverged) / m,
        syn_success=sum(s for s, _ in both) / m, real_success=sum(r for _, r in both) / m,
        **agreement("success", sum(s == r for s, r in both), m),
        syn_success_real_fail=sum(s and not r for s, r in both),
        syn_fail_real_success=sum(r and not s for s, r in both),
        both_success=sum(s and r for s, r in both), both_fail=sum(not s and not r for s, r in both),
        eps_r=sum(e.abs_reward_error for e in eps) / n if n else float("nan"),
        eps_p=diverged / prefix if prefix else float("nan"), eps_p_steps=prefix, per_episode=eps)


def gap(episodes: Sequence[Any], real_env: TextEnv) -> GapReport:
    """Replay synthetic rollout Episodes in `real_env` (from their tasks) and compare them."""
    traces = [trace_of(e) for e in episodes]
    return compare([(t, replay(real_env, t.task, t.actions)) for t in traces])


def judge(agent, experience_model: ExperienceModel, make_real_env: Callable[[], TextEnv], tasks: Sequence[Task], *,
          horizon: int, greedy: bool = False, initial_state: Callable[[Task], str] | None = None,
          env_kwargs: Mapping[str, Any] | None = None, parallel: int = 32) -> GapReport:
    """Play `agent` on `tasks` in SyntheticEnvs over `experience_model` (`parallel` episodes per rollout, at most
    `horizon` turns, greedy or sampled), replay them in one env from `make_real_env()` and compare.

    `initial_state(task)`: a task's first observation (default: the real env's reset of it); `env_kwargs`: the
    real env's config, which its action lister may read (e.g. an action set)."""
    from dreamgym.policy.rollout import rollout

    if not tasks:
        raise DreamGymError("judge: no tasks")
    if parallel < 1:
        raise DreamGymError(f"judge: parallel must be >= 1, got {parallel}")
    real = make_real_env()
    try:
        first = initial_state or real.reset
        envs = [SyntheticEnv(experience_model, tasks, first, max_steps=real.max_steps, env_kwargs=env_kwargs)
                for _ in range(min(parallel, len(tasks)))]
        episodes = []
        for s in range(0, len(tasks), len(envs)):
            episodes += rollout(agent, envs, list(tasks[s:s + len(envs)]), horizon=horizon, greedy=greedy)
        return gap(episodes, real)
    finally:
        real.close()
