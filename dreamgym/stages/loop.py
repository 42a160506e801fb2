"""The dreamgym_loop stage: the policy trained against the experience model (0 real RL steps), its buffer and
task pool grown as it goes, evaluated in the real env beside its baselines.

    xm, gate = experience_model(cfg, tracking_uri)                 # the registered model (or an allowed ungated one)
    parts = build_parts(cfg, root, steps, tasks, xm, tracker)      # BC warm start, SyntheticEnvs, pool, buffer
    loop = DreamGymLoop(parts, cfg.loop, cfg.curriculum, state_dir(cfg, root), tracker, name=loop_name(cfg), ...)
    loop.resume(); curve = loop.run(cfg.loop.iterations)
    record = finish(cfg, loop, tracker, out_dir, base)             # final real test evaluation, save, register

The policy is configured by `policy.*` (model, acting, GRPO/PPO and its horizon schedule, BC warm start, the
evaluation horizon), the loop by `loop.*` and the task generator by `curriculum.*`. The loop's folder
artifacts/loop/runs/<name>/ holds its state, checkpoints, its replay buffer (a copy of the seed buffer's snapshot,
then every iteration's synthetic rows, tagged iter-<n>) and its task pool (a Lance table, tagged iter-<n>).
Simplification: one env per loop, the policy's (policy.env, policy.env_kwargs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dreamgym.config import DreamGymConfig
from dreamgym.errors import DreamGymError
from dreamgym.tracking import Tracker

STAGE = "dreamgym_loop"


def grouping(cfg: DreamGymConfig) -> str:
    """What the curriculum's reward variance is computed over: per task, or per embedding cluster (PPO)."""
    g = cfg.curriculum.grouping
    return ("cluster" if cfg.policy.rl.algo == "ppo" else "task") if g == "auto" else g


def ablation(cfg: DreamGymConfig, spec) -> str:
    """The parts of DreamGym this run switches off (the paper's ablations), or "full"; `spec`: the experience
    model's PromptSpec (its reasoning, history and retrieval settings)."""
    off = (("no-task-generation", not cfg.curriculum.task_generation), ("no-replay", not cfg.loop.replay),
           ("no-reasoning", not spec.with_reasoning), ("no-history", spec.history_window == 0))
    return ",".join(n for n, is_off in off if is_off) or "full"


def loop_name(cfg: DreamGymConfig) -> str:
    """The loop's folder and run name: loop.name, or <env>-<algo>-s<seed>[-notaskgen][-noreplay]."""
    if cfg.loop.name:
        return cfg.loop.name
    p = cfg.policy
    extra = ("" if cfg.curriculum.task_generation else "-notaskgen") + ("" if cfg.loop.replay else "-noreplay")
    return f"{p.env}-{p.rl.algo}-s{p.seed}{extra}"


def state_dir(cfg: DreamGymConfig, root: str | Path) -> Path:
    """The loop's folder: artifacts/loop/runs/<name> (state, checkpoints, replay buffer, task pool)."""
    return Path(root) / cfg.paths.artifacts_dir / "loop" / "runs" / loop_name(cfg)


#: loop settings that may change between a run and its resume (how long and how often it measures)
RESUMABLE = ("iterations", "eval_every", "eval_episodes", "final_episodes", "guard", "name")


