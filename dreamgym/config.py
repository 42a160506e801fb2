"""One pydantic config that mirrors params.yaml, end to end.

    cfg = load_config("params.yaml", preset="tiny", overrides=["seed_data.episodes.babyai=10"])

params.yaml is read once (here, by the caller that owns the files: the CLI or a flow); library functions get
the narrow sub-config they need. Presets are named overlays (dreamgym/presets/<name>.yaml) merged over the
file, then `key.path=value` overrides (values parsed as YAML) are merged over both. Validation is strict:
unknown keys and bad values fail fast with a ConfigError of one line naming the key, the value given and what
is expected. The `envs:` section has one typed model per built-in env (BabyAIEnvConfig, ...), mirroring its
constructor's kwargs and holding their defaults; cfg.env_kwargs(name) returns them as constructor kwargs, and
policy.env_kwargs (an overlay on envs.<policy.env>) is checked against the same model.
"""

from __future__ import annotations

import copy
import inspect
import math
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from dreamgym.envs.babyai.config import BabyAIEnvConfig
from dreamgym.envs.scienceworld.config import ScienceWorldEnvConfig
from dreamgym.envs.textcraft.config import TextCraftEnvConfig
from dreamgym.envs.textworld.config import TextWorldEnvConfig
from dreamgym.errors import ConfigError, UnknownNameError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ProjectConfig(_Strict):
    name: str = Field("dreamgym", description="project name; the MLflow experiment is named after it")
    seed: int = Field(0, description="global seed; every random choice derives from it")


class PathsConfig(_Strict):
    data_dir: str = Field("data", description="the DVC-added seed data folder (data.dvc)")
    artifacts_dir: str = Field("artifacts", description="stage outputs declared in dvc.yaml (git-ignored)")


class TrackingConfig(_Strict):
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


class EnvsConfig(_Strict):
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


PolicyName = Literal["expert", "noisy", "random"]


class SeedDataConfig(_Strict):
    envs: list[str] = Field(default_factory=lambda: ["babyai", "textcraft", "textworld", "scienceworld"],
                            description="envs to collect seed trajectories from")
    episodes: dict[str, int] = Field(default_factory=dict, description="episodes to collect per env")
    policy_mix: dict[PolicyName, float] = Field(
        default_factory=lambda: {"expert": 0.5, "noisy": 0.3, "random": 0.2},
        description="share of episodes per collection policy (expert / noisy expert / random)")
    noise_eps: float = Field(0.3, ge=0.0, le=1.0, description="noisy expert: probability of a random action")
    val_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="share of episodes run on val tasks (rest: train)")
    episodes_per_task: dict[str, int] = Field(
        default_factory=dict, description="per env: episodes run on each task (default 1; >1 replays a task with other policies)")
    n_test_tasks: int = Field(100, ge=0, description="held-out test tasks listed in tasks.parquet (no steps)")

    @field_validator("policy_mix")
    @classmethod
    def _mix_sums_to_one(cls, v: dict[str, float]) -> dict[str, float]:
        if any(x < 0 for x in v.values()) or abs(sum(v.values()) - 1.0) > 1e-6:
            raise ValueError(f"policy shares must be >= 0 and sum to 1, got {v}")
        return v

    @model_validator(mode="after")
    def _episodes_for_every_env(self):
        missing = [e for e in self.envs if e not in self.episodes]
        if missing:
            raise ValueError(f"seed_data.episodes has no count for env(s) {missing}; add e.g. `{missing[0]}: 100`")
        bad = {e: n for e, n in {**self.episodes, **self.episodes_per_task}.items() if n < 1}
        if bad:
            raise ValueError(f"seed_data.episodes and episodes_per_task must be >= 1, got {bad}")
        return self

    def per_task(self, env: str) -> int:
        """Episodes run on each task of `env`."""
        return self.episodes_per_task.get(env, 1)


