"""Train one env's experience model end to end: examples → model → SFT → fidelity on held-out real data.

    run = train_experience_model(steps, tasks, "myenv", cfg.experience, cache_dir=Path("artifacts/cache/models"),
                                 scratch_dir=tmp, retriever=buffer_retriever(buf, "myenv", k=cfg.experience.k))
    run.fidelity["exact_next_determined"], run.open_loop["open_loop_first_divergence"], run.table.head()

Steps: one PromptSpec from the config (prompt.PromptSpec.from_config), then build_examples() over the env's real
Steps (train/val/test split by task; retrieval, history and reasoning as configured, which is how the paper's
ablations are switched); the ExperienceModel that is scored uses the same spec, so its prompts are the training
prompts; load the model (`experience.model`: tiny with a
tokenizer trained on the training examples' text, smollm2, or a local HF dir; LoRA optional); SFT with TRL on
the train examples (val for its eval loss); then, on the examples of `experience.eval_split` (test: held-out
tasks, the reported figures; val: for tuning), an ExperienceModel over the trained weights predicts the first
`eval_examples` transitions, each judged by the env's consistency rule and scored by the teacher-forced
likelihood of its real next state (fidelity, prediction table; for an env with a symmetry augmenter also the
teacher-forced accuracy on the renamed symbols of the next state, `next_symbol_acc`: copying), and replays
`open_loop_episodes` episodes open-loop.

With `experience.task_examples` > 0 the SFT set also holds task-generation examples (examples.build_task_examples:
variants of each seed task written by the env's rules), so the same weights can write new tasks for the
curriculum (ExperienceModel.write_tasks).

`train_shared_experience_model` trains one model for several envs (experience.shared: the paper's stated
limitation is one env per model), each env's examples under its own PromptSpec, and measures it per env.

Simplifications: one model per env by default (as in the paper); pretrained tokenizers keep their vocabulary
(the markup tags become several tokens); held-out examples retrieve only from train-split rows (the retriever's job); the
consistency rule reads each example's `context` (the task block and the history window's states).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dreamgym.envs.registry import get_spec
from dreamgym.errors import DreamGymError
from dreamgym.experience.augment import augment_examples, renamed_by
from dreamgym.experience.config import ExperienceConfig
from dreamgym.experience.examples import build_examples, build_task_examples
from dreamgym.experience.fidelity import (
    next_state_logp,
    open_loop_divergence,
    prediction_table,
    rate_stats,
    symbol_hits,
    transition_fidelity,
)
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
    #: the split scored for fidelity and open loop (experience.eval_split) and its example count
    eval_split: str = "test"
    n_eval: int = 0
    #: torch's intra-op threads during training: the trained weights (hence every fidelity figure) are bit-exact
    #: across runs only at the same count, as float sums are ordered differently with more threads
    threads: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """`exp/…` metrics: SFT losses, fidelity, open-loop divergence, sizes and timings."""
        out = {**self.sft.metrics(), **{f"exp/{k}": v for k, v in {**self.fidelity, **self.open_loop}.items()},
               "exp/train_examples": self.n_train, "exp/val_examples": self.n_val, "exp/eval_examples": self.n_eval,
               "exp/parameters": self.parameters}
        out.update({f"perf/exp_{k}_s": v for k, v in self.seconds.items()})
        out["perf/exp_torch_threads"] = self.threads
        return {k: float(v) for k, v in out.items()}


def make_model(cfg: ExperienceConfig, cache_dir: Path, texts: list[str]):
    """(model, tokenizer) per `cfg.model` (models.build_model, the markup tags as special tokens); `texts` train a
    tiny model's tokenizer."""
    from dreamgym.models import build_model

    return build_model(cfg.model, cache_dir, texts=texts, seed=cfg.sft.seed, special_tokens=SPECIAL_TOKENS)


def _open_loop_frame(held: pd.DataFrame, episodes: list[str]) -> pd.DataFrame:
    """The held-out examples of `episodes` (already abstract states) with each episode's task text (the first
    entry of its examples' context)."""
    frame = held[held["episode_id"].isin(episodes)]
    out = frame[["episode_id", "task_id", "t", "split", "state", "action", "next_state"]].copy()
    out["instruction"] = [c[0] for c in frame["context"]]
    return out


