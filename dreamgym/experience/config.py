"""The experience section of params.yaml: the experience model's data, prompt, training and fidelity gate.

Simplifications: one experience model per env; the gate's thresholds are shared with per-env overrides.
Use: `cfg.experience` (an ExperienceConfig); `from dreamgym.config import ExperienceConfig` also works.
"""

from __future__ import annotations

from pydantic import Field

from dreamgym.configbase import StrictConfig
from dreamgym.models.config import ModelConfig, SFTParams


class ExperienceGateConfig(StrictConfig):
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


class ExperienceConfig(StrictConfig):
    envs: list[str] = Field(default_factory=list, description="envs that get an experience model, one model per env (the project's default list: dreamgym.config.ENV_DEFAULTS)")
    model: ModelConfig = Field(default_factory=ModelConfig)
    history_window: int = Field(0, ge=0, description="earlier steps shown in the prompt (0: the no-history ablation; the paper uses history: 2 suits larger models, the tiny one learns faster without)")
    k: int = Field(0, ge=0, description="transitions retrieved from the buffer per step (0: the no-retrieval ablation; the paper retrieves, try 2-4 with larger models)")
    with_reasoning: bool = Field(True, description="targets open with a reasoning trace (False: the no-reasoning ablation)")
    augment_copies: int = Field(1, ge=0, description="symmetry-augmented copies of each training example (by the env's augmenter, e.g. colours permuted; an env without one: none)")
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
