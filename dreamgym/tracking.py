"""Tracking behind one object: `Tracker` (no-op) and `MlflowTracker`.

Library code takes a Tracker and never imports mlflow itself; the default does nothing, so tests and library
users pay nothing for tracking they did not ask for. Reading a logged model back lives here too, for the same
reason: `is_model_uri` tells an MLflow model URI from a local directory, `load_model_components(uri,
tracking_uri)` returns its (model, tokenizer). Metric names are namespaced by concern:

    data/     seed data (rows, episodes, success rates per env and collection policy)
    gate/     quality gates (checks run / failed)
    exp/      experience model        buffer/  replay buffer        curriculum/  task generation
    rl/       policy training         eval/    real-env evaluation  perf/        throughput and memory
    judge/    the sim-to-real gap of an experience model (dreamgym.experience.gap)
    loop/     the DreamGym loop (iteration, real-step counts, pool and buffer sizes)
    s2r/      sim-to-real (updates, evaluation steps)
    real_steps/  real env steps that trained something, by source and in all (seed_data, loop, s2r, total)

Every MLflow run records the process that started it (tags `dreamgym.pid`, `dreamgym.hostname`,
`dreamgym.process_start`). A top-level run tagged `stage=S` first ends as KILLED every RUNNING run of stage S (and
the nested runs under it) whose recorded process is gone, e.g. one whose flow was SIGKILLed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dreamgym.errors import DreamGymError

NAMESPACES = ("data", "gate", "exp", "buffer", "curriculum", "rl", "eval", "judge", "perf", "loop", "s2r", "real_steps")
PID_TAG, HOST_TAG, START_TAG = "dreamgym.pid", "dreamgym.hostname", "dreamgym.process_start"
PARENT_TAG = "mlflow.parentRunId"

log = logging.getLogger(__name__)


def _start_time(pid: int) -> float | None:
    """The process's start time (seconds since the epoch), None if there is no such live process."""
    import psutil

    try:
        p = psutil.Process(pid)
        return None if p.status() == psutil.STATUS_ZOMBIE else p.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return None


def process_tags(pid: int | None = None) -> dict[str, str]:
    """Tags naming a process (this one by default): pid, hostname and start time, so a later run can tell whether
    it still lives (the start time guards against a reused pid)."""
    pid = os.getpid() if pid is None else pid
    start = _start_time(pid)
    return {PID_TAG: str(pid), HOST_TAG: socket.gethostname(), START_TAG: "" if start is None else f"{start:.2f}"}


def process_alive(tags: Mapping[str, str]) -> bool:
    """Whether the process recorded in a run's tags (process_tags) may still be running. True when it cannot be
    told: no pid recorded (an older run) or another host."""
    pid, host = tags.get(PID_TAG), tags.get(HOST_TAG)
    if not pid or not pid.isdigit() or host != socket.gethostname():
        return True
    start = _start_time(int(pid))
    if start is None:
        return False
    recorded = tags.get(START_TAG)
    try:
        return not recorded or abs(float(recorded) - start) < 0.5  # a different start time: the pid was reused
    except ValueError:
        return True


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists become JSON strings."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = json.dumps(v) if isinstance(v, (list, tuple)) else v
    return out


def check_metric_name(name: str) -> str:
    if name.split("/", 1)[0] not in NAMESPACES or "/" not in name:
        raise ValueError(f"metric '{name}' must be namespaced as one of {[n + '/' for n in NAMESPACES]}")
    return name


