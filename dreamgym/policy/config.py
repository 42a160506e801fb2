"""The policy section of params.yaml: the policy LM, how it acts, its RL (GRPO / PPO), BC warm start and evals.

Simplifications: the policy trains in one real env; the horizon grows in stages (ScalingInter-RL).
Use: `cfg.policy` (a PolicyConfig); `from dreamgym.config import PolicyConfig` also works.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from dreamgym.configbase import StrictConfig
from dreamgym.models.config import ModelConfig, SFTParams


class HorizonParams(StrictConfig):
    stages: list[int] = Field(default_factory=lambda: [5, 10, 15], description="maximum turns per episode in each stage (ScalingInter-RL; AgentGym-RL's BabyAI: [6, 13, 20])")
    every: int = Field(40, ge=0, description="updates per stage (AgentGym-RL: 100 with a 7B model); 0: a fixed horizon, the last stage's, throughout")

    @field_validator("stages")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if not v or any(h < 1 for h in v):
            raise ValueError(f"horizon stages must be a non-empty list of turn counts >= 1, got {v}")
        return v


class RLParams(StrictConfig):
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


class BCParams(StrictConfig):
    demos: int = Field(10, ge=0, description="expert seed episodes (train split, successful) cloned before RL; 0: no warm start")
    sft: SFTParams = Field(default_factory=lambda: SFTParams(max_steps=200, learning_rate=1e-3, batch_size=16, max_length=512, eval_every=0, eval_examples=64), description="the cloning run (TRL SFTTrainer)")


class PolicyEvalParams(StrictConfig):
    split: Literal["train", "val", "test"] = Field("val", description="split of the evaluations during training")
    episodes: int = Field(100, ge=1, description="held-out tasks per evaluation (one episode each, sampled; see greedy_too)")
    every: int = Field(20, ge=0, description="updates between evaluations (0: before and after training only)")
    final_split: Literal["train", "val", "test"] = Field("test", description="split of the final evaluation")
    horizon: int | None = Field(None, ge=1, description="turns per evaluation episode (null: the last horizon stage)")
    greedy_too: bool = Field(True, description="also evaluate the greedy policy (eval/greedy_*); eval/* is the policy as trained, sampling at policy.temperature")


class PolicyConfig(StrictConfig):
    env: str = Field("", description="the env the policy is trained in (real env; synthetic training is the DreamGym loop); the project's default: dreamgym.config.ENV_DEFAULTS")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="overrides of envs.<env> for the policy's env (the project's default: a BabyAI level and action set where random succeeds <= 10%)")
    model: ModelConfig = Field(default_factory=lambda: ModelConfig(hidden_size=64, num_layers=2, num_heads=2, vocab_size=1024, max_positions=1024), description="the policy LM (same kinds as the experience model)")
    mode: Literal["score", "generate"] = Field("score", description="score: softmax over the valid actions' log-probs; generate: 'Thought: … Action: …' text")
    history_window: int = Field(2, ge=0, description="earlier (observation, action) steps in the prompt")
    prompt_budget: int = Field(1536, ge=64, description="prompt length budget in characters")
    max_new_tokens: int = Field(48, ge=4, description="generate mode: reply budget in tokens")
    temperature: float = Field(1.0, gt=0, description="softmax temperature of the policy over candidates (score mode) or tokens (generate mode), in training and in eval/* (eval/greedy_* takes the argmax)")
    score_norm: Literal["mean", "sum"] = Field("mean", description="score mode: a candidate's score is the mean (or sum) of its token log-probs")
    batch_size: int = Field(64, ge=1, description="rows per forward pass while acting")
    seed: int = Field(0, description="model init, task sampling and action sampling")
    init: str | None = Field(None, description="a saved policy to start from (a dir written by save_policy, or an MLflow model URI) in train_policy and the DreamGym loop; null: a fresh policy warm-started by behaviour cloning (bc)")
    rl: RLParams = Field(default_factory=RLParams)
    bc: BCParams = Field(default_factory=BCParams)
    eval: PolicyEvalParams = Field(default_factory=PolicyEvalParams)
    checkpoint_every: int = Field(50, ge=0, description="updates between logged checkpoints (0: the final one only)")


class S2RConfig(StrictConfig):
    """The sim_to_real stage (dreamgym/stages/sim_to_real.py): real-env RL from the loop's policy on a small budget."""

    init: str = Field("loop", description="the policy to transfer: 'loop' (the DreamGym loop's final policy of this config, artifacts/loop/models/<loop name>), a saved policy dir or an MLflow model URI")
    real_steps: int = Field(4400, ge=0, description="real env steps of RL (B/16: real GRPO on the default benchmark spends ~70.5k in 120 updates); no update starts past it, the last may pass it by under one update's rollouts; 0: evaluate only")
    max_updates: int = Field(120, ge=0, description="updates at most, whatever the real-step budget leaves (the policy's GRPO/PPO settings, policy.rl)")
    eval_every: int = Field(2, ge=0, description="updates between real val evaluations during S2R (measurement: counted apart from real_steps; 0: before and after only)")
    final_episodes: int = Field(1000, ge=1, description="test tasks of the final evaluation, beside random and expert (the loop's loop.final_episodes: the same tasks)")