@dataclass
class Measurement:
    """What measure() found: fidelity metrics, open-loop divergence, the prediction table, timings (seconds)."""

    fidelity: dict[str, float]
    open_loop: dict[str, float]
    table: pd.DataFrame
    seconds: dict[str, float]


def held_out(ex: pd.DataFrame, env: str, split: str) -> pd.DataFrame:
    """The examples of `split` (DreamGymError saying how to get some when there are none)."""
    held = ex[ex["split"] == split]
    if len(held) == 0:
        fix = (f"collect test episodes (seed_data.test_episodes.{env}) or measure on val (experience.eval_split=val)"
               if split == "test" else "raise seed_data.val_fraction")
        raise DreamGymError(f"experience model for '{env}': no {split} examples to measure fidelity on "
                            f"(experience.eval_split={split}); {fix}")
    return held


def measure(xm: ExperienceModel, held: pd.DataFrame, cfg: ExperienceConfig) -> Measurement:
    """Fidelity of `xm` on held-out examples (build_examples rows of one split, with the spec xm was trained with):
    the first `cfg.eval_examples` are predicted (fidelity.transition_fidelity of their prediction table, each
    judged by the env's consistency rule and scored by the teacher-forced likelihood of its real next state), and
    `cfg.open_loop_episodes` episodes are replayed open-loop."""
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    scored = held.head(cfg.eval_examples)
    outs = xm.predict_prompts(scored["prompt"].tolist())
    seconds["eval"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    g = xm.generator
    logp = next_state_logp(g.model, g.tokenizer, scored["prompt"].tolist(), scored["completion"].tolist(),
                           batch_size=cfg.gen_batch_size, max_tokens=cfg.sft.max_length)
    table = prediction_table(outs, scored, abstract=xm.abstract, contexts=[list(c) for c in scored["context"]],
                             consistent=xm.spec.env.consistent, next_logp=logp)
    fidelity = transition_fidelity(table)
    is_symbol = renamed_by(xm.spec.env)
    if is_symbol is not None:  # copying from the context, on the names the env's symmetry renames
        hits = symbol_hits(g.model, g.tokenizer, scored["prompt"].tolist(), scored["completion"].tolist(), is_symbol,
                           batch_size=cfg.gen_batch_size, max_tokens=cfg.sft.max_length)
        rate, n, lo, hi = rate_stats(hits)
        fidelity.update({"next_symbol_acc": rate, "next_symbol_acc_n": n, "next_symbol_acc_lo": lo,
                         "next_symbol_acc_hi": hi})
    seconds["eval_scoring"] = time.perf_counter() - t0
    fidelity["transitions_per_s"] = len(scored) / max(seconds["eval"], 1e-9)
    open_loop: dict[str, float] = {}
    if cfg.open_loop_episodes:
        t0 = time.perf_counter()
        eps = sorted(held["episode_id"].unique())[: cfg.open_loop_episodes]
        open_loop = open_loop_divergence(xm, _open_loop_frame(held, eps), max_episodes=cfg.open_loop_episodes,
                                         max_steps=cfg.open_loop_max_steps)
        seconds["open_loop"] = time.perf_counter() - t0
    return Measurement(fidelity, open_loop, table, seconds)


@dataclass
class EnvExamples:
    """One env's SFT examples under its PromptSpec: the train split (augmented), val (SFT's eval loss) and the
    held-out split that is measured (experience.eval_split)."""

    env: str
    spec: PromptSpec
    train: pd.DataFrame
    val: pd.DataFrame
    held: pd.DataFrame


def env_examples(steps: pd.DataFrame, tasks: pd.DataFrame, env: str, cfg: ExperienceConfig, *,
                 retriever: Retriever | None = None, max_steps: int | None = None) -> EnvExamples:
    """Build env `env`'s examples from its real seed `steps` and `tasks` (see the module docstring)."""
    spec = PromptSpec.from_config(cfg, get_spec(env), max_steps=max_steps)
    ex = build_examples(steps, tasks, spec, annotator=cfg.annotator, retriever=retriever)
    train, val = ex[ex["split"] == "train"], ex[ex["split"] == "val"]
    if len(train) == 0 or len(val) == 0:
        raise DreamGymError(f"experience model for '{env}': {len(train)} train and {len(val)} val examples; the "
                            f"seed data needs both splits (seed_data.val_fraction)")
    held = held_out(ex, env, cfg.eval_split)
    train = augment_examples(train, spec.env, cfg.augment_copies, seed=cfg.sft.seed)
    gen = build_task_examples(steps, tasks, spec, cfg.task_examples, seed=cfg.sft.seed)
    if len(gen):  # the curriculum's task writing, trained into the same weights (train and val tasks only)
        train = pd.concat([train, gen[gen["split"] == "train"]], ignore_index=True)
        val = pd.concat([val, gen[gen["split"] == "val"]], ignore_index=True)
    return EnvExamples(env, spec, train, val, held)


def interleave(frames: list[pd.DataFrame], seed: int = 0) -> pd.DataFrame:
    """The rows of `frames` in one random order (a fixed `seed`): one SFT set (and an eval head) that mixes every
    env. Shape: sum of the frames' rows, their shared columns."""
    return pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=seed).reset_index(drop=True)


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
    return train_shared_experience_model({env: (steps, tasks, max_steps)}, cfg, cache_dir=cache_dir,
                                         scratch_dir=scratch_dir, retrievers={env: retriever}, on_log=on_log,
                                         version=version)[env]