class QualityConfig(_Strict):
    max_reward: float = Field(1.0, description="rewards must lie in [0, max_reward] (outcome-only reward); a finite number > 0")
    max_text_chars: int = Field(20000, ge=1, description="longest state / action text a row may carry")
    min_success_rate: dict[str, float] = Field(
        default_factory=dict, description="per env: lowest expert success rate the seed gate accepts")

    @field_validator("max_reward")
    @classmethod
    def _finite_positive(cls, v: float) -> float:
        if not (math.isfinite(v) and v > 0):
            raise ValueError("must be a finite number > 0, i.e. in (0, inf): rewards are checked to lie in "
                             "[0, max_reward] (the outcome reward is 1)")
        return v

    @field_validator("min_success_rate")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {e: r for e, r in v.items() if not 0.0 <= r <= 1.0}
        if bad:
            raise ValueError(f"success rates must lie in [0, 1], got {bad}")
        return v


class BufferIndexConfig(_Strict):
    threshold_rows: int = Field(50_000, ge=1, description="build an ANN index once the table holds this many rows (flat search below)")
    type: Literal["ivf_pq", "ivf_hnsw_sq"] = Field("ivf_hnsw_sq", description="ANN index: ivf_pq (IVF + product quantisation) or ivf_hnsw_sq (HNSW graphs inside IVF partitions, 8-bit scalar quantisation)")
    scalar_indices: bool = Field(True, description="with the ANN index, index env/source (bitmap) and episode_id (btree) so filtered searches skip a column scan")
    num_partitions: int | None = Field(None, ge=1, description="IVF partitions; None: about sqrt(rows)")
    num_sub_vectors: int | None = Field(None, ge=1, description="PQ sub-vectors (ivf_pq only); None: dim / 8")
    nprobes: int = Field(10, ge=1, description="IVF partitions searched per query")
    refine_factor: int | None = Field(None, ge=1, description="re-rank k * refine_factor quantised candidates with exact distances (reads their full vectors); None: no re-ranking")


class BufferRetentionConfig(_Strict):
    keep_versions: int = Field(5, ge=1, description="untagged table versions kept by cleanup (tagged ones are always kept)")
    compact_every: int = Field(20, ge=1, description="compact small fragments after this many add() batches")


class BufferConfig(_Strict):
    uri: str = Field("artifacts/buffer", description="LanceDB URI: a local dir (default) or any LanceDB URI (s3://, db://)")
    table: str = Field("transitions", description="table name inside the database")
    embedder: str = Field("minilm", description="embedder registry name (minilm: all-MiniLM-L6-v2, 384-d, offline; hashing: fast n-gram hashing)")
    embedder_kwargs: dict[str, Any] = Field(default_factory=dict, description="constructor kwargs of the embedder")
    batch_size: int = Field(1024, ge=1, description="rows per add() commit and per embedding call; seed() writes all its rows in one commit")
    k: int = Field(4, ge=0, description="transitions retrieved per (state, action) query")
    lock_timeout_s: float = Field(60.0, ge=0, description="seconds a write waits for another process's writer lock on the table before it fails naming that process (0: fail at once)")
    index: BufferIndexConfig = Field(default_factory=BufferIndexConfig)
    retention: BufferRetentionConfig = Field(default_factory=BufferRetentionConfig)


class DvcConfig(_Strict):
    remote: str = Field("local", description="DVC remote name that `dvc push` uses")
    push: bool = Field(True, description="push the seed data to the remote after `dvc add`")


