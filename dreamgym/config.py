"""One pydantic config that mirrors params.yaml, end to end, composed of the sections each package defines.

    cfg = load_config("params.yaml", preset="tiny", overrides=["seed_data.episodes.babyai=10"])

params.yaml is read once (here, by the caller that owns the files: the CLI or a flow); library functions get
the narrow sub-config they need. Presets are named overlays (dreamgym/presets/<name>.yaml) merged over the
file, then `key.path=value` overrides (values parsed as YAML) are merged over both. Validation is strict:
unknown keys and bad values fail fast with a ConfigError of one line naming the key, the value given and what
is expected. The `envs:` section has one typed model per built-in env (BabyAIEnvConfig, ...), mirroring its
constructor's kwargs and holding their defaults; cfg.env_kwargs(name) returns them as constructor kwargs, and
policy.env_kwargs (an overlay on envs.<policy.env>) is checked against the same model.

Each section's model sits beside its code (as the env configs do): seed_data in dreamgym/data/config.py,
quality in dreamgym/quality/config.py, buffer in dreamgym/buffer/config.py, the model and SFT params in
dreamgym/models/config.py, experience in dreamgym/experience/config.py, policy and s2r in dreamgym/policy/config.py,
loop in dreamgym/loop/config.py, curriculum in dreamgym/curriculum/config.py;
all derive from StrictConfig (dreamgym/configbase.py). This module keeps the project-wide sections (project,
paths, tracking, envs, dvc), the cross-section checks of DreamGymConfig and the loading; it re-exports every
section model, so `from dreamgym.config import ExperienceConfig` works.
"""

from __future__ import annotations

import copy
import inspect
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from dreamgym.buffer.config import BufferConfig, BufferIndexConfig, BufferRetentionConfig
from dreamgym.configbase import StrictConfig
from dreamgym.curriculum.config import CurriculumConfig
from dreamgym.data.config import PolicyName, SeedDataConfig
from dreamgym.envs.babyai.config import BabyAIEnvConfig
from dreamgym.envs.scienceworld.config import ScienceWorldEnvConfig
from dreamgym.envs.textcraft.config import TextCraftEnvConfig
from dreamgym.envs.textworld.config import TextWorldEnvConfig
from dreamgym.errors import ConfigError, UnknownNameError
from dreamgym.experience.config import ExperienceConfig, ExperienceGateConfig
from dreamgym.loop.config import LoopConfig, LoopGuardConfig
from dreamgym.models.config import ModelConfig, SFTParams
from dreamgym.policy.config import BCParams, HorizonParams, PolicyConfig, PolicyEvalParams, RLParams, S2RConfig
from dreamgym.quality.config import QualityConfig

__all__ = [
    "ENV_CONFIGS", "BCParams", "BabyAIEnvConfig", "BufferConfig", "BufferIndexConfig", "BufferRetentionConfig",
    "CurriculumConfig", "LoopConfig", "LoopGuardConfig",
    "DreamGymConfig", "DvcConfig", "EnvsConfig", "ExperienceConfig", "ExperienceGateConfig", "HorizonParams",
    "ModelConfig", "PathsConfig", "PolicyConfig", "PolicyEvalParams", "PolicyName", "ProjectConfig", "QualityConfig",
    "RLParams", "S2RConfig", "SFTParams", "ScienceWorldEnvConfig", "SeedDataConfig", "StrictConfig", "TextCraftEnvConfig",
    "TextWorldEnvConfig", "TrackingConfig", "ENV_DEFAULTS", "deep_merge", "load_config", "load_preset", "parse_override",
    "preset_names", "resolve_config",
]


class ProjectConfig(StrictConfig):
    name: str = Field("dreamgym", description="project name; the MLflow experiment is named after it")
    seed: int = Field(0, description="global seed; every random choice derives from it")


class PathsConfig(StrictConfig):
    data_dir: str = Field("data", description="the DVC-added seed data folder (data.dvc)")
    artifacts_dir: str = Field("artifacts", description="stage outputs declared in dvc.yaml (git-ignored)")


class TrackingConfig(StrictConfig):
    enabled: bool = Field(True, description="log to MLflow; False uses the no-op tracker")
    tracking_uri: str = Field("sqlite:///mlflow/mlflow.db", description="MLflow store (sqlite under mlflow/ by default)")
    artifact_location: str = Field("mlflow/artifacts", description="where new experiments keep their artifacts")
    experiment: str | None = Field(None, description="experiment name; default: project.name")
    ui_host: str = Field("127.0.0.1", description="host `dreamgym ui` binds to")
    ui_port: int = Field(5000, ge=1, le=65535, description="port `dreamgym ui` listens on")


