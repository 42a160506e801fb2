"""The model sections of params.yaml: which LM to build or load (ModelConfig) and how to fine-tune it (SFTParams).

Simplifications: three model kinds (tiny, smollm2, hf); SFT is one TRL SFTTrainer run with a linear schedule.
Use: `experience.model` / `policy.model` are ModelConfig, `experience.sft` / `policy.bc.sft` SFTParams;
`from dreamgym.config import ModelConfig` also works.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from dreamgym.configbase import StrictConfig


class ModelConfig(StrictConfig):
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


class SFTParams(StrictConfig):
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
    group_by_length: bool = Field(False, description="batch examples of similar length together (less padding, more examples per CPU second; the order is then less random)")
    completion_only: bool = Field(True, description="loss on the target only (the paper's objective); False: on the prompt too (its history holds real transitions)")