class ModelConfig(_Strict):
    kind: str = Field("tiny", description="model kind: tiny (built from a config, tokenizer trained on the seed text), smollm2 (SmolLM2-135M-Instruct, offline GGUF), hf (a local HF causal-LM dir)")
    path: str | None = Field(None, description="hf: the model dir; tiny: a saved tiny model to start from (None: build a fresh one)")
    cache_dir: str = Field("artifacts/cache/models", description="where downloaded/converted weights are cached (smollm2)")
    hidden_size: int = Field(128, ge=8, description="tiny: hidden size")
    num_layers: int = Field(4, ge=1, description="tiny: transformer layers")
    num_heads: int = Field(4, ge=1, description="tiny: attention heads (must divide hidden_size)")
    vocab_size: int = Field(4096, ge=300, description="tiny: BPE vocabulary trained on the seed text")
    max_positions: int = Field(2048, ge=64, description="tiny: max sequence length (prompt + target tokens)")
    lora: bool = Field(False, description="train LoRA adapters instead of all weights")
    lora_r: int = Field(8, ge=1, description="LoRA rank")
    lora_alpha: int = Field(16, ge=1, description="LoRA alpha")

    @model_validator(mode="after")
    def _check(self):
        if self.kind not in ("tiny", "smollm2", "hf"):
            raise ValueError(f"model.kind must be tiny, smollm2 or hf, got '{self.kind}'")
        if self.kind == "hf" and not self.path:
            raise ValueError("model.kind=hf needs model.path (a local Hugging Face model directory)")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"model.num_heads={self.num_heads} must divide model.hidden_size={self.hidden_size}")
        return self


class SFTParams(_Strict):
    max_steps: int = Field(1500, ge=-1, description="optimizer steps (the CPU budget); -1: run `epochs` passes")
    epochs: float = Field(1.0, gt=0, description="passes over the training examples when max_steps == -1")
    learning_rate: float = Field(3e-3, gt=0, description="peak learning rate (AdamW, linear decay after warmup)")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="share of steps spent warming up")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    batch_size: int = Field(16, ge=1, description="examples per micro-batch")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    max_length: int = Field(1024, ge=16, description="tokens per example (prompt + target); longer ones are truncated")
    eval_every: int = Field(100, ge=0, description="optimizer steps between val-loss evaluations (0: before and after only)")
    eval_examples: int = Field(256, ge=1, description="val examples used for the val loss")
    logging_steps: int = Field(10, ge=1, description="optimizer steps between train-loss logs")
    seed: int = Field(0, description="data order and any randomness in training")
    completion_only: bool = Field(True, description="loss on the target only (the paper's objective); False: on the prompt too (its history holds real transitions)")


class ExperienceGateConfig(_Strict):
    enforce: bool = Field(False, description="a failed fidelity gate stops the stage (False: the model is logged, tagged gate=failed, not registered, so it cannot drive RL)")
    min_parse_rate: float = Field(0.99, ge=0, le=1, description="share of held-out predictions that parse")
    min_done_acc: float = Field(0.95, ge=0, le=1, description="done accuracy on held-out real transitions")
    min_success_precision: float = Field(0.9, ge=0, le=1, description="precision of predicting a real success (reward 1)")
    min_success_recall: float = Field(0.9, ge=0, le=1, description="recall of real successes")
    min_exact_next_determined: float = Field(0.8, ge=0, le=1, description="exact next-state match on context-determined transitions")
    per_env: dict[str, dict[str, float]] = Field(default_factory=dict, description="per env: overrides of the thresholds above")

    def thresholds(self, env: str) -> dict[str, float]:
        """The thresholds for `env` (defaults with its overrides)."""
        base = self.model_dump(exclude={"per_env", "enforce"})
        over = self.per_env.get(env, {})
        unknown = sorted(set(over) - set(base))
        if unknown:
            raise ValueError(f"experience.gate.per_env.{env}: unknown threshold(s) {unknown}; known: {sorted(base)}")
        return {**base, **over}


