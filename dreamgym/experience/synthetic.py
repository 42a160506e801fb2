"""The experience model as an environment: `ExperienceModel` predicts transitions, `SyntheticEnv` speaks TextEnv.

    spec = PromptSpec.from_config(cfg.experience, get_spec(name), max_steps=64)
    xm = ExperienceModel(generator, spec, retriever=buffer_retriever(buf, name, k=spec.k))
    env = SyntheticEnv(xm, tasks=train_tasks, initial_state=lambda task: first_states[task.task_id],
                       env_kwargs=cfg.env_kwargs(name))
    obs = env.reset(task); obs, reward, done, info = env.step(env.available_actions()[0])   # as a real env
    results = SyntheticEnv.step_batch(envs, actions)      # many episodes, one batched model call

The policy cannot tell it from the real env: `observe()` is the env's abstract state (what the real env's
observe() gives for the same situation), `task_text` the env's task block, and `available_actions()` the
env's admissible actions derived from the abstract state (EnvSpec.actions) in the real env's list format.

Each step builds the prompt through the PromptSpec that training used (task, the last `history_window` steps,
the top-k transitions retrieved for the abstract (state, action), the current state, the action), generates
greedily until the target's last close tag (`</done>`), and parses the target. An unparseable output is retried once with sampling; if it still
does not parse, the step counts as an invalid transition (state unchanged, reward 0, `info["parse_failed"] = True`,
`info["parse_failure"]` the parser's reason, and the Step row's `parse_failure` column holds that reason, its
`reasoning` empty) and the rollout goes on: a model that emits garbage never crashes a rollout. Every synthetic
step is kept as a Step row (source "synthetic", the model version, the reasoning or the parse failure) for the
replay buffer: `drain_steps()` hands them over.

Simplifications: the initial state of a task comes from the caller (a real reset, or the seed data's first
observation); the episode's success is the predicted reward (outcome-only: reward 1 ends the episode with
success); the model's `done` without reward 1 ends the episode as a failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dreamgym.data.schema import Step, Task
from dreamgym.envs.base import StepResult, TextEnv, check_split
from dreamgym.errors import DreamGymError
from dreamgym.experience.format import GEN_CLOSE, ParseFailure, Prediction
from dreamgym.experience.prompt import PromptSpec
from dreamgym.experience.retrieval import Retriever, retrieve_many


@dataclass
class Query:
    """One transition to predict: the task text, the earlier (state, action) steps, the current state and action."""

    instruction: str
    history: Sequence[tuple[str, str]]
    state: str
    action: str
    episode_id: str | None = None
    split: str = "train"
    task_id: str | None = None


@dataclass
class Outcome:
    """A predicted transition: `prediction` (None when both attempts failed to parse), the raw texts, attempts."""

    prediction: Prediction | None
    texts: list[str] = field(default_factory=list)
    failure: str | None = None
    prompt: str = ""

    @property
    def parsed(self) -> bool:
        return self.prediction is not None


class ExperienceModel:
    """Generator + prompt spec + retrieval: predicts batches of transitions for one env.

    `generator`: a dreamgym.models.Generator (greedy; stop strings get the spec's stop added); `spec`: the PromptSpec the
    model was trained with; `retry_generator`: the one used for the single retry of an unparseable output
    (default: the same model sampling at temperature 0.7). `retriever`: see experience.retrieval (None or
    spec.k == 0: no reference block).
    """

    def __init__(self, generator, spec: PromptSpec, *, retriever: Retriever | None = None, retry_generator=None,
                 version: str = "untracked"):
        import copy

        from dreamgym.models import Generator

        if spec.stop not in generator.stop_strings:  # a shallow copy (same model): the caller's generator is untouched
            generator = copy.copy(generator)
            generator.stop_strings = (*generator.stop_strings, spec.stop)
        self.generator = generator
        self.retry_generator = retry_generator or Generator(
            generator.model, generator.tokenizer, max_new_tokens=generator.max_new_tokens, temperature=0.7,
            stop_strings=generator.stop_strings, batch_size=generator.batch_size, seed=generator.seed + 1)
        self.spec = spec
        self.env = spec.env.name
        self.retriever = retriever
        self.version = version
        self.stats = {"predictions": 0, "retries": 0, "parse_failures": 0, "seconds": 0.0}

    def abstract(self, text: str) -> str:
        return self.spec.abstract(text)

    def _refs(self, queries: Sequence[Query]) -> list[list[Mapping[str, Any]]]:
        return retrieve_many(self.retriever, [self.spec.query(q.state, q.action, q.episode_id, q.task_id, q.split)
                                              for q in queries], self.spec.k)

    def prompt(self, q: Query, refs: Sequence[Mapping[str, Any]] | None = None) -> str:
        """The model's prompt for one query (retrieval included; `refs`: already retrieved transitions)."""
        if refs is None:
            refs = self._refs([q])[0]
        return self.spec.prompt(q.instruction, list(q.history), refs, q.state, q.action)

    def _parse(self, text: str) -> Prediction | ParseFailure:
        return self.spec.parse(text)

    def predict_prompts(self, prompts: Sequence[str]) -> list[Outcome]:
        """Generate and parse for ready-made prompts; one retry (sampled) for each unparseable output."""
        import time

        outs = [Outcome(None, prompt=p) for p in prompts]
        if not prompts:
            return outs
        t0 = time.perf_counter()
        first = self.generator.generate(list(prompts))
        retry: list[int] = []
        for i, g in enumerate(first):
            outs[i].texts.append(g.text)
            got = self._parse(g.text)
            if isinstance(got, ParseFailure):
                outs[i].failure = got.reason
                retry.append(i)
            else:
                outs[i].prediction = got
        if retry:
            self.stats["retries"] += len(retry)
            again = self.retry_generator.generate([prompts[i] for i in retry])
            for i, g in zip(retry, again, strict=True):
                outs[i].texts.append(g.text)
                got = self._parse(g.text)
                if isinstance(got, ParseFailure):
                    outs[i].failure = got.reason
                    self.stats["parse_failures"] += 1
                else:
                    outs[i].prediction, outs[i].failure = got, None
        self.stats["predictions"] += len(prompts)
        self.stats["seconds"] += time.perf_counter() - t0
        return outs

    def write_tasks(self, contexts: Sequence[tuple[str, str]], n: int, *, temperature: float = 1.0,
                    max_new_tokens: int = 48, seed: int = 0) -> list[list[str | ParseFailure]]:
        """Variants of tasks, written by the same weights (the curriculum's task generator): for each (task block,
        first state) of `contexts`, `n` samples of PromptSpec.task_prompt at `temperature`, each parsed
        (PromptSpec.parse_task: the instruction, or a ParseFailure). A model trained without task-generation
        examples (experience.task_examples: 0) writes garbage that fails to parse."""
        from dreamgym.models import Generator

        if n < 1 or not contexts:
            return [[] for _ in contexts]
        gen = Generator(self.generator.model, self.generator.tokenizer, max_new_tokens=int(max_new_tokens),
                        temperature=float(temperature), stop_strings=(GEN_CLOSE,), batch_size=self.generator.batch_size,
                        max_prompt_tokens=self.generator.max_prompt_tokens, seed=int(seed))
        prompts = [self.spec.task_prompt(t, s) for t, s in contexts for _ in range(n)]
        texts = [g.text for g in gen.generate(prompts)]
        return [[self.spec.parse_task(texts[i * n + j]) for j in range(n)] for i in range(len(contexts))]

    def predict(self, queries: Sequence[Query]) -> list[Outcome]:
        """Predict the next state, validity, reward and done of each query, in one batched generation."""
        refs = self._refs(queries)
        return self.predict_prompts([self.prompt(q, r) for q, r in zip(queries, refs, strict=True)])


class SyntheticEnv(TextEnv):
    """A TextEnv whose dynamics are an ExperienceModel (see the module docstring).

    `tasks`: the task pool list_tasks() serves (by split, in the given order); `initial_state(task)`: the first
    observation of a task; `max_steps`: the step limit (truncation as in real envs); `env_kwargs`: the real
    env's config (its action lister may depend on it, e.g. an action set).
    """

    def __init__(self, model: ExperienceModel, tasks: Sequence[Task], initial_state: Callable[[Task], str],
                 max_steps: int = 50, iteration: int = 0, policy_version: str = "",
                 env_kwargs: Mapping[str, Any] | None = None):
        super().__init__(max_steps=max_steps)
        self.model = model
        self.name = model.env  # tasks of the modelled env are accepted by reset()
        self.has_action_list = model.spec.env.actions is not None
        self.observation_budget = model.spec.state_budget
        self.env_kwargs = dict(env_kwargs or {})
        self._tasks = list(tasks)
        self._initial_state = initial_state
        self.iteration = int(iteration)
        self.policy_version = policy_version
        self.state = ""
        self.history: list[tuple[str, str]] = []
        self.episode_id = ""
        self._pending: Outcome | None = None
        self._steps: list[Step] = []

    @property
    def spec(self):
        """The modelled env's EnvSpec (its observation, task block and action lister)."""
        return self.model.spec.env

    # -- TextEnv -----------------------------------------------------------------------------------------------
    def list_tasks(self, split: str, n: int | None = None, start: int = 0) -> list[Task]:
        pool = [t for t in self._tasks if t.split == check_split(split)]
        return pool[start:] if n is None else pool[start:start + n]

    def _reset(self, task: Task) -> str:
        first = self._initial_state(task)
        if not first or not str(first).strip():
            raise DreamGymError(f"SyntheticEnv: no initial state for task '{task.task_id}'")
        self._first = str(first)
        self.state = self.model.abstract(first)
        self.history = []
        self.episode_id = f"syn-{uuid.uuid4().hex[:12]}"
        return self.state

    def _task_text(self, task: Task, first: str) -> str:
        return self.model.spec.task_text(task.instruction, self._first)  # the raw first observation: its recipes

    def observe(self, text: str) -> str:
        return self.model.abstract(text)

    def available_actions(self) -> list[str] | None:
        """The env's admissible actions of the current (abstract) state, derived by its EnvSpec; None where the
        env derives none (its real env lists none either, or the policy must generate actions)."""
        if self.task is None or self.done:
            return [] if self.has_action_list else None
        return self.spec.admissible(self.task_text, self.state, self.env_kwargs, [s for s, _ in self.history])

    def query(self, action: str) -> Query:
        split = self.task.split if self.task else "train"
        return Query(self.task_text, list(self.history), self.state, action.strip(), self.episode_id, split,
                     self.task.task_id if self.task else None)

    def _step(self, action: str) -> tuple[str, bool, bool, float, dict[str, Any]]:
        out = self._pending if self._pending is not None else self.model.predict([self.query(action)])[0]
        self._pending = None
        pred = out.prediction
        if pred is None:
            nxt, valid, reward, done = self.state, False, 0.0, False
        else:
            valid = pred.valid
            nxt = self.model.abstract(pred.next_state)  # what the real env shows, invalid actions included
            reward = 1.0 if (valid and pred.reward >= 0.5) else 0.0
            done = bool(pred.done) or reward == 1.0
        success = reward == 1.0
        failure = out.failure if pred is None else ""
        extra: dict[str, Any] = {"parse_failed": pred is None, "parse_failure": failure,
                                 "reasoning": pred.reasoning if pred else "", "attempts": len(out.texts),
                                 "terminal": done and not success}
        self._steps.append(Step(
            episode_id=self.episode_id, task_id=self.task.task_id if self.task else "", env=self.model.env,
            t=self.t, state=self.state, action=action, next_state=nxt, reward=reward,
            done=done or (not success and self.t + 1 >= self.max_steps), success=success, valid_action=valid,
            source="synthetic", reasoning=extra["reasoning"], policy_version=self.policy_version,
            model_version=self.model.version, iteration=self.iteration,
            split=self.task.split if self.task else "train", parse_failure=failure))
        self.history.append((self.state, action))
        self.state = nxt
        return nxt, success, valid, reward, extra

    # -- batching and buffer hand-off ---------------------------------------------------------------------------
    @staticmethod
    def step_batch(envs: Sequence[SyntheticEnv], actions: Sequence[str]) -> list[StepResult]:
        """Step many episodes at once: one batched model call per distinct model, then each env's step()."""
        if len(envs) != len(actions):
            raise DreamGymError(f"step_batch: {len(envs)} envs but {len(actions)} actions")
        by_model: dict[int, list[int]] = {}
        for i, e in enumerate(envs):
            if e.task is None or e.done:
                raise DreamGymError(f"step_batch: env #{i} is not in a running episode; reset it first")
            by_model.setdefault(id(e.model), []).append(i)
        for idx in by_model.values():
            model = envs[idx[0]].model
            outs = model.predict([envs[i].query(actions[i]) for i in idx])
            for i, o in zip(idx, outs, strict=True):
                envs[i]._pending = o
        return [e.step(a) for e, a in zip(envs, actions, strict=True)]

    def drain_steps(self) -> list[Step]:
        """The synthetic Step rows recorded since the last call (for ReplayBuffer.add)."""
        out, self._steps = self._steps, []
        return out
