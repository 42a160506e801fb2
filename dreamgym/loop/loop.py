"""The DreamGym loop: the policy practises in the synthetic env, the buffer and the task pool grow, and every
iteration is a resumable unit.

    loop = DreamGymLoop(parts, cfg.loop, cfg.curriculum, state_dir, tracker, name="babyai-grpo-s0", seed=0)
    start = loop.resume()                       # 0 on a fresh folder, else the last completed iteration
    curve = loop.run(cfg.loop.iterations)       # iterations start+1 .. N, each a nested tracker run

One iteration n:
1. draw `tasks_per_update` tasks from the pool (at most lambda = curriculum.max_generated_share generated);
2. roll the policy out in the SyntheticEnvs (group_size episodes per task, the horizon schedule of the update);
3. guards, before anything is learnt or written: the GX check of the iteration's synthetic transitions
   (quality.validate_synthetic_batch) and the sim-to-real gap monitor on `monitor_episodes` of the episodes
   (their actions replayed in the real env; the reward-hacking guard compares synthetic with replayed success
   over the last `hacking_window` iterations); a failed guard raises GateError (LoopStopped) with its report;
4. one GRPO or PPO update (policy.trainer);
5. curriculum: group reward variance V per task (or per embedding cluster, PPO), the `top_tasks` highest get
   variants written by the experience model, checked (curriculum.generate) and added to the pool (one commit);
6. the synthetic transitions go to the loop's replay buffer in one atomic add, tagged `iter-<n>`; the pool's
   version is tagged `iter-<n>`;
7. every `eval_every` iterations, the policy on real val tasks (measurement: no real RL step);
8. checkpoint: `ckpt-<n>.pt` (weights, optimizer, value head, every RNG) written then renamed, then `state.json`
   (written then renamed) names it: the commit point of the iteration.

Resume: state.json names the last completed iteration m; resume() drops what a killed iteration m+1 wrote (buffer
rows and pool tasks with iteration > m, tags iter-k for k > m, stray checkpoints) and restores the checkpoint, so
the buffer is at `iter-m` with no duplicated rows, the pool at its `iter-m` version and the RNGs where they were.

Counting: `loop/real_steps` are real RL steps (0: the policy never learns from a real step here);
`loop/real_resets` (first states of tasks), `loop/monitor_real_steps` (the gap monitor's replays) and
`loop/eval_real_steps` (evaluations) are real env use for measurement, counted apart.

Simplifications: one env per loop; the synthetic env's first state of a seed task is the real env's reset (no
step); the gap monitor and evaluations run in this process, between iterations.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dreamgym.curriculum.config import CurriculumConfig
from dreamgym.curriculum.generate import counts, write_variants
from dreamgym.curriculum.pool import PoolStore, TaskPool
from dreamgym.curriculum.variance import group_variance, kmeans, rank_by_variance
from dreamgym.data.schema import STEP_COLUMNS, Task
from dreamgym.envs.base import TextEnv
from dreamgym.errors import DreamGymError, GateError
from dreamgym.experience.gap import gap
from dreamgym.loop.config import LoopConfig
from dreamgym.tracking import Tracker

STATE_FILE = "state.json"


class LoopStopped(GateError):
    """A loop guard stopped the loop (the GX check of a batch, or the reward-hacking guard)."""


@dataclass
class LoopParts:
    """What a loop runs on: the policy and its trainer (over `envs`, SyntheticEnvs of `xm`), the pool and its store,
    the replay buffer (None: no replay), one real env (first states, gap monitor), the keys of the val and test
    tasks (generated tasks must be none of them), `evaluate()` (eval/* metrics of the policy on real val tasks and
    the real steps they took, as `eval/real_steps`), and `embed(texts)` (rows of (len, D) vectors, for PPO's task
    clusters; None: variance per task)."""

    agent: Any
    trainer: Any
    xm: Any
    envs: Sequence[Any]
    pool: TaskPool
    store: PoolStore
    buffer: Any
    real_env: TextEnv
    held_out: set[str]
    evaluate: Callable[[], dict[str, float]] | None = None
    embed: Callable[[list[str]], np.ndarray] | None = None
    max_reward: float = 1.0
    max_text_chars: int = 20000


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class DreamGymLoop:
    """The loop over `parts` (see the module docstring); `state_dir` holds its state and checkpoints."""

    def __init__(self, parts: LoopParts, cfg: LoopConfig, curriculum: CurriculumConfig, state_dir: str | Path,
                 tracker: Tracker | None = None, *, name: str, seed: int = 0, grouping: str = "task",
                 fingerprint: str = ""):
        self.p, self.cfg, self.cur = parts, cfg, curriculum
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tracker = tracker or Tracker()
        self.name, self.seed, self.grouping, self.fingerprint = name, int(seed), grouping, fingerprint
        self.rng = random.Random(seed)
        self.first_states: dict[str, str] = {}
        self.counters = {"real_steps": 0, "real_resets": 0, "monitor_real_steps": 0, "eval_real_steps": 0}
        self.monitored: deque[list[tuple[bool, bool]]] = deque(maxlen=cfg.guard.hacking_window)
        self.completed = 0
        self.curve: list[dict[str, float]] = []

    # ---- first states ---------------------------------------------------------------------------------------
    def initial_state(self, task: Task) -> str:
        """A task's first observation: a generated task's stored one, else the real env's reset (cached)."""
        if task.task_id not in self.first_states:
            stored = self.p.pool.initial_states().get(task.task_id)
            if stored is None:
                stored = self.p.real_env.reset(task)
                self.counters["real_resets"] += 1
            self.first_states[task.task_id] = stored
        return self.first_states[task.task_id]

    def real_reset(self, task: Task) -> str:
        """The real env's first observation of `task` (the feasibility check of a generated task)."""
        self.counters["real_resets"] += 1
        return self.p.real_env.reset(task)

    # ---- state ------------------------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any] | None:
        path = self.dir / STATE_FILE
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise DreamGymError(f"loop state {path} is unreadable ({e}); remove the folder to start over") from None

    def resume(self) -> int:
        """Restore the last completed iteration (see the module docstring); returns it (0: a fresh start)."""
        import torch

        state = self._state()
        if state and state.get("fingerprint", "") != self.fingerprint:
            raise DreamGymError(f"{self.dir} holds a loop of another configuration (fingerprint "
                                f"{state.get('fingerprint')!r}, this one {self.fingerprint!r}); move it aside or "
                                f"give this loop another folder")
        done = int(state["iteration"]) if state else 0
        dropped = self._drop_after(done)
        if state:
            ckpt = self.dir / state["checkpoint"]
            saved = torch.load(ckpt, weights_only=False)
            self.p.trainer.load_state_dict(saved["trainer"])
            self.rng.setstate(saved["loop_rng"])
            self.counters.update(saved["counters"])
            self.first_states = dict(saved.get("first_states", {}))
            self.monitored = deque(saved.get("monitored", []), maxlen=self.cfg.guard.hacking_window)
            self.curve = list(saved.get("curve", []))
            self.p.pool = TaskPool(self.p.pool.seed, self.p.store.load(f"iter-{done}"))
        for f in self.dir.glob("ckpt-*.pt"):
            if not state or f.name != state["checkpoint"]:
                f.unlink()
        self.completed = done
        self.resumed = {"from_iteration": done, **dropped}
        return done

    def _drop_after(self, n: int) -> dict[str, int]:
        """Remove what iterations after `n` wrote: buffer rows and tags, pool tasks and tags."""
        rows = 0
        if self.p.buffer is not None:
            rows = self.p.buffer.delete_where(f"source = 'synthetic' AND iteration > {int(n)}")
            for tag in list(self.p.buffer.tags()):
                if tag.startswith("iter-") and tag[5:].isdigit() and int(tag[5:]) > n:
                    self.p.buffer.delete_snapshot(tag)
        tasks = self.p.store.truncate_after(n)
        for tag in list(self.p.store.tags()):
            if tag.startswith("iter-") and tag[5:].isdigit() and int(tag[5:]) > n:
                self.p.store.delete_tag(tag)
        if n == 0:
            self.p.store.tag("iter-0")
        return {"dropped_buffer_rows": int(rows), "dropped_pool_tasks": int(tasks)}

    def _checkpoint(self, n: int) -> None:
        import io

        import torch

        name = f"ckpt-{n:05d}.pt"
        buf = io.BytesIO()
        torch.save({"trainer": self.p.trainer.state_dict(), "loop_rng": self.rng.getstate(),
                    "counters": dict(self.counters), "first_states": self.first_states,
                    "monitored": list(self.monitored), "curve": self.curve}, buf)
        _write_atomic(self.dir / name, buf.getvalue())
        old = self._state()
        _write_atomic(self.dir / STATE_FILE, json.dumps({"iteration": n, "checkpoint": name, "name": self.name,
                                                         "fingerprint": self.fingerprint,
                                                         "pool_tag": f"iter-{n}", "pool_version": self.p.store.version,
                                                         "buffer_tag": f"iter-{n}" if self.p.buffer is not None
                                                         else None}, indent=1).encode())
        if old and old["checkpoint"] != name:
            (self.dir / old["checkpoint"]).unlink(missing_ok=True)
        self.completed = n

    # ---- guards -----------------------------------------------------------------------------------------------
    def _guard(self, episodes, horizon: int) -> tuple[pd.DataFrame, dict[str, float]]:
        """The iteration's synthetic rows, checked; the gap monitor's metrics. Raises LoopStopped."""
        from dreamgym.quality import validate_synthetic_batch

        df = pd.DataFrame([s.to_row() for e in self.p.envs for s in e.drain_steps()], columns=list(STEP_COLUMNS))
        report = validate_synthetic_batch(df, horizon=horizon, min_parse_rate=self.cfg.guard.min_parse_rate,
                                          max_reward=self.p.max_reward, max_text_chars=self.p.max_text_chars)
        if not report.ok:
            self.tracker.log_dict(report.to_dict(), "gate/synthetic_batch_report.json")
            self.tracker.set_tags({"stopped": "gx_guard"})
            raise LoopStopped(f"DreamGym loop stopped before the buffer: {report.to_text()}", report.to_dict())
        out: dict[str, float] = {}
        if self.cfg.monitor_episodes and episodes:
            sample = self.rng.sample(list(episodes), k=min(self.cfg.monitor_episodes, len(episodes)))
            g = gap(sample, self.p.real_env)
            self.counters["monitor_real_steps"] += int(g.steps)
            out = g.metrics("judge/")
            self.monitored.append([(bool(e.syn_success), bool(e.real_success)) for e in g.per_episode])
            pairs = [x for it in self.monitored for x in it]
            drift = (sum(s for s, _ in pairs) - sum(r for _, r in pairs)) / len(pairs)
            out["judge/window_success_drift"] = drift
            out["judge/window_episodes"] = float(len(pairs))
            if drift > self.cfg.guard.hacking_margin and len(pairs) >= self.cfg.guard.hacking_min_episodes:
                msg = (f"reward hacking: over the last {len(self.monitored)} iterations synthetic success runs "
                       f"{drift:.2f} above the same actions' real success ({len(pairs)} monitored episodes; "
                       f"margin {self.cfg.guard.hacking_margin})")
                self.tracker.set_tags({"reward_hacking": "detected"})
                if self.cfg.guard.stop_on_hacking:
                    self.tracker.set_tags({"stopped": "reward_hacking"})
                    raise LoopStopped(f"DreamGym loop stopped: {msg}", {"drift": drift, **out})
                out["judge/hacking_flag"] = 1.0
        return df, out

    # ---- curriculum -------------------------------------------------------------------------------------------
    def task_variance(self, episodes) -> dict[str, float]:
        """task_id -> reward variance of this iteration's rollouts (per task, or per embedding cluster)."""
        rewards = np.array([float(e.success) for e in episodes])
        tasks = [e.task for e in episodes]
        ids = sorted({t.task_id for t in tasks})
        if self.grouping == "cluster" and self.p.embed is not None and len(ids) > 1:
            text = {t.task_id: t.instruction for t in tasks}
            labels = kmeans(self.p.embed([text[i] for i in ids]), self.cur.clusters, seed=self.seed)
            group_of = dict(zip(ids, labels.tolist(), strict=True))
        else:
            group_of = {i: k for k, i in enumerate(ids)}
        v, gids = group_variance(rewards, np.array([group_of[t.task_id] for t in tasks]))
        by_group = dict(zip(gids.tolist(), v.tolist(), strict=True))
        return {i: by_group[group_of[i]] for i in ids}

    def _curriculum(self, n: int, episodes) -> dict[str, float]:
        var = self.task_variance(episodes)
        out = {"curriculum/mean_group_variance": float(np.mean(list(var.values()))) if var else 0.0}
        if not self.cur.task_generation:
            return out
        ids = list(var)
        top = rank_by_variance(np.array([var[i] for i in ids]), self.cur.top_tasks, self.cur.min_variance)
        by_id = {e.task.task_id: e.task for e in episodes}
        parents = [(by_id[ids[i]], self.initial_state(by_id[ids[i]])) for i in top]
        accepted, verdicts = write_variants(self.p.xm, parents, self.cur, iteration=n, pool=self.p.pool,
                                            held_out=self.p.held_out, initial_state=self.real_reset,
                                            seed=self.seed * 100003 + n)
        self.p.store.add(accepted)
        self.p.pool.add(accepted)
        if verdicts:
            self.tracker.log_table(pd.DataFrame([{"parent": v.parent_id, "text": v.text, "reason": v.reason or "accepted",
                                                  "detail": v.detail} for v in verdicts]),
                                   f"curriculum/written-{n:05d}.json")
        return {**out, **{f"curriculum/{k}": float(c) for k, c in counts(verdicts).items()}}

    # ---- one iteration ----------------------------------------------------------------------------------------
    def iteration(self, n: int) -> dict[str, float]:
        """Run iteration `n` (see the module docstring); returns its metrics."""
        t0 = time.perf_counter()
        tr, cfg = self.p.trainer, self.cfg
        for e in self.p.envs:
            e.iteration, e.policy_version = n, f"{self.name}-it{n}"
            e.drain_steps()
        share = self.cur.max_generated_share if self.cur.task_generation else 0.0
        batch = self.p.pool.draw(tr.params.tasks_per_update, self.rng, share)
        horizon = tr.horizon
        checked: dict[str, Any] = {}

        def check(episodes):
            t = time.perf_counter()
            checked["rows"], checked["monitor"] = self._guard(episodes, horizon)
            checked["guard_s"] = time.perf_counter() - t

        synth0 = float(self.p.xm.stats.get("seconds", 0.0))
        m = tr.step(batch, check=check)
        m["perf/synthesis_s"] = float(self.p.xm.stats.get("seconds", 0.0)) - synth0
        m["perf/policy_forward_s"] = m["perf/rollout_s"] - m["perf/synthesis_s"]
        episodes = tr.last_episodes
        t = time.perf_counter()
        m.update(self._curriculum(n, episodes))
        t_cur = time.perf_counter() - t
        rows = checked["rows"]
        t = time.perf_counter()
        if self.p.buffer is not None:
            self.p.buffer.add(rows, atomic=True)
            info = self.p.buffer.snapshot(f"iter-{n}")
            m.update({"buffer/rows": float(info.rows),
                      "buffer/synthetic_rows": float(self.p.buffer.count(source="synthetic")),
                      "buffer/version": float(self.p.buffer.version)})
        pool_version = self.p.store.tag(f"iter-{n}")
        t_buf = time.perf_counter() - t
        m.update(checked["monitor"])
        t = time.perf_counter()
        if self.p.evaluate is not None and ((cfg.eval_every and n % cfg.eval_every == 0) or n == self._last):
            ev = self.p.evaluate()
            self.counters["eval_real_steps"] += int(ev.pop("eval/real_steps", 0))
            m.update(ev)
            self.curve.append({"iteration": float(n), **ev})
        t_eval = time.perf_counter() - t
        parse_fail = int(rows["parse_failure"].fillna("").ne("").sum()) if len(rows) else 0
        m.update({"loop/iteration": float(n), "loop/batch_generated_share": sum(x.source == "generated" for x in batch) / len(batch),
                  "loop/pool_size": float(len(self.p.pool)), "loop/pool_generated_share": self.p.pool.generated_share,
                  "loop/pool_version": float(pool_version), "loop/parse_failures": float(parse_fail),
                  "loop/synthetic_success": m["rl/success"], "loop/synthetic_steps": float(len(rows)),
                  **{f"loop/{k}": float(v) for k, v in self.counters.items()},
                  "perf/guard_s": checked["guard_s"], "perf/curriculum_s": t_cur, "perf/buffer_s": t_buf,
                  "perf/eval_s": t_eval})
        self._checkpoint(n)
        m["perf/iteration_s"] = time.perf_counter() - t0
        return m

    def run(self, iterations: int, *, show_progress: bool = True,
            on_iteration: Callable[[int, dict[str, float]], None] | None = None) -> list[dict[str, float]]:
        """Iterations completed+1 .. `iterations`, each in a nested tracker run `iter-<n>` tagged with the buffer
        and pool tags; an evaluation before the first one of a fresh loop. Returns the evaluation curve."""
        from tqdm import tqdm

        self._last = int(iterations)
        if self.completed == 0 and self.p.evaluate is not None and not self.curve:
            ev = self.p.evaluate()
            self.counters["eval_real_steps"] += int(ev.pop("eval/real_steps", 0))
            self.curve.append({"iteration": 0.0, **ev})
            self.tracker.log_metrics(ev, step=0)
        for n in tqdm(range(self.completed + 1, iterations + 1), desc="dreamgym loop", unit="it",
                      disable=not show_progress, initial=self.completed, total=iterations):
            with self.tracker.run(f"{self.name}-iter-{n:04d}", nested=True,
                                  tags={"iteration": str(n), "loop": self.name, "buffer_tag": f"iter-{n}",
                                        "pool_tag": f"iter-{n}"}):
                m = self.iteration(n)
                self.tracker.log_metrics(m)
            self.tracker.log_metrics({k: v for k, v in m.items() if k.startswith(("loop/", "eval/", "rl/success"))},
                                     step=n)
            if on_iteration is not None:
                on_iteration(n, m)
        return self.curve
