"""The experience section of params.yaml: the experience model's data, prompt, training and fidelity gate.

Simplifications: one experience model per env unless `shared`; the gate's thresholds are shared with per-env overrides.
Use: `cfg.experience` (an ExperienceConfig); `from dreamgym.config import ExperienceConfig` also works.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dreamgym.configbase import StrictConfig
from dreamgym.models.config import ModelConfig, SFTParams


class ExperienceGateConfig(StrictConfig):
    """May the model drive RL? Each threshold is a lower bound on a held-out fidelity figure (experience.fidelity,
    on experience.eval_split); 0 turns a check off (a NaN figure fails any check that is on). The reference
    targets (params.yaml sets them, shared and per env) are named in each description."""

    enforce: bool = Field(False, description="a failed fidelity gate stops the stage (False: the model is logged, tagged gate=failed, not registered, so it cannot drive RL)")
    min_parse_rate: float = Field(0.99, ge=0, le=1, description="share of held-out predictions that parse")
    min_success_precision: float = Field(0.95, ge=0, le=1, description="precision of predicting a real success (reward 1); target 0.95")
    min_success_recall: float = Field(0.9, ge=0, le=1, description="recall of real successes; target 0.9")
    min_success_count: int = Field(100, ge=0, description="fewest real successes among the scored transitions: with fewer, success precision and recall are no measurement (35 successes give an interval ~0.2 wide) and the gate fails saying so")
    min_done_acc: float = Field(0.98, ge=0, le=1, description="done accuracy on held-out real transitions; target 0.98")
    min_valid_acc: float = Field(0.98, ge=0, le=1, description="validity accuracy on held-out real transitions; target 0.98")
    min_exact_next: float = Field(0.0, ge=0, le=1, description="exact next-state match over all scored transitions; target 0.95 for an env whose context decides almost every transition (a per_env override), 0 (off) elsewhere")
    min_exact_next_determined: float = Field(0.9, ge=0, le=1, description="exact next-state match on context-determined transitions; target 0.9")
    min_consistency: float = Field(0.0, ge=0, le=1, description="share of predictions on undetermined transitions that contradict nothing the context shows (EnvSpec.consistent); target 0.9 for an env with a consistency rule (a per_env override), 0 (off) for one without (the figure is NaN)")
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
    shared: bool = Field(False, description="one model for all of `envs` (each env's examples under its own prompt, one SFT schedule of sft.max_steps), measured and gated per env; False: one model per env, as in the paper")
    model: ModelConfig = Field(default_factory=ModelConfig)
    history_window: int = Field(0, ge=0, description="earlier steps shown in the prompt (0: the no-history ablation; the paper uses history: 2 suits larger models, the tiny one learns faster without)")
    k: int = Field(0, ge=0, description="transitions retrieved from the buffer per step (0: the no-retrieval ablation; the paper retrieves, try 2-4 with larger models)")
    with_reasoning: bool = Field(True, description="targets open with a reasoning trace (False: the no-reasoning ablation)")
    target_order: Literal["next_first", "decisions_first"] = Field("next_first", description="fields after the reasoning: next_first (valid, next, reward, done) or decisions_first (valid, reward, done, then next: decisions conditioned on state, action and task only)")
    augment_copies: int = Field(1, ge=0, description="symmetry-augmented copies of each training example (by the env's augmenter, e.g. colours permuted; an env without one: none)")
    task_examples: int = Field(2, ge=0, description="task-generation SFT examples per seed task (variants written by the env's rules, EnvSpec.task_variants), so the same weights write the curriculum's new tasks; 0: the model cannot generate tasks")
    annotator: str | None = Field(None, description="reasoning annotator registry name (None: the env's rule-based one)")
    prompt_budget: int = Field(3072, ge=64, description="prompt length budget in characters")
    state_budget: int = Field(600, ge=24, description="abstract state budget in characters")
    sft: SFTParams = Field(default_factory=SFTParams)
    max_new_tokens: int = Field(192, ge=8, description="generation budget per predicted transition (tokens)")
    temperature: float = Field(0.0, ge=0.0, description="sampling temperature of synthesized transitions (0: greedy; > 0 samples what the context does not determine, which the real env varies from the model's point of view)")
    gen_batch_size: int = Field(32, ge=1, description="prompts per batched generation call")
    eval_split: Literal["test", "val"] = Field("test", description="held-out split whose examples are scored for fidelity and replayed open-loop: test (held-out tasks, the reported figures; seed_data.test_episodes) or val (for tuning); SFT's eval loss always uses val")
    eval_examples: int = Field(400, ge=1, description="held-out real transitions scored for fidelity (the first N by episode)")
    open_loop_episodes: int = Field(30, ge=0, description="held-out episodes replayed open-loop")
    open_loop_max_steps: int = Field(20, ge=1, description="steps replayed per open-loop episode")
    gate: ExperienceGateConfig = Field(default_factory=ExperienceGateConfig)