class ExperienceConfig(_Strict):
    envs: list[str] = Field(default_factory=lambda: ["babyai", "textcraft"], description="envs that get an experience model (one model per env)")
    model: ModelConfig = Field(default_factory=ModelConfig)
    history_window: int = Field(0, ge=0, description="earlier steps shown in the prompt (0: the no-history ablation; the paper uses history: 2 suits larger models, the tiny one learns faster without)")
    k: int = Field(0, ge=0, description="transitions retrieved from the buffer per step (0: the no-retrieval ablation; the paper retrieves, try 2-4 with larger models)")
    with_reasoning: bool = Field(True, description="targets open with a reasoning trace (False: the no-reasoning ablation)")
    augment_copies: int = Field(1, ge=0, description="symmetry-augmented copies of each training example (babyai: colours permuted; envs without an augmenter: none)")
    annotator: str | None = Field(None, description="reasoning annotator registry name (None: the env's rule-based one)")
    prompt_budget: int = Field(3072, ge=64, description="prompt length budget in characters")
    state_budget: int = Field(600, ge=24, description="abstract state budget in characters")
    sft: SFTParams = Field(default_factory=SFTParams)
    max_new_tokens: int = Field(192, ge=8, description="generation budget per predicted transition (tokens)")
    gen_batch_size: int = Field(32, ge=1, description="prompts per batched generation call")
    eval_examples: int = Field(400, ge=1, description="held-out real transitions scored for fidelity (the first N by episode)")
    open_loop_episodes: int = Field(30, ge=0, description="held-out episodes replayed open-loop")
    open_loop_max_steps: int = Field(20, ge=1, description="steps replayed per open-loop episode")
    gate: ExperienceGateConfig = Field(default_factory=ExperienceGateConfig)


class HorizonParams(_Strict):
    stages: list[int] = Field(default_factory=lambda: [5, 10, 15], description="maximum turns per episode in each stage (ScalingInter-RL; AgentGym-RL's BabyAI: [6, 13, 20])")
    every: int = Field(40, ge=0, description="updates per stage (AgentGym-RL: 100 with a 7B model); 0: a fixed horizon, the last stage's, throughout")

    @field_validator("stages")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if not v or any(h < 1 for h in v):
            raise ValueError(f"horizon stages must be a non-empty list of turn counts >= 1, got {v}")
        return v


class RLParams(_Strict):
    algo: Literal["grpo", "ppo"] = Field("grpo", description="grpo (group-relative outcome advantages) or ppo (value head + GAE over turns)")
    updates: int = Field(120, ge=0, description="policy updates (each: one batch of rollouts, then `epochs` passes over it)")
    tasks_per_update: int = Field(8, ge=1, description="distinct tasks per update")
    task_pool: int = Field(2000, ge=1, description="train tasks listed for RL (tasks are drawn from the first N of the train split)")
    group_size: int = Field(8, ge=1, description="rollouts per task (GRPO's group; PPO uses them as more episodes)")
    learning_rate: float = Field(1e-3, gt=0, description="AdamW learning rate (constant)")
    epochs: int = Field(1, ge=1, description="passes over each batch of rollouts")
    minibatch_size: int = Field(64, ge=1, description="decisions per gradient step")
    clip_eps: float = Field(0.2, gt=0, description="ratio clip of the surrogate objective")
    kl_coef: float = Field(0.0, ge=0, description="weight of the k3 KL to the reference (the starting policy); 0: no reference kept")
    entropy_coef: float = Field(0.0, ge=0, description="weight of the entropy bonus")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping norm")
    scale_advantages: bool = Field(True, description="GRPO: divide by the group's reward std (False: Dr. GRPO, centring only)")
    gamma: float = Field(1.0, ge=0, le=1, description="PPO: discount over turns")
    lam: float = Field(0.95, ge=0, le=1, description="PPO: GAE lambda")
    vf_coef: float = Field(0.5, ge=0, description="PPO: value-loss weight")
    value_clip: float | None = Field(0.2, description="PPO: value clipping range (null: none)")
    horizon: HorizonParams = Field(default_factory=HorizonParams)


class BCParams(_Strict):
    demos: int = Field(10, ge=0, description="expert seed episodes (train split, successful) cloned before RL; 0: no warm start")
    sft: SFTParams = Field(default_factory=lambda: SFTParams(max_steps=200, learning_rate=1e-3, batch_size=16, max_length=512, eval_every=0, eval_examples=64), description="the cloning run (TRL SFTTrainer)")


