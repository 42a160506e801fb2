"""The train_experience_model stage: train, measure, gate, log and register one experience model per env.

    name = ablation(cfg.experience)                        # "full", or e.g. "no-history,no-retrieval"
    run = train_env(cfg, "myenv", steps, tasks, buf, root, on_log=tracker.log_metrics, version="experience-myenv")
    record = gate_log_register(cfg, run, tracker, Path("artifacts/experience/models/myenv"), name)
    enforce_gate(cfg, {"myenv": record}, tracker, "artifacts/experience/metrics.json")

`gate_log_register` runs the GX gate on the fidelity metrics and the model's outputs, logs the metrics, the
prediction table, the SFT curve and the gate report to the tracker's current run, saves the model (LoRA merged;
its prompt and generation settings in config.json, see experience.checkpoint) and logs it, registering
`dreamgym-experience-<env>` only when the gate passed. Its return value is the env's entry of the stage's DVC
metric (artifacts/experience/metrics.json).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dreamgym.buffer import ReplayBuffer
from dreamgym.config import BufferConfig, DreamGymConfig, ExperienceConfig
from dreamgym.envs.registry import get_spec
from dreamgym.errors import GateError
from dreamgym.experience.checkpoint import save_experience_model
from dreamgym.experience.fidelity import figure
from dreamgym.experience.retrieval import buffer_retriever
from dreamgym.experience.train import ExperienceRun, train_shared_experience_model
from dreamgym.models import merge_lora
from dreamgym.quality import validate_experience_model
from dreamgym.tracking import Tracker

STAGE = "train_experience_model"
log = logging.getLogger(__name__)


def ablation(x: ExperienceConfig) -> str:
    """The paper's ablation a config runs: the switched-off parts joined by commas (led by "shared" for one model
    of all envs), or "full"."""
    off = (("shared", x.shared), ("no-reasoning", not x.with_reasoning), ("no-history", x.history_window == 0),
           ("no-retrieval", x.k == 0), ("no-augmentation", x.augment_copies == 0))
    return ",".join(name for name, is_off in off if is_off) or "full"


def open_snapshot(cfg: BufferConfig, root: str | Path, tag: str) -> tuple[ReplayBuffer, dict[str, Any]]:
    """The replay buffer checked out at snapshot `tag` (read-only), and the snapshot's record."""
    view = ReplayBuffer.from_config(cfg, root=root).checkout(tag)
    return view, view.info(tag).to_dict()


def env_max_steps(cfg: DreamGymConfig, env: str) -> int:
    """The step limit env `env`'s seed data was collected with: its `max_steps` in params.yaml `envs.<env>`, else
    its typed config's default, else (a plug-in env with neither) the env's own."""
    kwargs = cfg.env_kwargs(env)
    if "max_steps" in kwargs:
        return int(kwargs["max_steps"])
    spec = get_spec(env)
    if spec.config is not None and "max_steps" in spec.config.model_fields:
        return int(spec.config().max_steps)
    with spec.make(**kwargs) as e:
        return int(e.max_steps)


def train_env(cfg: DreamGymConfig, env: str, steps, tasks, buf: ReplayBuffer | None, root: str | Path,
              on_log: Callable[..., None], version: str) -> ExperienceRun:
    """Train and measure env `env`'s experience model on its real seed `steps` and `tasks` (retrieving from `buf`
    when given), in a scratch folder that is removed afterwards."""
    return train_shared(cfg, {env: (steps, tasks)}, buf, root, on_log, version)[env]


def train_shared(cfg: DreamGymConfig, data: Mapping[str, tuple[Any, Any]], buf: ReplayBuffer | None,
                 root: str | Path, on_log: Callable[..., None], version: str) -> dict[str, ExperienceRun]:
    """One experience model for every env of `data` (env -> (steps, tasks)), trained once and measured per env
    (experience.shared; one env: train_env), in a scratch folder that is removed afterwards."""
    retrievers = {env: buffer_retriever(buf, env, cfg.experience.k) for env in data} if buf is not None else None
    with tempfile.TemporaryDirectory(prefix="dreamgym-sft-") as scratch:
        return train_shared_experience_model({env: (s, t, env_max_steps(cfg, env)) for env, (s, t) in data.items()},
                                             cfg.experience, cache_dir=Path(root) / cfg.experience.model.cache_dir,
                                             scratch_dir=Path(scratch), retrievers=retrievers, on_log=on_log,
                                             version=version)