# ---- envs: one typed model per built-in env, beside its code (dreamgym/envs/<name>/config.py) -----------------
#: env name -> the model of its kwargs (a plug-in env's comes from its EnvSpec.config, see EnvsConfig)
ENV_CONFIGS: dict[str, type[BaseModel]] = {"babyai": BabyAIEnvConfig, "textcraft": TextCraftEnvConfig,
                                         "textworld": TextWorldEnvConfig, "scienceworld": ScienceWorldEnvConfig}


class EnvsConfig(StrictConfig):
    """`envs:` of params.yaml: each env's constructor kwargs (cfg.env_kwargs(name) returns them as a dict).

    The built-in envs have typed sections below; a plug-in env may have a section too, validated by its
    EnvSpec's `config` model (or, for a spec without one, checked against its constructor's parameters)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    babyai: BabyAIEnvConfig = Field(default_factory=BabyAIEnvConfig, description="BabyAI (minigrid) levels as text")
    textcraft: TextCraftEnvConfig = Field(default_factory=TextCraftEnvConfig, description="TextCraft (Minecraft crafting)")
    textworld: TextWorldEnvConfig = Field(default_factory=TextWorldEnvConfig, description="TextWorld cooking games")
    scienceworld: ScienceWorldEnvConfig = Field(default_factory=ScienceWorldEnvConfig, description="ScienceWorld on a capped JVM")

    @model_validator(mode="after")
    def _plugin_sections(self):
        from dreamgym.envs.registry import ENVS, get_spec

        for name, kwargs in (self.model_extra or {}).items():
            if name not in ENVS.names():
                raise _at(f"envs.{name}", f"unknown env '{name}'; available: {', '.join(ENVS.names())}")
            if not isinstance(kwargs, dict):
                raise _at(f"envs.{name}", f"must be a mapping of {name}'s constructor kwargs", kwargs)
            spec = get_spec(name)
            if spec.config is not None:
                try:
                    spec.config.model_validate(kwargs)
                except ValidationError as e:
                    err = e.errors()[0]
                    key = ".".join(str(x) for x in err.get("loc", ()))
                    raise _at(f"envs.{name}.{key}" if key else f"envs.{name}", err.get("msg", str(e))) from None
                continue
            params = inspect.signature(spec.resolve_class().__init__).parameters
            if any(p.kind is p.VAR_KEYWORD for p in params.values()):
                continue
            unknown = sorted(set(kwargs) - set(params) - {"self"})
            if unknown:
                allowed = ", ".join(p for p in params if p != "self")
                raise _at(f"envs.{name}.{unknown[0]}", f"unknown key(s) {unknown}; {name} accepts: {allowed}")
        return self

    def kwargs(self, name: str) -> dict[str, Any]:
        """Constructor kwargs of env `name`: a built-in's every field (defaults included), a plug-in's mapping as
        given, {} for an env without a section (its own defaults)."""
        if name in ENV_CONFIGS:
            return getattr(self, name).model_dump()
        given = copy.deepcopy((self.model_extra or {}).get(name, {}))
        from dreamgym.envs.registry import ENVS, get_spec

        if name in ENVS.names() and get_spec(name).config is not None:
            return get_spec(name).config.model_validate(given).model_dump()
        return given


def _at(where: str, message: str, value: Any = ...) -> PydanticCustomError:
    """A validation error located at config key `where` (a model validator's own errors point at the model)."""
    ctx = {"where": where, "detail": message}
    if value is not ...:
        ctx["value"] = value
    return PydanticCustomError("dreamgym_config", "{detail}", ctx)


class DvcConfig(StrictConfig):
    remote: str = Field("local", description="DVC remote name that `dvc push` uses")
    push: bool = Field(True, description="push the seed data to the remote after `dvc add`")


#: the project's defaults that name an env (the package configs name none); each applies when params.yaml leaves its
#: section's key out: the policy's env kwargs only together with its env
ENV_DEFAULTS: dict[str, dict[str, Any]] = {
    "experience": {"envs": ["babyai", "textcraft"]},
    "policy": {"env": "babyai", "env_kwargs": {"levels": ["PickupLoc"], "action_set": "primitive"}},
}


class DreamGymConfig(StrictConfig):
    """The whole resolved configuration (params.yaml + preset + overrides)."""

    @model_validator(mode="before")
    @classmethod
    def _env_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        x = out.get("experience")
        if x is None or (isinstance(x, dict) and "envs" not in x):
            out["experience"] = {**ENV_DEFAULTS["experience"], **(x or {})}
        p = out.get("policy")
        if p is None or (isinstance(p, dict) and "env" not in p):
            out["policy"] = {**ENV_DEFAULTS["policy"], **(p or {})}
        return out

    project: ProjectConfig = Field(default_factory=ProjectConfig)
    paths: PathsConfig = Field(default_factory=PathsConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    envs: EnvsConfig = Field(default_factory=EnvsConfig, description="per env: constructor kwargs (typed per built-in env)")
    seed_data: SeedDataConfig = Field(default_factory=SeedDataConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    buffer: BufferConfig = Field(default_factory=BufferConfig)
    experience: ExperienceConfig = Field(default_factory=ExperienceConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig, description="the DreamGym loop: the policy (policy.*) trained against the experience model")
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig, description="the loop's task selection and task generation")
    s2r: S2RConfig = Field(default_factory=S2RConfig, description="sim-to-real: real-env RL from the loop's policy on a small real budget")
    dvc: DvcConfig = Field(default_factory=DvcConfig)

    @model_validator(mode="after")
    def _experience_envs_are_known(self):
        from dreamgym.envs.registry import ENVS

        unknown = [e for e in self.experience.envs if e not in ENVS.names()]
        if unknown:
            raise ValueError(f"experience.envs: unknown env(s) {unknown}; available: {', '.join(ENVS.names())}")
        for env in self.experience.gate.per_env:
            self.experience.gate.thresholds(env)  # unknown threshold names fail here, not mid-run
        if self.policy.env not in ENVS.names():
            raise ValueError(f"policy.env: unknown env '{self.policy.env}'; available: {', '.join(ENVS.names())}")
        return self

    @model_validator(mode="after")
    def _env_names_and_policy_overlay(self):
        from dreamgym.envs.registry import ENVS, get_env_class

        unknown = [e for e in self.seed_data.envs if e not in ENVS.names()]
        if unknown:
            raise _at("seed_data.envs", f"unknown env(s) {unknown}; available: {', '.join(ENVS.names())}")
        env, over = self.policy.env, self.policy.env_kwargs
        if env in ENV_CONFIGS:  # the overlay must make a valid envs.<env> section: same model, same checks
            model = ENV_CONFIGS[env]
            try:
                merged = model.model_validate({**self.envs.kwargs(env), **over})
            except ValidationError as e:
                where, msg = _explain(e.errors()[0], model, ("policy", "env_kwargs"))
                if e.errors()[0]["type"] == "extra_forbidden":
                    msg += f" (policy.env_kwargs overlays envs.{env}; empty it with -S policy.env_kwargs={{}})"
                raise _at(where, msg) from None
            coerced = merged.model_dump(include=set(over))
            if coerced != over:
                self.policy.env_kwargs = coerced
        else:
            params = inspect.signature(get_env_class(env).__init__).parameters
            if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
                bad = sorted(set(over) - set(params) - {"self"})
                if bad:
                    allowed = ", ".join(p for p in params if p != "self")
                    raise _at(f"policy.env_kwargs.{bad[0]}", f"unknown key(s) {bad}; {env} accepts: {allowed}")
        return self

    @property
    def experiment_name(self) -> str:
        return self.tracking.experiment or self.project.name

    def env_kwargs(self, name: str) -> dict[str, Any]:
        """Constructor kwargs of env `name`: all fields of envs.<name> (the config holds the defaults) for a
        built-in env; a plug-in env's section as given ({} without one: its own defaults)."""
        return self.envs.kwargs(name)

    def policy_env_kwargs(self) -> dict[str, Any]:
        """Constructor kwargs of the policy's env: envs.<env> with policy.env_kwargs over it."""
        return {**self.env_kwargs(self.policy.env), **copy.deepcopy(self.policy.env_kwargs)}


# ---------------------------------------------------------------------------------------------------------------
def deep_merge(base: dict, over: dict) -> dict:
    """Recursive dict merge; `over` wins. Neither input is modified."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _split_override(item: str) -> tuple[list[str], Any]:
    """`a.b.c=value` -> (["a", "b", "c"], value parsed as YAML)."""
    if "=" not in item:
        raise ConfigError(f"override '{item}' is not of the form key.path=value")
    key, raw = item.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override '{item}' has an empty key")
    try:
        return parts, yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise ConfigError(f"override '{item}': value is not valid YAML ({e.problem})") from None


def parse_override(item: str) -> dict:
    """`a.b.c=value` -> {"a": {"b": {"c": value}}}, value parsed as YAML (so 3 is an int, [1,2] a list)."""
    parts, value = _split_override(item)
    node: dict = {}
    cur = node
    for p in parts[:-1]:
        cur[p] = {}
        cur = cur[p]
    cur[parts[-1]] = value
    return node


def apply_override(config: dict, item: str) -> dict:
    """`config` with the override `a.b.c=value` merged in (a new dict); `a.b={}` empties the mapping a.b, which a
    merge would keep."""
    merged = deep_merge(config, parse_override(item))
    parts, value = _split_override(item)
    if value == {}:
        node = merged
        for p in parts[:-1]:
            node = node[p]
        node[parts[-1]] = {}
    return merged


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("dreamgym.presets").iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str) -> dict:
    path = resources.files("dreamgym.presets") / f"{name}.yaml"
    if not path.is_file():
        raise UnknownNameError(f"unknown preset '{name}'; available: {', '.join(preset_names())}")
    return yaml.safe_load(path.read_text()) or {}


def _model_at(model: type[BaseModel], loc: tuple[str, ...]) -> type[BaseModel] | None:
    """The config model at key path `loc` below `model` (None where the path leaves the typed models)."""
    for part in loc:
        field = model.model_fields.get(part)
        ann = field.annotation if field is not None else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model = ann
    return model


def _shown(value: Any) -> bool:
    """Is `value` worth quoting in a one-line message (a scalar, or a short list of them)?"""
    if isinstance(value, (list, tuple)):
        return all(isinstance(v, (str, int, float, bool)) or v is None for v in value) and len(repr(value)) <= 80
    return isinstance(value, (str, int, float, bool)) or value is None


def _explain(err: dict, root: type[BaseModel], prefix: tuple[str, ...] = ()) -> tuple[str, str]:
    """(key path, one-line message naming what was wrong, the bad value and what is expected) of one pydantic
    error dict, for a model `root` whose keys sit under `prefix`."""
    ctx = err.get("ctx") or {}
    value: Any = ...
    if err["type"] == "dreamgym_config":  # raised by our validators with the key they are about
        where, msg, value = ctx["where"], str(ctx["detail"]), ctx.get("value", ...)
    else:
        loc = tuple(str(x) for x in err["loc"])
        where, msg = ".".join(prefix + loc), err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            model = _model_at(root, loc[:-1])
            section = ".".join(prefix + loc[:-1]) or "the config"
            msg = f"unknown key '{loc[-1]}'" + (f"; {section} accepts: {', '.join(model.model_fields)}" if model else "")
        elif err["type"] != "missing":
            value = err.get("input", ...)
    msg = " ".join(msg.split())
    if value is not ... and _shown(value) and "got " not in msg:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        msg += f" (got {shown})"
    return where, msg


def resolve_config(raw: dict, preset: str | None = None, overrides: list[str] | None = None) -> DreamGymConfig:
    """Build the validated config from a params dict, a preset name and `key=value` overrides.

    A rejected value raises ConfigError with one line: the key, what is wrong with it, the value given."""
    merged = deep_merge(raw or {}, load_preset(preset) if preset else {})
    for item in overrides or []:
        merged = apply_override(merged, item)
    try:
        return DreamGymConfig.model_validate(merged)
    except ValidationError as e:
        where, msg = _explain(e.errors()[0], DreamGymConfig)
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ConfigError(f"invalid config at '{where}': {msg}{more}" if where else f"invalid config: {msg}{more}") from None


def load_config(path: str | Path = "params.yaml", preset: str | None = None,
                overrides: list[str] | None = None) -> DreamGymConfig:
    """Read params.yaml (the only place it is read) and resolve it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' not found (run from the project root or pass --params)")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a YAML text file (byte {e.start} is not UTF-8); --params takes a YAML "
                          f"file like params.yaml") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it ({e.strerror})") from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections, got {type(raw).__name__}")
    return resolve_config(raw, preset, overrides)