class Tracker:
    """The no-op tracker: every method accepts its arguments and does nothing."""

    run_id: str | None = None

    @contextlib.contextmanager
    def run(self, name: str, nested: bool = False, tags: dict[str, str] | None = None) -> Iterator[Tracker]:
        yield self

    def log_config(self, config: Mapping[str, Any]) -> None: ...
    def log_params(self, params: Mapping[str, Any]) -> None: ...
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        for k in metrics:
            check_metric_name(k)
    def set_tags(self, tags: Mapping[str, str]) -> None: ...
    def log_dict(self, data: Mapping[str, Any], artifact_file: str) -> None: ...
    def log_text(self, text: str, artifact_file: str) -> None: ...
    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None: ...
    def log_dataset(self, df, name: str, source: str, digest: str | None = None, context: str = "training") -> None: ...
    def log_figure(self, figure, artifact_file: str) -> None: ...
    def log_table(self, df, artifact_file: str) -> None: ...

    def log_model(self, model, tokenizer, name: str, registered_name: str | None = None,
                  tags: Mapping[str, str] | None = None) -> str | None:
        """Log a transformers model + tokenizer as an MLflow model under `name`; register it as
        `registered_name` if given. Returns the registered version (None when not registered / no-op)."""
        return None

    def end_stale_runs(self, stage: str) -> list[str]:
        """End as KILLED every RUNNING run of `stage` whose process is gone, and the RUNNING runs nested under
        them; returns their ids. (Called by `run()` for a top-level run tagged `stage`.)"""
        return []

    def attach_to_process_runs(self, path: str | Path, artifact_path: str | None = None,
                               since_ms: int = 0) -> list[str]:
        """Log the file at `path` as an artifact of each top-level run this process started (since `since_ms`,
        epoch milliseconds), whatever their status; returns their ids. Used for a stage's log file."""
        return []

    def log_buffer_snapshot(self, info: Mapping[str, Any]) -> None:
        """Record a replay-buffer snapshot (a SnapshotInfo.to_dict()): tags naming the exact buffer state this
        run used (uri, table, Lance version, tag, digest) and the full record as an artifact."""
        tag = info.get("tag") or f"v{info['version']}"
        self.set_tags({"buffer.uri": info["uri"], "buffer.table": info["table"], "buffer.version": info["version"],
                       "buffer.tag": tag, "buffer.digest": info["digest"]})
        self.log_dict(dict(info), f"buffer/snapshot-{tag}.json")


class MlflowTracker(Tracker):
    """Tracker over MLflow. One experiment per pipeline; `run()` opens a run, nested inside an open one if asked."""

    def __init__(self, tracking_uri: str, experiment: str, artifact_location: str | None = None):
        import mlflow

        self._mlflow = mlflow
        self.tracking_uri = tracking_uri
        mlflow.set_tracking_uri(tracking_uri)
        exp = mlflow.get_experiment_by_name(experiment)
        if exp is None:
            loc = Path(artifact_location).resolve().as_uri() if artifact_location and "://" not in artifact_location else artifact_location
            mlflow.create_experiment(experiment, artifact_location=loc)
        mlflow.set_experiment(experiment)
        self.experiment = experiment

    @property
    def run_id(self) -> str | None:  # type: ignore[override]
        r = self._mlflow.active_run()
        return r.info.run_id if r else None

    @contextlib.contextmanager
    def run(self, name: str, nested: bool = False, tags: dict[str, str] | None = None) -> Iterator[Tracker]:
        """Open a run tagged with this process (process_tags); a top-level run tagged `stage` first ends the stale
        runs of that stage (end_stale_runs)."""
        nested = nested or self._mlflow.active_run() is not None
        tags = dict(tags or {})
        if not nested and tags.get("stage"):
            self.end_stale_runs(tags["stage"])
        with self._mlflow.start_run(run_name=name, nested=nested, tags={**process_tags(), **tags}):
            yield self

    def _experiment_id(self) -> str:
        return self._mlflow.get_experiment_by_name(self.experiment).experiment_id

    def end_stale_runs(self, stage: str) -> list[str]:
        running = self._mlflow.search_runs([self._experiment_id()], filter_string="attributes.status = 'RUNNING'",
                                           output_format="list")
        stale = {r.info.run_id for r in running
                 if r.data.tags.get("stage") == stage and PARENT_TAG not in r.data.tags and not process_alive(r.data.tags)}
        grew = bool(stale)
        while grew:  # nested runs (at any depth) of a dead run
            kids = {r.info.run_id for r in running if r.data.tags.get(PARENT_TAG) in stale} - stale
            stale |= kids
            grew = bool(kids)
        client = self._mlflow.MlflowClient()
        for run_id in sorted(stale):
            client.set_tag(run_id, "dreamgym.ended_as_stale", "the process that started this run is gone")
            client.set_terminated(run_id, status="KILLED")
        if stale:
            log.warning(f"ended {len(stale)} stale MLflow run(s) of stage '{stage}' as KILLED (their process is gone): "
                        f"{', '.join(sorted(stale))}")
        return sorted(stale)

    def attach_to_process_runs(self, path: str | Path, artifact_path: str | None = None,
                               since_ms: int = 0) -> list[str]:
        me = process_tags()
        flt = (f"tags.`{PID_TAG}` = '{me[PID_TAG]}' and tags.`{HOST_TAG}` = '{me[HOST_TAG]}' "
               f"and attributes.start_time >= {int(since_ms)}")
        runs = [r for r in self._mlflow.search_runs([self._experiment_id()], filter_string=flt, output_format="list")
                if PARENT_TAG not in r.data.tags and r.data.tags.get(START_TAG) == me[START_TAG]]
        client = self._mlflow.MlflowClient()
        for r in runs:
            client.log_artifact(r.info.run_id, str(path), artifact_path)
        return [r.info.run_id for r in runs]

    def log_config(self, config: Mapping[str, Any]) -> None:
        self.log_params(flatten(config))
        self._mlflow.log_dict(dict(config), "config/resolved_config.yaml")

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._mlflow.log_params({k: ("" if v is None else str(v)[:6000]) for k, v in params.items()})

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        super().log_metrics(metrics)
        self._mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._mlflow.set_tags({k: str(v) for k, v in tags.items()})

    def log_dict(self, data: Mapping[str, Any], artifact_file: str) -> None:
        self._mlflow.log_dict(json.loads(json.dumps(data, default=str)), artifact_file)

    def log_text(self, text: str, artifact_file: str) -> None:
        self._mlflow.log_text(text, artifact_file)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self._mlflow.log_artifact(str(path), artifact_path)

    def log_dataset(self, df, name: str, source: str, digest: str | None = None, context: str = "training") -> None:
        ds = self._mlflow.data.from_pandas(df, source=source, name=name, digest=digest)
        self._mlflow.log_input(ds, context=context)

    def log_figure(self, figure, artifact_file: str) -> None:
        self._mlflow.log_figure(figure, artifact_file)

    def log_table(self, df, artifact_file: str) -> None:
        self._mlflow.log_table(df, artifact_file)

    def log_model(self, model, tokenizer, name: str, registered_name: str | None = None,
                  tags: Mapping[str, str] | None = None) -> str | None:
        import mlflow.transformers
        import torch
        import transformers

        reqs = [f"torch=={torch.__version__.split('+')[0]}", f"transformers=={transformers.__version__}"]
        info = mlflow.transformers.log_model(  # explicit requirements: inference would import torchvision
            transformers_model={"model": model, "tokenizer": tokenizer}, name=name, task="text-generation",
            registered_model_name=registered_name, save_pretrained=True, pip_requirements=reqs)
        version = getattr(info, "registered_model_version", None)
        if registered_name and version is not None and tags:
            client = self._mlflow.MlflowClient()
            for k, v in tags.items():
                client.set_model_version_tag(registered_name, str(version), k, str(v))
        return None if version is None else str(version)


