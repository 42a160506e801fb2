"""Train one env's experience model end to end: examples → model → SFT → fidelity on held-out real data.

    run = train_experience_model(steps, tasks, "myenv", cfg.experience, cache_dir=Path("artifacts/cache/models"),
                                 scratch_dir=tmp, retriever=buffer_retriever(buf, "myenv", k=cfg.experience.k))
    run.fidelity["exact_next_determined"], run.open_loop["open_loop_first_divergence"], run.table.head()

Steps: one PromptSpec from the config (prompt.PromptSpec.from_config), then build_examples() over the env's real
Steps (train/val split by task; retrieval, history and reasoning as configured, which is how the paper's
ablations are switched); the ExperienceModel that is scored uses the same spec, so its prompts are the training
prompts; load the model (`experience.model`: tiny with a
tokenizer trained on the training examples' text, smollm2, or a local HF dir; LoRA optional); SFT with TRL on
the train examples; then an ExperienceModel over the trained weights predicts the first `eval_examples` val
transitions (fidelity, prediction table) and replays `open_loop_episodes` val episodes open-loop.

Simplifications: one model per env (as in the paper); pretrained tokenizers keep their vocabulary (the markup
tags become several tokens); val examples retrieve only from train-split rows (the retriever's job).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dreamgym.envs.registry import get_spec
from dreamgym.errors import DreamGymError
from dreamgym.experience.augment import augment_examples
from dreamgym.experience.config import ExperienceConfig
from dreamgym.experience.examples import build_examples
from dreamgym.experience.fidelity import open_loop_divergence, prediction_table, transition_fidelity
from dreamgym.experience.format import SPECIAL_TOKENS
from dreamgym.experience.prompt import PromptSpec
from dreamgym.experience.retrieval import Retriever
from dreamgym.experience.synthetic import ExperienceModel
from dreamgym.models.sft import SFTResult, train_sft


@dataclass
class ExperienceRun:
    """The outcome of train_experience_model(): the trained model, its numbers and its sample predictions."""

    env: str
    model: Any
    tokenizer: Any
    experience_model: ExperienceModel
    sft: SFTResult
    fidelity: dict[str, float]
    open_loop: dict[str, float]
    table: pd.DataFrame
    n_train: int
    n_val: int
    parameters: int
    #: torch's intra-op threads during training: the trained weights (hence every fidelity figure) are bit-exact
    #: across runs only at the same count, as float sums are ordered differently with more threads
    threads: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """`exp/…` metrics: SFT losses, fidelity, open-loop divergence, sizes and timings."""
        out = {**self.sft.metrics(), **{f"exp/{k}": v for k, v in {**self.fidelity, **self.open_loop}.items()},
               "exp/train_examples": self.n_train, "exp/val_examples": self.n_val, "exp/parameters": self.parameters}
        out.update({f"perf/exp_{k}_s": v for k, v in self.seconds.items()})
        out["perf/exp_torch_threads"] = self.threads
        return {k: float(v) for k, v in out.items()}


def make_model(cfg: ExperienceConfig, cache_dir: Path, texts: list[str]):
    """(model, tokenizer) per `cfg.model` (models.build_model, the markup tags as special tokens); `texts` train a
    tiny model's tokenizer."""
    from dreamgym.models import build_model

    return build_model(cfg.model, cache_dir, texts=texts, seed=cfg.sft.seed, special_tokens=SPECIAL_TOKENS)


def _open_loop_frame(val: pd.DataFrame, steps: pd.DataFrame, tasks: pd.DataFrame, spec: PromptSpec,
                     episodes: list[str]) -> pd.DataFrame:
    """The val examples of `episodes` (already abstract states) with each episode's task text, which needs the
    raw first observation (an env may keep once-shown context, e.g. a recipe list, out of its abstract states)."""
    instr = dict(zip(tasks["task_id"], tasks["instruction"], strict=True))
    firsts = steps[steps["episode_id"].isin(episodes) & (steps["t"] == 0)]
    text = {r.episode_id: spec.task_text(str(instr[r.task_id]), str(r.state)) for r in firsts.itertuples()}
    frame = val[val["episode_id"].isin(text)][["episode_id", "task_id", "t", "split", "state", "action",
                                               "next_state"]].copy()
    frame["instruction"] = frame["episode_id"].map(text)
    return frame


def train_experience_model(steps: pd.DataFrame, tasks: pd.DataFrame, env: str, cfg: ExperienceConfig, *,
                           cache_dir: Path, scratch_dir: Path, retriever: Retriever | None = None,
                           on_log: Callable[[dict[str, float], int], None] | None = None,
                           version: str = "untracked", max_steps: int | None = None) -> ExperienceRun:
    """Build examples, train, and measure one env's experience model (see the module docstring).

    `steps`, `tasks`: the real seed data (all envs or one); `retriever`: buffer retrieval restricted to
    train-split rows (None or cfg.k == 0: none); `on_log(metrics, step)`: training curves (e.g. a Tracker);
    `version`: the model version written into synthetic Steps; `max_steps`: the env's step limit when the data
    was collected (dones at that limit are truncation, see build_examples).
    """
    import torch

    from dreamgym.models import Generator

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    spec = PromptSpec.from_config(cfg, get_spec(env), max_steps=max_steps)
    ex = build_examples(steps, tasks, spec, annotator=cfg.annotator, retriever=retriever)
    train, val = ex[ex["split"] == "train"], ex[ex["split"] == "val"]
    if len(train) == 0 or len(val) == 0:
        raise DreamGymError(f"experience model for '{env}': {len(train)} train and {len(val)} val examples; the "
                            f"seed data needs both splits (seed_data.val_fraction)")
    train = augment_examples(train, spec.env, cfg.augment_copies, seed=cfg.sft.seed)
    seconds["examples"] = time.perf_counter() - t0
    texts = [*train["prompt"], *train["completion"]]
    model, tok = make_model(cfg, cache_dir, texts)
    n_params = sum(p.numel() for p in model.parameters())
    t0 = time.perf_counter()
    sft = train_sft(model, tok, train, val, cfg.sft, scratch_dir, on_log=on_log)
    seconds["sft"] = time.perf_counter() - t0
    gen = Generator(model, tok, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.gen_batch_size,
                    max_prompt_tokens=cfg.sft.max_length)
    xm = ExperienceModel(gen, spec, retriever=retriever, version=version)
    t0 = time.perf_counter()
    scored = val.head(cfg.eval_examples)
    outs = xm.predict_prompts(scored["prompt"].tolist())
    table = prediction_table(outs, scored, abstract=xm.abstract)
    fidelity = transition_fidelity(table)
    seconds["eval"] = time.perf_counter() - t0
    fidelity["transitions_per_s"] = len(scored) / max(seconds["eval"], 1e-9)
    open_loop: dict[str, float] = {}
    if cfg.open_loop_episodes:
        t0 = time.perf_counter()
        eps = sorted(val["episode_id"].unique())[: cfg.open_loop_episodes]
        frame = _open_loop_frame(val, steps, tasks, spec, eps)
        open_loop = open_loop_divergence(xm, frame, max_episodes=cfg.open_loop_episodes,
                                         max_steps=cfg.open_loop_max_steps)
        seconds["open_loop"] = time.perf_counter() - t0
    return ExperienceRun(env=env, model=model, tokenizer=tok, experience_model=xm, sft=sft, fidelity=fidelity,
                         open_loop=open_loop, table=table, n_train=len(train), n_val=len(val), parameters=n_params,
                         threads=torch.get_num_threads(), seconds={k: round(v, 2) for k, v in seconds.items()})
