"""The one generation engine of the project (experience model and policy): batched, KV-cached decoding in our own
loop, with stop strings, behaviour log-probs and teacher-forced scoring.

    gen = Generator(model, tokenizer, max_new_tokens=64, stop_strings=["</next>"], temperature=0.0)
    outs = gen.generate(["prompt one", "prompt two"])       # -> [Generation(text, token_ids, logprobs, ...), ...]
    gen.score(["prompt"] * 2, [" go north", " go south"])  # -> [sum log P(continuation | prompt), ...]

How it works: prompts are tokenized as given (no bos/eos added unless `add_special_tokens=True`), grouped into
batches of `batch_size` (sorted by length to limit padding), left-padded, run once over the prompt (prefill), then
one token per step through `model(input_ids, past_key_values=cache, use_cache=True)`. Position ids follow the
attention mask (`cumsum(mask) - 1`), so a left-padded row sees exactly the positions it would see alone. A row
finishes at an eos token ("eos"; the eos id is kept in `token_ids`/`logprobs` but not in `text`), as soon as its
decoded text contains a stop string ("stop"; `text` ends with that stop string, nothing after it, while
`token_ids` keep the whole last token), or after `max_new_tokens` ("length"). Finished rows are dropped from the
batch and from the KV cache, so they cost nothing afterwards.

Sampling: greedy when `temperature == 0`, else softmax(logits / temperature) with nucleus `top_p`. Each prompt
gets its own torch.Generator seeded from (seed, call number, prompt index), so a sample does not depend on the
batch size or on the other prompts, and a fresh Generator with the same seed replays the same calls
(`generate(..., seed=s)` pins one call instead). `logprobs` are always under the unmodified model distribution
(temperature 1, no top-p): the behaviour log-probs a policy-gradient update needs.

Simplifications: prompts longer than the budget are left-truncated (their last tokens are kept; the budget is
`max_prompt_tokens`, default and cap `max_position_embeddings - max_new_tokens`); `Generation.prompt_truncated`
says so. An empty prompt starts from the bos token. The prefill of a batch is one forward pass (its attention
memory grows with batch_size * prompt_len^2 on CPU: lower batch_size for long prompts). Runs under
torch.inference_mode() with the model in eval mode; the model's training mode is restored afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from dreamgym.errors import DreamGymError

if TYPE_CHECKING:  # annotations only: importing transformers' model code costs seconds
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

FinishReason = Literal["stop", "eos", "length"]


@dataclass
class Generation:
    """One generated continuation.

    `token_ids[i]` has log-prob `logprobs[i]` under the model at temperature 1; `prompt_tokens` counts the prompt
    tokens the model saw (after truncation); `stop` is the stop string that ended it (finish_reason "stop").
    """

    text: str
    token_ids: list[int]
    logprobs: list[float]
    finish_reason: FinishReason
    prompt_tokens: int
    prompt_truncated: bool = False
    stop: str | None = None


@contextlib.contextmanager
def _inference(model: torch.nn.Module) -> Iterator[None]:
    """eval() + inference_mode for the block; the model's training mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def _eos_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> set[int]:
    ids: set[int] = set()
    for value in (tokenizer.eos_token_id, getattr(getattr(model, "generation_config", None), "eos_token_id", None)):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    return ids