class PolicyEvalParams(_Strict):
    split: Literal["train", "val", "test"] = Field("val", description="split of the evaluations during training")
    episodes: int = Field(100, ge=1, description="held-out tasks per evaluation (one episode each, sampled; see greedy_too)")
    every: int = Field(20, ge=0, description="updates between evaluations (0: before and after training only)")
    final_split: Literal["train", "val", "test"] = Field("test", description="split of the final evaluation")
    horizon: int | None = Field(None, ge=1, description="turns per evaluation episode (null: the last horizon stage)")
    greedy_too: bool = Field(True, description="also evaluate the greedy policy (eval/greedy_*); eval/* is the policy as trained, sampling at policy.temperature")


class PolicyConfig(_Strict):
    env: str = Field("babyai", description="the env the policy is trained in (real env; synthetic training is the DreamGym loop)")
    env_kwargs: dict[str, Any] = Field(default_factory=lambda: {"levels": ["PickupLoc"], "action_set": "primitive"}, description="overrides of envs.<env> for the policy's env (default: a BabyAI level and action set where random succeeds <= 10%)")
    model: ModelConfig = Field(default_factory=lambda: ModelConfig(hidden_size=64, num_layers=2, num_heads=2, vocab_size=1024, max_positions=1024), description="the policy LM (same kinds as the experience model)")
    mode: Literal["score", "generate"] = Field("score", description="score: softmax over the valid actions' log-probs; generate: 'Thought: … Action: …' text")
    history_window: int = Field(2, ge=0, description="earlier (observation, action) steps in the prompt")
    prompt_budget: int = Field(1536, ge=64, description="prompt length budget in characters")
    max_new_tokens: int = Field(48, ge=4, description="generate mode: reply budget in tokens")
    temperature: float = Field(1.0, gt=0, description="softmax temperature of the policy over candidates (score mode) or tokens (generate mode), in training and in eval/* (eval/greedy_* takes the argmax)")
    score_norm: Literal["mean", "sum"] = Field("mean", description="score mode: a candidate's score is the mean (or sum) of its token log-probs")
    batch_size: int = Field(64, ge=1, description="rows per forward pass while acting")
    seed: int = Field(0, description="model init, task sampling and action sampling")
    rl: RLParams = Field(default_factory=RLParams)
    bc: BCParams = Field(default_factory=BCParams)
    eval: PolicyEvalParams = Field(default_factory=PolicyEvalParams)
    checkpoint_every: int = Field(50, ge=0, description="updates between logged checkpoints (0: the final one only)")


class DreamGymConfig(_Strict):
    """The whole resolved configuration (params.yaml + preset + overrides)."""

    project: ProjectConfig = Field(default_factory=ProjectConfig)
    paths: PathsConfig = Field(default_factory=PathsConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    envs: EnvsConfig = Field(default_factory=EnvsConfig, description="per env: constructor kwargs (typed per built-in env)")
    seed_data: SeedDataConfig = Field(default_factory=SeedDataConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    buffer: BufferConfig = Field(default_factory=BufferConfig)
    experience: ExperienceConfig = Field(default_factory=ExperienceConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
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


def parse_override(item: str) -> dict:
    """`a.b.c=value` -> {"a": {"b": {"c": value}}}, value parsed as YAML (so 3 is an int, [1,2] a list)."""
    if "=" not in item:
        raise ConfigError(f"override '{item}' is not of the form key.path=value")
    key, raw = item.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override '{item}' has an empty key")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise ConfigError(f"override '{item}': value is not valid YAML ({e.problem})") from None
    node: dict = {}
    cur = node
    for p in parts[:-1]:
        cur[p] = {}
        cur = cur[p]
    cur[parts[-1]] = value
    return node


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
        merged = deep_merge(merged, parse_override(item))
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