def train_shared_experience_model(data: Mapping[str, tuple[pd.DataFrame, pd.DataFrame, int | None]],
                                  cfg: ExperienceConfig, *, cache_dir: Path, scratch_dir: Path,
                                  retrievers: Mapping[str, Retriever | None] | None = None,
                                  on_log: Callable[[dict[str, float], int], None] | None = None,
                                  version: str = "untracked") -> dict[str, ExperienceRun]:
    """One experience model for several envs (experience.shared): each env's examples under its own PromptSpec,
    interleaved into one SFT set (one tokenizer, one schedule of `cfg.sft.max_steps`), then measured per env as
    train_experience_model measures one. `data`: env -> (steps, tasks, max_steps). Every returned run holds the
    same model; its `seconds["sft"]` is the shared training's. train_experience_model is its one-env case."""
    import torch

    from dreamgym.models import Generator

    retrievers = retrievers or {}
    t0 = time.perf_counter()
    examples = [env_examples(s, t, env, cfg, retriever=retrievers.get(env), max_steps=m)
                for env, (s, t, m) in data.items()]
    seconds = {"examples": time.perf_counter() - t0}
    t0 = time.perf_counter()
    # one env keeps its examples' order (the per-env model as before); several are interleaved into one SFT set
    train = interleave([e.train for e in examples], cfg.sft.seed) if len(examples) > 1 else examples[0].train
    val = interleave([e.val for e in examples], cfg.sft.seed) if len(examples) > 1 else examples[0].val
    model, tok = make_model(cfg, cache_dir, [*train["prompt"], *train["completion"]])
    sft = train_sft(model, tok, train, val, cfg.sft, scratch_dir, on_log=on_log)
    seconds["sft"] = time.perf_counter() - t0
    n_params = sum(p.numel() for p in model.parameters())
    runs = {}
    for e in examples:
        gen = Generator(model, tok, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.gen_batch_size,
                        max_prompt_tokens=cfg.sft.max_length, temperature=cfg.temperature, seed=cfg.sft.seed)
        xm = ExperienceModel(gen, e.spec, retriever=retrievers.get(e.env), version=version)
        m = measure(xm, e.held, cfg)
        runs[e.env] = ExperienceRun(
            env=e.env, model=model, tokenizer=tok, experience_model=xm, sft=sft, fidelity=m.fidelity,
            open_loop=m.open_loop, table=m.table, n_train=len(e.train), n_val=len(e.val), parameters=n_params,
            eval_split=cfg.eval_split, n_eval=len(e.held), threads=torch.get_num_threads(),
            seconds={k: round(v, 2) for k, v in {**seconds, **m.seconds}.items()})
    return runs