class Generator:
    """Batched KV-cached generation and scoring over one (model, tokenizer) pair; see the module docstring."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, max_new_tokens: int = 128,
                 temperature: float = 0.0, top_p: float = 1.0, stop_strings: Sequence[str] = (),
                 batch_size: int = 32, seed: int = 0, max_prompt_tokens: int | None = None,
                 add_special_tokens: bool = False):
        if max_new_tokens < 1:
            raise DreamGymError(f"Generator: max_new_tokens must be >= 1, got {max_new_tokens}")
        if temperature < 0 or not 0 < top_p <= 1:
            raise DreamGymError(f"Generator: need temperature >= 0 and 0 < top_p <= 1, got {temperature}, {top_p}")
        if batch_size < 1:
            raise DreamGymError(f"Generator: batch_size must be >= 1, got {batch_size}")
        if isinstance(stop_strings, str) or any(not s for s in stop_strings):
            raise DreamGymError(f"Generator: stop_strings must be a list of non-empty strings, got {stop_strings!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = int(max_new_tokens)
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.stop_strings = tuple(stop_strings)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.add_special_tokens = bool(add_special_tokens)
        self.max_positions = int(getattr(model.config, "max_position_embeddings", 0) or 1 << 30)
        budget = self.max_positions - self.max_new_tokens
        if budget < 1:
            raise DreamGymError(f"Generator: max_new_tokens={max_new_tokens} leaves no room for a prompt within the "
                                f"model's max_position_embeddings={self.max_positions}")
        if max_prompt_tokens is not None and max_prompt_tokens < 1:
            raise DreamGymError(f"Generator: max_prompt_tokens must be >= 1, got {max_prompt_tokens}")
        self.max_prompt_tokens = min(budget, max_prompt_tokens or budget)
        self.eos_ids = _eos_ids(model, tokenizer)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad is None:
            raise DreamGymError("Generator: the tokenizer has neither a pad nor an eos token; set tokenizer.pad_token")
        self.pad_id = int(pad)
        self._calls = 0

    # ----------------------------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=self.add_special_tokens)["input_ids"]
        return [list(ids) for ids in encoded]

    def _start_token(self) -> int:
        bos = self.tokenizer.bos_token_id
        if bos is None:
            raise DreamGymError("Generator: an empty prompt needs a bos token, and the tokenizer has none")
        return int(bos)

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def _left_pad(self, rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """rows -> input_ids (B, L), attention_mask (B, L), position_ids (B, L); right-aligned (left padding)."""
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            if r:
                ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
                mask[i, width - len(r):] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        dev = self.device
        return ids.to(dev), mask.to(dev), pos.to(dev)

    def _row_rng(self, seed: int, mode: int, call: int, index: int) -> torch.Generator:
        """The sampling RNG of prompt `index` in a call: a pure function of (seed, mode, call, index)."""
        entropy = [seed & (2**64 - 1), mode, call, index]  # SeedSequence wants non-negative ints
        state = np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0]
        return torch.Generator(device=self.device).manual_seed(int(state) & ((1 << 63) - 1))

    def _choose(self, logits: torch.Tensor, rngs: Sequence[torch.Generator | None]) -> torch.Tensor:
        """Next tokens (B,) from logits (B, V): argmax, or a per-row sample from the tempered nucleus."""
        if self.temperature == 0:
            return logits.argmax(-1)
        probs = torch.softmax(logits / self.temperature, dim=-1)
        if self.top_p < 1:
            sorted_p, order = probs.sort(dim=-1, descending=True)
            drop = sorted_p.cumsum(-1) - sorted_p >= self.top_p  # keep the smallest prefix reaching top_p
            sorted_p = sorted_p.masked_fill(drop, 0.0)
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
        return torch.cat([torch.multinomial(probs[j], 1, generator=rngs[j]) for j in range(probs.shape[0])])

    def _find_stop(self, text: str) -> tuple[int, str] | None:
        """(end index, stop string) of the first-completed stop string in `text`, or None."""
        best: tuple[int, str] | None = None
        for s in self.stop_strings:
            i = text.find(s)
            if i >= 0 and (best is None or i + len(s) < best[0]):
                best = (i + len(s), s)
        return best

    # ----------------------------------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[str], *, seed: int | None = None) -> list[Generation]:
        """Generate one continuation per prompt (order kept). `seed` pins this call's sampling; by default the
        Generator's seed and its call counter are used (each call draws new samples, reproducibly)."""
        if isinstance(prompts, str):
            raise DreamGymError("Generator.generate: pass a list of prompts, not a single string")
        if len(prompts) == 0:
            return []
        if seed is None:  # (seed, mode, call): mode 0 = the Generator's call counter, 1 = a pinned call seed
            key = (self.seed, 0, self._calls)
            self._calls += 1
        else:
            key = (int(seed), 1, 0)
        encoded = self._encode(prompts)
        rows, truncated = [], []
        for ids in encoded:
            truncated.append(len(ids) > self.max_prompt_tokens)
            ids = ids[-self.max_prompt_tokens:] if ids else [self._start_token()]
            rows.append(ids)
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
        results: list[Generation | None] = [None] * len(rows)
        with _inference(self.model):
            for start in range(0, len(order), self.batch_size):
                chunk = order[start:start + self.batch_size]
                rngs = [None if self.temperature == 0 else self._row_rng(*key, i) for i in chunk]
                decoded = self._generate_batch([rows[i] for i in chunk], rngs)
                for i, (ids, lps, reason, text, stop) in zip(chunk, decoded, strict=True):
                    results[i] = Generation(text=text, token_ids=ids, logprobs=lps, finish_reason=reason,
                                            prompt_tokens=len(rows[i]), prompt_truncated=truncated[i], stop=stop)
        return results  # type: ignore[return-value]

    def _generate_batch(self, rows: Sequence[list[int]], rngs: Sequence[torch.Generator | None]):
        """Decode one batch; returns per row (token_ids, logprobs, finish_reason, text, stop)."""
        n = len(rows)
        input_ids, mask, pos = self._left_pad(rows)
        out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        logits = out.logits[:, -1, :].float()
        next_pos = pos[:, -1] + 1
        active = list(range(n))  # batch row j -> row index active[j]
        tokens: list[list[int]] = [[] for _ in range(n)]
        logprobs: list[list[float]] = [[] for _ in range(n)]
        done: list[tuple[FinishReason, str, str | None] | None] = [None] * n
        while True:
            chosen = self._choose(logits, [rngs[r] for r in active])
            chosen_lp = torch.log_softmax(logits, dim=-1).gather(-1, chosen[:, None])[:, 0]
            keep: list[int] = []
            for j, (tok, lp) in enumerate(zip(chosen.tolist(), chosen_lp.tolist(), strict=True)):
                r = active[j]
                tokens[r].append(tok)
                logprobs[r].append(lp)
                if tok in self.eos_ids:
                    done[r] = ("eos", self._decode(tokens[r][:-1]), None)
                    continue
                if self.stop_strings:
                    text = self._decode(tokens[r])
                    hit = self._find_stop(text)
                    if hit is not None:
                        done[r] = ("stop", text[:hit[0]], hit[1])
                        continue
                if len(tokens[r]) >= self.max_new_tokens:
                    done[r] = ("length", self._decode(tokens[r]), None)
                    continue
                keep.append(j)
            if not keep:
                break
            if len(keep) < len(active):
                sel = torch.tensor(keep, dtype=torch.long, device=chosen.device)
                cache.batch_select_indices(sel)
                mask, next_pos, chosen = mask[sel], next_pos[sel], chosen[sel]
                active = [active[j] for j in keep]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            out = self.model(input_ids=chosen[:, None], attention_mask=mask, position_ids=next_pos[:, None],
                             past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            logits = out.logits[:, -1, :].float()
            next_pos = next_pos + 1
        return [(tokens[r], logprobs[r], *done[r]) for r in range(n)]  # type: ignore[misc]

    # ----------------------------------------------------------------------------------------------------------
    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[float]:
        """Sum of log P(continuation tokens | prompt) per pair (teacher forcing, temperature 1), batched.

        Prompt and continuation are tokenized separately and concatenated (the boundary a generated continuation
        would have). An empty continuation scores 0.0; an empty prompt starts from bos; prompts are left-truncated
        so that prompt + continuation fit in max_position_embeddings.
        """
        if isinstance(prompts, str) or isinstance(continuations, str):
            raise DreamGymError("Generator.score: pass lists of prompts and continuations, not single strings")
        if len(prompts) != len(continuations):
            raise DreamGymError(f"Generator.score: {len(prompts)} prompts but {len(continuations)} continuations")
        if len(prompts) == 0:
            return []
        conts = self._encode(continuations)
        rows: list[list[int]] = []
        for p, c in zip(self._encode(prompts), conts, strict=True):
            room = self.max_positions - len(c)
            if room < 1:
                raise DreamGymError(f"Generator.score: a continuation of {len(c)} tokens does not fit in "
                                    f"max_position_embeddings={self.max_positions}")
            p = p[-room:] if p else [self._start_token()]
            rows.append(p + c)
        scores = [0.0] * len(rows)
        todo = sorted((i for i in range(len(rows)) if conts[i]), key=lambda i: -len(rows[i]))
        with _inference(self.model):
            for start in range(0, len(todo), self.batch_size):
                chunk = todo[start:start + self.batch_size]
                input_ids, mask, pos = self._left_pad([rows[i] for i in chunk])
                keep = max(len(conts[i]) for i in chunk) + 1
                logits = self.model(input_ids=input_ids, attention_mask=mask, position_ids=pos,
                                    logits_to_keep=keep).logits  # (B, keep, V): positions L-keep .. L-1
                for j, i in enumerate(chunk):
                    k = len(conts[i])
                    lp = torch.log_softmax(logits[j, keep - 1 - k:keep - 1].float(), dim=-1)  # predicts last k tokens
                    target = input_ids[j, -k:]
                    scores[i] = float(lp.gather(-1, target[:, None]).sum())
        return scores
