"""The loop section of params.yaml: the DreamGym loop, which trains the policy (policy.*: model, GRPO/PPO, horizon
schedule, BC warm start) against the experience model instead of the real env.

Simplifications: one env per loop (policy.env); real val evaluations and the gap monitor's replays are
measurement, not training, and are counted apart from real_steps (the real RL steps, 0 here).
Use: `cfg.loop` (a LoopConfig); `from dreamgym.config import LoopConfig` also works.
"""

from __future__ import annotations

from pydantic import Field

from dreamgym.configbase import StrictConfig


class LoopGuardConfig(StrictConfig):
    min_parse_rate: float = Field(0.9, ge=0, le=1, description="the GX guard stops the loop when fewer of an iteration's synthetic steps parsed")
    stop_on_hacking: bool = Field(True, description="stop the loop when synthetic success runs above the success the same actions get in the real env by more than hacking_margin (False: log it only)")
    hacking_margin: float = Field(0.3, ge=0, le=1, description="the reward-hacking guard's margin: synthetic minus replayed real success over the monitor's last hacking_window iterations")
    hacking_window: int = Field(3, ge=1, description="iterations of monitored episodes pooled for the reward-hacking guard")
    hacking_min_episodes: int = Field(16, ge=1, description="monitored episodes the guard needs before it may stop the loop")


class LoopConfig(StrictConfig):
    iterations: int = Field(120, ge=0, description="loop iterations, each a batch of tasks, synthetic rollouts, one GRPO/PPO update, buffer write and curriculum (default: policy.rl.updates, real GRPO's count)")
    experience_model: str = Field("registry", description="registry: the latest registered (gate passed) dreamgym-experience-<policy.env>; stage: the train_experience_model stage's saved model of the env (artifacts/experience/models/<env>); else a saved experience model dir or an MLflow model URI")
    require_gate: bool = Field(True, description="refuse an experience model that is not the registry's (only models that passed their fidelity gate are registered); False: use it, the run tagged experience_gate=unchecked")
    replay: bool = Field(True, description="write every iteration's synthetic transitions to the loop's replay buffer (tagged iter-<n>) and retrieve from it when the model's k > 0; False: the 'w/o replay' ablation (k = 0, nothing written)")
    eval_every: int = Field(10, ge=0, description="iterations between real val evaluations (0: before and after the loop only)")
    eval_episodes: int = Field(100, ge=1, description="val tasks per real evaluation (one episode each)")
    final_episodes: int = Field(1000, ge=1, description="test tasks of the final real evaluation, beside random and expert")
    monitor_episodes: int = Field(8, ge=0, description="episodes per iteration replayed in the real env by the sim-to-real gap monitor (0: off, and no reward-hacking guard)")
    name: str = Field("", description="the loop's folder under artifacts/loop and its run name (default: <env>-<algo>-s<seed>[-<ablation>])")
    guard: LoopGuardConfig = Field(default_factory=LoopGuardConfig)