def gate_log_register(cfg: DreamGymConfig, run: ExperienceRun, tracker: Tracker, model_dir: Path,
                      ablation_name: str) -> dict[str, Any]:
    """Gate `run`, log it to the tracker's current run, save its model to `model_dir` and log it (registered as
    `dreamgym-experience-<env>` only if the gate passed). Returns the env's record (fidelity, open loop, SFT,
    gate, registered version)."""
    env = run.env
    report = validate_experience_model({**run.fidelity}, run.table, cfg.experience.gate.thresholds(env), env,
                                       cfg.quality.max_reward)
    tracker.log_metrics(run.metrics())
    tracker.log_table(run.table, f"predictions/{env}.json")
    tracker.log_dict({"history": run.sft.history, **run.sft.to_dict()}, "sft/result.json")
    tracker.log_dict(report.to_dict(), "gate/experience_model_report.json")
    model = merge_lora(run.model) if cfg.experience.model.lora else run.model  # a plain causal LM to save and log
    save_experience_model(run.experience_model, model_dir, model=model)  # its config.json carries the settings
    gate = "passed" if report.ok else "failed"
    version = tracker.log_model(model, run.tokenizer, "model",
                                f"dreamgym-experience-{env}" if report.ok else None,
                                tags={"ablation": ablation_name, "gate": gate} if report.ok else None)
    tracker.set_tags({"gate": gate})
    if not report.ok:
        log.warning(report.to_text())
    return {"fidelity": run.fidelity, "open_loop": run.open_loop, "sft": run.sft.metrics(),
            "parameters": run.parameters, "seconds": run.seconds, "torch_threads": run.threads, "gate": report.ok,
            "registered_version": version if report.ok else None, "ablation": ablation_name}


def env_line(env: str, record: Mapping[str, Any]) -> str:
    """One log line of an env's record, each rate with its 95% interval and count (fidelity.figure): exact next
    state (overall, determined), success precision / recall, done and validity accuracy, consistency, parse, gate."""
    f = record["fidelity"]
    shown = (("exact next", "exact_next"), ("determined", "exact_next_determined"), ("success P", "success_precision"),
             ("R", "success_recall"), ("done acc", "done_acc"), ("valid acc", "valid_acc"),
             ("consistency", "consistency"), ("parse", "parse_rate"))
    return (f"{env} ({int(f.get('n_success') or 0)} real successes scored): "
            + ", ".join(f"{name} {figure(f, key)}" for name, key in shown)
            + f", gate {'passed' if record['gate'] else 'FAILED'}")


def enforce_gate(cfg: DreamGymConfig, results: Mapping[str, Mapping[str, Any]], tracker: Tracker,
                 where: str | Path) -> None:
    """With `experience.gate.enforce`, fail the stage (GateError naming the envs and `where` the metrics are)
    when any env's model failed its gate; tags the stage's run `gate=failed` then."""
    failed = [env for env, r in results.items() if not r["gate"]]
    if failed and cfg.experience.gate.enforce:
        tracker.set_tags({"gate": "failed"})
        raise GateError(f"experience-model gate failed for {failed}: see the gate reports in MLflow and {where}",
                        {"failed": failed})


def summary(cfg: DreamGymConfig, results: Mapping[str, Any]) -> str:
    """The stage's closing line: each env's gate outcome and registered version."""
    return ", ".join(f"{e} gate {'passed' if v.get('gate') else 'failed'}"
                     + (f" (registered v{v['registered_version']})" if v.get("registered_version") else "")
                     for e, v in results.items() if isinstance(v, dict)) or "no envs"
