"""Tracking behind one object: `Tracker` (no-op) and `MlflowTracker`.

Library code takes a Tracker and never imports mlflow itself; the default does nothing, so tests and library
users pay nothing for tracking they did not ask for. Metric names are namespaced by concern:

    data/     seed data (rows, episodes, success rates per env and collection policy)
    gate/     quality gates (checks run / failed)
    exp/      experience model        buffer/  replay buffer        curriculum/  task generation
    rl/       policy training         eval/    real-env evaluation  perf/        throughput and memory
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

NAMESPACES = ("data", "gate", "exp", "buffer", "curriculum", "rl", "eval", "perf")


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
        nested = nested or self._mlflow.active_run() is not None
        with self._mlflow.start_run(run_name=name, nested=nested, tags=tags or {}):
            yield self

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


def make_tracker(enabled: bool, tracking_uri: str, experiment: str, artifact_location: str | None = None) -> Tracker:
    """The MLflow tracker if enabled, else the no-op one."""
    return MlflowTracker(tracking_uri, experiment, artifact_location) if enabled else Tracker()