def is_model_uri(source: str) -> bool:
    """Whether `source` names an MLflow model (models:/NAME/VERSION, runs:/RUN/PATH or any scheme://) rather than a
    local directory."""
    return "://" in source or source.startswith(("models:/", "runs:/"))


def load_model_components(uri: str, tracking_uri: str):
    """(model, tokenizer) of the transformers model logged at the MLflow model `uri` (models:/…, runs:/…) of the
    store at `tracking_uri`, as logged (no padding set up: see dreamgym.models.prepare). A bad URI, a missing model
    or an unreachable store raises DreamGymError with mlflow's first line."""
    import mlflow.transformers

    try:
        mlflow.set_tracking_uri(tracking_uri)
        parts = mlflow.transformers.load_model(uri, return_type="components")
    except Exception as e:  # mlflow raises its own exception types for bad URIs / missing models
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise DreamGymError(f"cannot load the model '{uri}' from MLflow ({tracking_uri}): {first}") from e
    return parts["model"], parts["tokenizer"]


def make_tracker(enabled: bool, tracking_uri: str, experiment: str, artifact_location: str | None = None) -> Tracker:
    """The MLflow tracker if enabled, else the no-op one."""
    return MlflowTracker(tracking_uri, experiment, artifact_location) if enabled else Tracker()


def resolve_tracking_uri(uri: str, root: str | Path) -> str:
    """`uri` with a relative sqlite path taken relative to the project `root` (any other URI as it is)."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{(Path(root) / uri.removeprefix('sqlite:///')).resolve()}"
    return uri


def tracker_for(cfg, root: str | Path) -> Tracker:
    """The tracker of a resolved DreamGymConfig: its store and artifact folder taken relative to the project
    `root` (the sqlite file's folder is created), the no-op tracker when tracking is off."""
    uri = resolve_tracking_uri(cfg.tracking.tracking_uri, root)
    if uri.startswith("sqlite:////") and cfg.tracking.enabled:
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    art = cfg.tracking.artifact_location
    if "://" not in art:
        art = str((Path(root) / art).resolve())
    return make_tracker(cfg.tracking.enabled, uri, cfg.experiment_name, art)
