"""Supervised fine-tuning with TRL's SFTTrainer (loss on the target only): the experience model, and the policy's
behaviour-cloning warm start.

The paper's objective is -log P(reasoning | context) - log P(next state, reward | context, reasoning): with the
target written as `<think>reasoning</think><valid>…</valid><next>…</next><reward>…</reward><done>…</done>`, one
causal-LM loss over the whole completion is exactly that sum. Examples are prompt/completion pairs (see
experience/examples.py); TRL masks the prompt tokens (`completion_only_loss`) and appends EOS to the completion.

    result = train_sft(model, tokenizer, train_df, val_df, SFTParams(max_steps=300), out_dir="artifacts/x")
    result.val_loss_before, result.val_loss_after

Simplifications: fp32 on the CPU, bf16 on a GPU when torch sees one (where it supports bf16), no packing (examples are short and the
prompt mask must stay exact), no checkpoints mid-run (the flow saves and registers the final model).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dreamgym.errors import DreamGymError
from dreamgym.models.config import SFTParams


@dataclass
class SFTResult:
    """What a training run did: losses before/after, steps, time, tokens, the log history."""

    steps: int
    seconds: float
    train_examples: int
    val_examples: int
    train_loss_first: float | None
    train_loss_last: float | None
    val_loss_before: float | None
    val_loss_after: float | None
    train_tokens: int
    history: list[dict[str, Any]] = field(default_factory=list)

    def metrics(self, prefix: str = "exp/sft_") -> dict[str, float]:
        """Flat `<prefix>*` metrics for the tracker (None values left out): exp/sft_* for the experience model."""
        out = {"steps": self.steps, "seconds": self.seconds, "train_examples": self.train_examples,
               "train_tokens": self.train_tokens, "train_loss_first": self.train_loss_first,
               "train_loss_last": self.train_loss_last, "val_loss_before": self.val_loss_before,
               "val_loss_after": self.val_loss_after}
        return {prefix + k: float(v) for k, v in out.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dataset(df: pd.DataFrame, where: str):
    from datasets import Dataset

    missing = {"prompt", "completion"} - set(df.columns)
    if missing:
        raise DreamGymError(f"{where} examples lack column(s) {sorted(missing)}; build them with build_examples()")
    if len(df) == 0:
        raise DreamGymError(f"{where} examples are empty")
    bad = df["prompt"].isna() | df["completion"].isna() | (df["completion"].str.len() == 0)
    if bad.any():
        raise DreamGymError(f"{where} examples: {int(bad.sum())} row(s) with an empty prompt or completion "
                            f"(first at index {df.index[bad.to_numpy()][0]})")
    return Dataset.from_pandas(df[["prompt", "completion"]].reset_index(drop=True), preserve_index=False)


def train_sft(model, tokenizer, train: pd.DataFrame, val: pd.DataFrame | None, settings: SFTParams,
              out_dir: str | Path, on_log: Callable[[dict[str, float], int], None] | None = None,
              prefix: str = "exp/") -> SFTResult:
    """Fine-tune `model` in place on prompt/completion examples; returns losses and timings.

    `train`, `val`: DataFrames with `prompt` and `completion` columns (val may be None: no val loss).
    `out_dir`: TRL's scratch dir (nothing is checkpointed there). `on_log(metrics, step)`: called with
    `<prefix>train_loss`, `<prefix>val_loss`, `<prefix>lr` as training logs them (e.g. Tracker.log_metrics);
    `prefix` is "exp/" for the experience model, "rl/bc_" for the policy's warm start.
    """
    import torch
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    gpu = torch.cuda.is_available()

    if tokenizer.eos_token is None or tokenizer.pad_token is None:
        raise DreamGymError("the tokenizer needs an eos and a pad token for SFT")
    train_ds = _dataset(train, "train")
    val_ds = _dataset(val.head(settings.eval_examples), "val") if val is not None and len(val) else None
    args = SFTConfig(
        output_dir=str(out_dir), max_steps=settings.max_steps, num_train_epochs=settings.epochs,
        learning_rate=settings.learning_rate, warmup_steps=settings.warmup_ratio, lr_scheduler_type="linear",
        weight_decay=settings.weight_decay, per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size, gradient_accumulation_steps=settings.grad_accum,
        max_length=settings.max_length, completion_only_loss=settings.completion_only, packing=False,
        eval_strategy="steps" if (val_ds is not None and settings.eval_every > 0) else "no",
        eval_steps=settings.eval_every or None, logging_steps=settings.logging_steps, save_strategy="no",
        report_to="none", use_cpu=not gpu, bf16=gpu and torch.cuda.is_bf16_supported(), fp16=False,
        seed=settings.seed, data_seed=settings.seed,
        dataloader_num_workers=0, disable_tqdm=False, remove_unused_columns=True,
        train_sampling_strategy="group_by_length" if settings.group_by_length else "random",
    )
    history: list[dict[str, Any]] = []

    class _Forward(TrainerCallback):
        def on_log(self, _args, state, _control, logs=None, **_kw):
            if not logs:
                return
            out = {}
            for src, dst in (("loss", "train_loss"), ("eval_loss", "val_loss"), ("learning_rate", "lr")):
                dst = prefix + dst
                if src in logs and logs[src] is not None and math.isfinite(float(logs[src])):
                    out[dst] = float(logs[src])
            if out:
                history.append({"step": state.global_step, **out})
                if on_log is not None:
                    on_log(out, state.global_step)

    trainer = SFTTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=val_ds,
                         processing_class=tokenizer, callbacks=[_Forward()])
    val_before = float(trainer.evaluate()["eval_loss"]) if val_ds is not None else None
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    val_after = float(trainer.evaluate()["eval_loss"]) if val_ds is not None else None
    if on_log is not None and val_after is not None:
        on_log({prefix + "val_loss": val_after}, trainer.state.global_step)
    train_losses = [h[prefix + "train_loss"] for h in history if prefix + "train_loss" in h]
    steps = int(trainer.state.global_step)
    seen = max((float(h["num_tokens"]) for h in trainer.state.log_history if "num_tokens" in h), default=0.0)
    model.eval()
    return SFTResult(steps=steps, seconds=round(seconds, 2), train_examples=len(train_ds),
                     val_examples=len(val_ds) if val_ds is not None else 0,
                     train_loss_first=train_losses[0] if train_losses else None,
                     train_loss_last=train_losses[-1] if train_losses else None,
                     val_loss_before=val_before, val_loss_after=val_after,
                     train_tokens=int(seen), history=history)
