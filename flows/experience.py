"""Experience-model stage: train one experience model per env on the real seed data, measure it, gate it.

    python -m flows.experience                         # params.yaml: experience.envs, tiny model, full budgets
    python -m flows.experience --preset tiny           # seconds-long budgets, for tests and CI
    python -m flows.experience -S experience.k=0       # an ablation: no retrieval (also history_window=0,
                                                       #   with_reasoning=false)

For each env of `experience.envs`: read data/<env>/{steps,tasks}.parquet; open the replay buffer at the
snapshot the seed_buffer stage pinned (artifacts/buffer_snapshot.json) for retrieval; build examples, train
with TRL's SFTTrainer, score held-out real transitions and open-loop episodes (dreamgym.experience.train);
run the GX gate on the fidelity metrics and the model's outputs; log everything to a nested MLflow run
(config, buffer snapshot, training curves, `exp/*` metrics, the prediction table beside the real outcomes,
the gate report, the model + tokenizer); register a model that passed the gate as
`dreamgym-experience-<env>`. Saves the model to artifacts/experience/models/<env> and writes
artifacts/experience/metrics.json (a DVC metric). A failed gate stops the stage after every env was tried,
unless experience.gate.enforce is false.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dreamgym.buffer import ReplayBuffer
from dreamgym.config import DreamGymConfig
from dreamgym.errors import DreamGymError, GateError
from dreamgym.experience.retrieval import buffer_retriever
from dreamgym.experience.train import ExperienceRun, train_experience_model
from dreamgym.models import merge_lora, save_model
from dreamgym.quality import validate_experience_model
from flows.common import load_env_data, run_cli, tracker_for


@task(cache_policy=NO_CACHE)
def open_buffer(cfg: DreamGymConfig, root: Path) -> tuple[ReplayBuffer | None, dict | None]:
    """The buffer at the seed snapshot (None when retrieval is off)."""
    if cfg.experience.k == 0:
        return None, None
    snap_file = root / cfg.paths.artifacts_dir / "buffer_snapshot.json"
    if not snap_file.is_file():
        raise DreamGymError(f"{snap_file} not found: run the seed_buffer stage first (python -m flows.buffer), or "
                            f"set experience.k=0 to train without retrieval")
    snap = json.loads(snap_file.read_text())
    view = ReplayBuffer.from_config(cfg.buffer, root=root).checkout(snap["tag"])
    return view, view.info(snap["tag"]).to_dict()


@task(cache_policy=NO_CACHE)  # models, buffers and callbacks: nothing to hash
def train(cfg: DreamGymConfig, root: Path, env: str, steps, tasks, buf, on_log, version: str) -> ExperienceRun:
    retriever = buffer_retriever(buf, env, cfg.experience.k) if buf is not None else None
    with tempfile.TemporaryDirectory(prefix="dreamgym-sft-") as scratch:
        return train_experience_model(steps, tasks, env, cfg.experience, cache_dir=root / cfg.experience.model.cache_dir,
                                      scratch_dir=Path(scratch), retriever=retriever, on_log=on_log, version=version,
                                      max_steps=env_max_steps(cfg, env))


def env_max_steps(cfg: DreamGymConfig, env: str) -> int:
    """The step limit the seed data was collected with: params.yaml's envs.<env>.max_steps, else the default."""
    import inspect

    from dreamgym.envs.registry import get_env_class

    if "max_steps" in cfg.env_kwargs(env):
        return int(cfg.env_kwargs(env)["max_steps"])
    return int(inspect.signature(get_env_class(env).__init__).parameters["max_steps"].default)


@task(cache_policy=NO_CACHE)
def gate_model(cfg: DreamGymConfig, run: ExperienceRun):
    return validate_experience_model({**run.fidelity}, run.table, cfg.experience.gate.thresholds(run.env), run.env,
                                     cfg.quality.max_reward)


@flow(name="experience", log_prints=False)
def experience_flow(cfg: DreamGymConfig, root: str = ".") -> dict:
    """Train, measure, gate, log and register one experience model per env; returns the metrics per env."""
    logger = get_run_logger()
    rootp = Path(root).resolve()
    tracker = tracker_for(cfg, rootp)
    out_dir = rootp / cfg.paths.artifacts_dir / "experience"
    results: dict[str, dict] = {}
    failed: list[str] = []
    x = cfg.experience
    ablation = ",".join(n for n, off in (("no-reasoning", not x.with_reasoning), ("no-history", x.history_window == 0),
                                         ("no-retrieval", x.k == 0), ("no-augmentation", x.augment_copies == 0)) if off) or "full"
    with tracker.run("train_experience_model", tags={"stage": "train_experience_model", "ablation": ablation}):
        tracker.log_config(cfg.model_dump())
        buf, snap = open_buffer(cfg, rootp)
        for env in x.envs:
            with tracker.run(f"experience-{env}", nested=True, tags={"env": env, "ablation": ablation}) as t:
                if snap:
                    t.log_buffer_snapshot(snap)
                steps, tasks = load_env_data(str(rootp / cfg.paths.data_dir), env)
                run = train(cfg, rootp, env, steps, tasks, buf, t.log_metrics, version=f"experience-{env}-{ablation}")
                report = gate_model(cfg, run)
                t.log_metrics(run.metrics())
                t.log_table(run.table, f"predictions/{env}.json")
                t.log_dict({"history": run.sft.history, **run.sft.to_dict()}, "sft/result.json")
                t.log_dict(report.to_dict(), "gate/experience_model_report.json")
                model = merge_lora(run.model) if x.model.lora else run.model  # a plain causal LM to save and log
                save_model(model, run.tokenizer, out_dir / "models" / env)
                version = None
                if report.ok:
                    version = t.log_model(model, run.tokenizer, "model", f"dreamgym-experience-{env}",
                                          tags={"ablation": ablation, "gate": "passed"})
                    t.set_tags({"gate": "passed"})
                else:
                    t.log_model(model, run.tokenizer, "model")
                    t.set_tags({"gate": "failed"})
                    failed.append(env)
                    logger.warning(report.to_text())
                results[env] = {"fidelity": run.fidelity, "open_loop": run.open_loop, "sft": run.sft.metrics(),
                                "parameters": run.parameters, "seconds": run.seconds, "gate": report.ok,
                                "registered_version": version, "ablation": ablation}
                f = run.fidelity
                logger.info(f"{env}: exact next {f['exact_next']:.3f} (determined {f['exact_next_determined']:.3f}), "
                            f"done acc {f['done_acc']:.3f}, parse {f['parse_rate']:.3f}, gate "
                            f"{'passed' if report.ok else 'FAILED'}")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "metrics.json").write_text(json.dumps(results, indent=2, sort_keys=True, default=str))
        if failed and x.gate.enforce:
            tracker.set_tags({"gate": "failed"})
            raise GateError(f"experience-model gate failed for {failed}: see the gate reports in MLflow and "
                            f"{out_dir / 'metrics.json'}", {"failed": failed})
    return results


def main(argv: list[str] | None = None) -> int:
    def extra(p):
        p.add_argument("--root", default=".", help="project root")

    def summary(cfg, a, r) -> str:
        return ", ".join(f"{e} gate {'passed' if v.get('gate') else 'failed'}"
                         + (f" (registered v{v['registered_version']})" if v.get("registered_version") else "")
                         for e, v in r.items() if isinstance(v, dict)) or "no envs"

    return run_cli(__doc__.splitlines()[0], argv, extra, lambda cfg, a: experience_flow(cfg, root=a.root),
                   stage="train_experience_model", summary=summary)


if __name__ == "__main__":
    sys.exit(main())