def fingerprint(cfg: DreamGymConfig) -> str:
    """What a loop's folder must have been made with to be resumed: the policy, its env, the loop (less RESUMABLE),
    the curriculum, the experience model's source and the buffer's embedder; a short sha256."""
    import hashlib
    import json

    what = {"policy": cfg.policy.model_dump(), "env": cfg.policy_env_kwargs(),
            "loop": cfg.loop.model_dump(exclude=set(RESUMABLE)), "curriculum": cfg.curriculum.model_dump(),
            "embedder": [cfg.buffer.embedder, cfg.buffer.embedder_kwargs], "seed": cfg.project.seed}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def prepare_dir(cfg: DreamGymConfig, root: str | Path) -> Path:
    """The loop's folder, ready to resume: one made with another configuration (state.json's fingerprint) is moved
    aside to `<name>.replaced-<time>` (nothing is deleted) and a fresh loop starts; returns the folder."""
    import json
    import logging
    import time

    d = state_dir(cfg, root)
    state = d / "state.json"
    if state.is_file():
        try:
            old = json.loads(state.read_text()).get("fingerprint")
        except ValueError:
            old = None
        if old != fingerprint(cfg):
            aside = d.with_name(f"{d.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
            d.rename(aside)
            logging.getLogger(__name__).warning(f"{d} held a loop of another configuration; moved to {aside}")
    d.mkdir(parents=True, exist_ok=True)
    return d


def experience_model(cfg: DreamGymConfig, tracking_uri: str | None, root: str | Path):
    """(ExperienceModel, gate) of the loop: `loop.experience_model` "registry" loads the latest registered
    dreamgym-experience-<env> (only models that passed their gate are registered; gate "passed"); "stage" (the
    experience stage's saved model of the env), a path or a URI only with loop.require_gate false ("unchecked"). DreamGymError says what to do otherwise."""
    from dreamgym.experience.checkpoint import load_experience_model

    env, src = cfg.policy.env, cfg.loop.experience_model
    if src == "registry":
        uri = f"models:/dreamgym-experience-{env}/latest"
        try:
            return load_experience_model(uri, tracking_uri=tracking_uri, cfg=cfg.experience, env=env), "passed"
        except Exception as e:  # mlflow raises its own errors for a name that was never registered
            raise DreamGymError(
                f"no registered experience model for '{env}' ({uri}: {str(e).splitlines()[0][:120]}): only a model "
                f"that passed its fidelity gate is registered; train one (python -m flows.experience) or, to run "
                f"the loop on an ungated model, set loop.experience_model=artifacts/experience/models/{env} and "
                f"loop.require_gate=false") from None
    if cfg.loop.require_gate:
        raise DreamGymError(f"loop.experience_model={src} is not the registry's gated model; set "
                            f"loop.require_gate=false to run the loop on it (the run is tagged experience_gate=unchecked)")
    if src == "stage":
        src = str(Path(root) / cfg.paths.artifacts_dir / "experience" / "models" / env)
    else:
        from dreamgym.stages.policy import source_under

        src = source_under(src, root)
    return load_experience_model(src, tracking_uri=tracking_uri, cfg=cfg.experience, env=env), "unchecked"


def open_buffer(cfg: DreamGymConfig, root: str | Path, seed_tag: str | None):
    """The loop's replay buffer (artifacts/loop/<name>/buffer), created as a copy of the seed buffer's snapshot
    `seed_tag` when new; None with loop.replay off."""
    from dreamgym.buffer import ReplayBuffer
    from dreamgym.experience.retrieval import state_key

    if not cfg.loop.replay:
        return None
    own = cfg.buffer.model_copy(update={"uri": str(state_dir(cfg, root) / "buffer")})
    buf = ReplayBuffer.from_config(own, state_key=state_key(cfg.experience.state_budget))
    if len(buf) == 0 and seed_tag:
        seed = ReplayBuffer.from_config(cfg.buffer, root=root).checkout(seed_tag)
        buf.copy_from(seed)
        buf.snapshot("seed")
    return buf


def build_parts(cfg: DreamGymConfig, root: str | Path, steps, tasks, xm, tracker: Tracker, seed_tag: str | None):
    """Everything the loop runs on (loop.LoopParts): the policy (stages.policy.start_policy, as train_policy's:
    policy.init, or a fresh one warm-started by behaviour cloning), its trainer over one SyntheticEnv per rollout,
    the pool and its store, the buffer, one real env, the held-out task keys, the real val evaluation and PPO's task embedder."""
    from dreamgym.curriculum.pool import PoolStore, TaskPool, task_key
    from dreamgym.envs import make_env
    from dreamgym.experience.retrieval import buffer_retriever
    from dreamgym.experience.synthetic import SyntheticEnv
    from dreamgym.loop.loop import LoopParts
    from dreamgym.policy.trainer import PolicyTrainer
    from dreamgym.stages import policy as pstage

    p, kw = cfg.policy, cfg.policy_env_kwargs()
    prepare_dir(cfg, root)
    real = make_env(p.env, **kw)
    agent, _ = pstage.start_policy(cfg, root, steps, tasks, real, tracker)
    buf = open_buffer(cfg, root, seed_tag)
    if buf is None or xm.spec.k == 0:
        xm.spec = dataclasses.replace(xm.spec, k=0)
        xm.retriever = None
    else:
        xm.retriever = buffer_retriever(buf, p.env, xm.spec.k)
    store = PoolStore(state_dir(cfg, root) / "pool")
    pool = TaskPool(real.list_tasks("train", n=p.rl.task_pool), store.load())
    holder: dict[str, Any] = {}
    envs = [SyntheticEnv(xm, [], lambda t: holder["loop"].initial_state(t), max_steps=real.max_steps, env_kwargs=kw)
            for _ in range(p.rl.tasks_per_update * p.rl.group_size)]
    trainer = PolicyTrainer(agent, p.rl, envs, pool.seed, seed=p.seed)
    held = {task_key(t) for s in ("val", "test") for t in real.list_tasks(s)}
    eval_envs = [make_env(p.env, **kw) for _ in range(min(32, cfg.loop.eval_episodes))]
    val = real.list_tasks(p.eval.split, n=cfg.loop.eval_episodes)

    def evaluate() -> dict[str, float]:
        m = pstage.evaluate(cfg, agent, eval_envs, val, "eval/")
        m["eval/real_steps"] = pstage.eval_real_steps(m)
        return m

    embed = None
    if grouping(cfg) == "cluster":
        from dreamgym.buffer.embedders import make_embedder

        emb = buf.embedder if buf is not None else make_embedder(cfg.buffer.embedder, **cfg.buffer.embedder_kwargs)
        embed = emb.embed
    parts = LoopParts(agent=agent, trainer=trainer, xm=xm, envs=envs, pool=pool, store=store, buffer=buf,
                      real_env=real, held_out=held, evaluate=evaluate, embed=embed,
                      max_reward=cfg.quality.max_reward, max_text_chars=cfg.quality.max_text_chars)
    return parts, holder, eval_envs


def make_loop(cfg: DreamGymConfig, root: str | Path, parts, holder: dict, tracker: Tracker):
    """The DreamGymLoop over `parts`, resumed from its folder (its SyntheticEnvs read first states through it)."""
    from dreamgym.loop.loop import DreamGymLoop

    loop = DreamGymLoop(parts, cfg.loop, cfg.curriculum, state_dir(cfg, root), tracker, name=loop_name(cfg),
                        seed=cfg.policy.seed, grouping=grouping(cfg), fingerprint=fingerprint(cfg))
    holder["loop"] = loop
    loop.resume()
    return loop


def measure_baselines(cfg: DreamGymConfig, env) -> dict[str, float]:
    """Random and expert on the loop's val tasks (loop.eval_episodes) and final tasks (loop.final_episodes), at the
    policy's evaluation horizon (`eval/random_*`, `eval/<final split>_expert_*`, ...)."""
    from dreamgym.policy.evaluate import baseline_metrics, baselines
    from dreamgym.stages.policy import eval_horizon

    p, h = cfg.policy, eval_horizon(cfg)
    val = env.list_tasks(p.eval.split, n=cfg.loop.eval_episodes)
    final = env.list_tasks(p.eval.final_split, n=cfg.loop.final_episodes)
    return {**baseline_metrics(baselines(env, val, horizon=h, seed=p.seed), "eval/"),
            **baseline_metrics(baselines(env, final, horizon=h, seed=p.seed), f"eval/{p.eval.final_split}_")}


def tags(cfg: DreamGymConfig, spec, gate: str) -> dict[str, str]:
    """The loop run's tags: stage, env, algorithm, seed, ablation, the experience model's gate, method."""
    p = cfg.policy
    return {"stage": STAGE, "env": p.env, "algo": p.rl.algo, "seed": str(p.seed), "ablation": ablation(cfg, spec),
            "experience_gate": gate, "method": "dreamgym", "loop": loop_name(cfg)}


def start_evaluation(cfg: DreamGymConfig, loop, eval_envs, tracker: Tracker) -> dict[str, float]:
    """The starting policy (the BC warm start) on the final split's loop.final_episodes tasks, as
    `eval/<split>_start_*`: measured before the first iteration and kept in the loop's folder (start.json,
    written atomically), so a resumed loop reports the same start."""
    import json

    from dreamgym.stages import policy as pstage

    path = Path(loop.dir) / "start.json"
    if path.is_file():
        got = json.loads(path.read_text())
    else:
        fs = cfg.policy.eval.final_split
        tasks = loop.p.real_env.list_tasks(fs, n=cfg.loop.final_episodes)
        got = pstage.evaluate(cfg, loop.p.agent, eval_envs, tasks, f"eval/{fs}_start_")
        tmp = path.with_name(".start.json.tmp")
        tmp.write_text(json.dumps(got))
        tmp.replace(path)
    tracker.log_metrics(got)
    return got


def finish(cfg: DreamGymConfig, loop, tracker: Tracker, out_dir: Path, base: Mapping[str, float],
           eval_envs, start: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The final real test evaluation (loop.final_episodes tasks, beside random and expert), the policy saved to
    out_dir/models/<loop name> and logged (registered as dreamgym-loop-policy-<env>); returns the stage's record."""
    from dreamgym.policy.checkpoint import plain_model, save_policy
    from dreamgym.stages import policy as pstage

    p, fs = cfg.policy, cfg.policy.eval.final_split
    final_tasks = loop.p.real_env.list_tasks(fs, n=cfg.loop.final_episodes)
    final = pstage.evaluate(cfg, loop.p.agent, eval_envs, final_tasks, f"eval/{fs}_")
    tracker.log_metrics({**final, **{f"loop/{k}": float(v) for k, v in loop.counters.items()}})
    tracker.log_dict({"curve": loop.curve, "final": final, "baselines": dict(base), "counters": loop.counters},
                     "loop/learning_curve.json")
    name = loop_name(cfg)
    save_policy(loop.p.agent, out_dir / "models" / name)
    version = tracker.log_model(plain_model(loop.p.agent), loop.p.agent.tokenizer, "model",
                                f"dreamgym-loop-policy-{p.env}",
                                tags={"loop": name, "iterations": str(loop.completed), "algo": p.rl.algo,
                                      "seed": str(p.seed), f"{fs}_success": f"{final[f'eval/{fs}_success']:.3f}"})
    return {"env": p.env, "algo": p.rl.algo, "seed": p.seed, "loop": name, "run_id": tracker.run_id,
            "iterations": loop.completed, "registered_version": version, "counters": dict(loop.counters),
            "eval_start": loop.curve[0] if loop.curve else None, "eval_end": loop.curve[-1] if loop.curve else None,
            "final": final, "start": dict(start or {}), "baselines": dict(base),
            "resumed": getattr(loop, "resumed", {})}


def summary(cfg: DreamGymConfig, r: Mapping[str, Any]) -> str:
    """The closing line: real test success beside random and expert, and the real RL steps used (0)."""
    fs = cfg.policy.eval.final_split
    if "final" not in r:
        return "no result"
    f, b, s0 = r["final"], r["baselines"], r.get("start") or {}
    start = f"from {s0[f'eval/{fs}_start_success']:.2f} (BC) " if s0 else ""
    return (f"{r['loop']}: {r['iterations']} iterations, real RL steps {r['counters']['real_steps']}; {fs} success "
            f"{start}to {f[f'eval/{fs}_success']:.2f} [{f[f'eval/{fs}_ci_low']:.2f}, {f[f'eval/{fs}_ci_high']:.2f}] "
            f"(random {b[f'eval/{fs}_random_success']:.2f}, expert {b[f'eval/{fs}_expert_success']:.2f})")


def curve_rows(curve: list[Mapping[str, float]]) -> list[dict[str, float]]:
    """The loop's real val evaluations as the DVC plot's rows (artifacts/loop/curve.json): iteration, success and
    its 95% interval."""
    return [{"iteration": int(c["iteration"]), "success": c["eval/success"], "ci_low": c["eval/ci_low"],
             "ci_high": c["eval/ci_high"]} for c in curve if "eval/success" in c]
