"""Real-environment cost: the baseline the synthetic environment will be compared to.

For each env (each in its own process, so peak memory is its own): reset cost, step throughput when the agent
does not ask for the valid actions and when it asks after every step (the list is what some agents need),
the expert's success rate on the same val tasks, and the peak resident memory of the process and its children (ScienceWorld's JVM is a child).
Actions replay the noisy expert's choices recorded in a first pass, so both timed passes do the same work.

    python bench/envs.py            # full run (~ a few minutes)
    python bench/envs.py --quick    # same keys, about a minute
    python bench/envs.py --envs babyai textcraft

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ENVS = ["babyai", "textcraft", "textworld", "scienceworld"]


class PeakRss:
    """Samples RSS of this process + its children every 20 ms."""

    def __init__(self):
        import psutil

        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def sample(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except Exception:
                pass
        self.peak = max(self.peak, total)
        return total

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            time.sleep(0.02)

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        self.sample()
        return self.peak / 2**20


def worker(env_name: str, n_tasks: int, params: str) -> dict:
    from dreamgym.config import load_config
    from dreamgym.data.collect import choose_action
    from dreamgym.envs import make_env

    rss = PeakRss()
    kwargs = load_config(params).env_kwargs(env_name) if Path(params).is_file() else {}
    t0 = time.perf_counter()
    env = make_env(env_name, **kwargs)
    tasks = env.list_tasks("val", n=n_tasks)
    startup = time.perf_counter() - t0
    # pass 0: the expert alone on the val tasks (the acceptance figure: success rate on 50 val tasks)
    won, lengths = 0, []
    for task in tasks:
        env.reset(task)
        done, info, n = False, {}, 0
        while not done:
            a = env.expert_action()
            _, _, done, info = env.step(a if a is not None else "")
            n += 1
        won += bool(info.get("success"))
        lengths.append(n)
    # pass 1: record noisy-expert action sequences (also warms caches, e.g. generated games)
    plans = []
    for i, task in enumerate(tasks):
        rng = random.Random(i)
        env.reset(task)
        acts, done = [], False
        while not done:
            a = choose_action(env, "noisy", rng, 0.2)
            acts.append(a)
            done = env.step(a).done
        plans.append((task, acts))
    n_steps = sum(len(a) for _, a in plans)

    def timed(with_list: bool) -> tuple[float, float]:
        reset_s = step_s = 0.0
        for task, acts in plans:
            t = time.perf_counter()
            env.reset(task)
            if with_list:
                env.available_actions()
            reset_s += time.perf_counter() - t
            t = time.perf_counter()
            for a in acts:
                env.step(a)
                if with_list:
                    env.available_actions()
            step_s += time.perf_counter() - t
        return reset_s, step_s

    r0, s0 = timed(False)
    r1, s1 = timed(True)
    env.close()
    return {
        "tasks": len(plans), "expert_success_rate": round(won / len(tasks), 4),
        "expert_mean_steps": round(sum(lengths) / len(lengths), 2), "steps": n_steps, "startup_s": round(startup, 3),
        "reset_ms": round(1000 * r0 / len(plans), 3),
        "steps_per_s": round(n_steps / s0, 1),
        "steps_per_s_with_actions": round(n_steps / s1, 1) if env.has_action_list else None,
        "has_action_list": env.has_action_list,
        "peak_rss_mb": round(rss.stop(), 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer tasks: same keys in about a minute")
    p.add_argument("--envs", nargs="+", default=ENVS)
    p.add_argument("--tasks", type=int, default=None, help="tasks per env (default 50, quick 10)")
    p.add_argument("--params", default=str(ROOT / "params.yaml"))
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    n = a.tasks or (8 if a.quick else 50)
    if a.worker:
        print(json.dumps(worker(a.worker, n, a.params)))
        return
    out = {"bench": "envs", "quick": a.quick, "tasks_per_env": n,
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}, "envs": {}}
    for env_name in a.envs:
        proc = subprocess.run([sys.executable, __file__, "--worker", env_name, "--tasks", str(n), "--params", a.params],
                              capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        out["envs"][env_name] = json.loads(lines[-1]) if proc.returncode == 0 and lines else {
            "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
